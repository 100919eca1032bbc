/**
 * Running the PyTorch side (python/ple_webgpu_torch) from tests. Python with torch and numpy is required,
 * not optional: without it the tests fail with a message saying what to install (scripts/python.ts).
 */
import { spawnSync } from 'node:child_process';
import { python } from '../scripts/python.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/** Runs `python3 -m ple_webgpu_torch.<module> args` with the package on the path; throws with its stderr on failure. */
export function runModule(module: string, args: string[], timeoutMs = 600_000): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(python(), ['-m', `ple_webgpu_torch.${module}`, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: join(root, 'python') },
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

export function runModuleOk(module: string, args: string[], timeoutMs?: number): string {
  const r = runModule(module, args, timeoutMs);
  if (r.status !== 0) throw new Error(`python3 -m ple_webgpu_torch.${module} ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** What ple_webgpu_torch.replay returns for a CSV to predict on: its encoding (flat, row-major; a missing label null) and the predictions [rows x tasks]. */
export interface Encoded {
  x: number[];
  categorical: number[];
  labels: (number | null)[];
  mask: number[];
  predictions: number[];
}

/** Sends requests to ple_webgpu_torch.replay and returns its results. */
export function replay<T>(requests: unknown[]): T[] {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'request.json'), JSON.stringify(requests));
    runModuleOk('replay', [join(dir, 'request.json'), join(dir, 'result.json')]);
    return JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as T[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'ple-torch-'));
}

