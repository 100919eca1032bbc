/** Running `npm start` (src/cli/bin.ts) in its own process from tests, as a user runs it. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** The CLI's exit code, stdout and stderr; a failing run resolves too (its code is not 0). */
export const runCli = (args: string[]) =>
  promisify(execFile)('node', ['--import', 'tsx', '--import', './scripts/register-raw.mjs', 'src/cli/bin.ts', ...args], { cwd: process.cwd() }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
