/**
 * The PyTorch peer of the benchmark: bench/pytorch_step.py times the same bench-small step (forward, loss,
 * backward, Adam) in native PyTorch on this machine's CPU, from the runtime's own initial parameters (seed 1,
 * written as a checkpoint) and batch, so its step-1 loss is comparable with the runtime's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initParams } from '../src/init.js';
import { resolveOptimizer } from '../src/config.js';
import { CHECKPOINT_FORMAT } from '../src/checkpoint/checkpoint.js';
import { encodeSafetensors, type NamedTensor } from '../src/checkpoint/safetensors.js';
import { python } from '../scripts/python.js';
import { benchBatch, buildBenchSpec, type BenchConfig, type StepTiming } from './common.js';
import { repoRoot } from './results.js';

/**
 * `threads`: torch's intra-op threads (default: every CPU, torch's own default on this machine). The
 * timing's system is `pytorch-cpu` with the thread count beside it, so runs at several counts share a table.
 */
export function timePytorch(c: BenchConfig, o: { warmup: number; steps: number; lossStep?: number; threads?: number }): StepTiming {
  const spec = buildBenchSpec(c);
  const params = initParams(spec, 1);
  const tensors: NamedTensor[] = [];
  for (const prefix of ['', 'optimizer.m1.', 'optimizer.m2.']) {
    for (const p of spec.params) tensors.push({ name: prefix + p.name, shape: p.shape, data: prefix ? new Float32Array(p.size) : params.get(p.name)! });
  }
  const metadata = { format: CHECKPOINT_FORMAT, config: JSON.stringify(spec.config), optimizer: JSON.stringify(resolveOptimizer({ kind: 'adam', lr: 1e-3 })), step: '0' };
  const batch = benchBatch(c);
  const dir = mkdtempSync(join(tmpdir(), 'ple-bench-'));
  try {
    writeFileSync(join(dir, 'start.safetensors'), encodeSafetensors(tensors, metadata));
    writeFileSync(join(dir, 'batch.json'), JSON.stringify({ rows: batch.rows, x: Array.from(batch.x), labels: Array.from(batch.labels) }));
    const args = ['bench/pytorch_step.py', '--checkpoint', join(dir, 'start.safetensors'), '--batch', join(dir, 'batch.json'), '--warmup', String(o.warmup), '--steps', String(o.steps), '--loss-step', String(o.lossStep ?? 0), ...(o.threads ? ['--threads', String(o.threads)] : [])];
    const r = spawnSync(python(), args, { cwd: repoRoot, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`python3 ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    const timing = JSON.parse(r.stdout) as StepTiming & { threads: number };
    return { ...timing, system: `pytorch-cpu (${timing.threads} thread${timing.threads === 1 ? '' : 's'})`, config: c.name };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
