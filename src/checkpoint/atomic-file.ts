/** Crash-safe file writes for checkpoints (Node only). */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Write `bytes` to `path` so that a crash leaves either the old file or the complete new one: the data goes
 * to `<path>.tmp-<pid>-<random>` in the same directory, is fsynced, then renamed over the target. On any
 * failure the temporary file is removed and the error rethrown.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const file = await open(tmp, 'wx');
    try {
      await file.writeFile(bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  // Make the rename itself durable; directories cannot be opened for fsync on every platform (Windows).
  try {
    const dir = await open(dirname(path), 'r');
    await dir.sync().finally(() => dir.close());
  } catch {
    /* best effort */
  }
}

/** Read a whole file as a plain Uint8Array (not a Buffer, whose slice() is a view rather than a copy). */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  const buf = await readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
