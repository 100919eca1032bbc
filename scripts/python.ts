/** Finding a Python that has torch and numpy, for the PyTorch package's tests and the PyTorch benchmark peer. */
import { spawnSync } from 'node:child_process';

let found: string | undefined;

/** The first interpreter that imports torch and numpy: $PYTHON, python3, then Debian's own; throws saying what to install. */
export function python(): string {
  if (found) return found;
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
    if (r.status === 0) return (found = c);
  }
  throw new Error(
    `no Python with torch and numpy (tried ${candidates.join(', ')}): install them with ` +
      '`apt-get install -y python3-torch python3-numpy` (Debian), or set PYTHON to an interpreter that has them',
  );
}
