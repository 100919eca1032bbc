/**
 * `npm start -- --resume` of streamed runs (--data file on Parquet with hashed columns, --data clicklog):
 * an interrupted run resumed to the same total ends with bit-identical parameters to one that was never
 * interrupted, and a resumed run encodes with the encoder its checkpoint stored, never one fitted again.
 */
import { describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, type Checkpoint } from '../src/checkpoint/checkpoint.js';
import { openRowSource } from '../src/data/files.js';
import { streamDataset } from '../src/data/stream.js';
import { withDataFlags } from '../src/cli/data-files.js';
import { parseFlags } from '../src/cli/args.js';
import { caseSeed } from './helpers.js';
import { runCli } from './cli-run.js';
import { writeLog } from './streamed-log.js';

const ckptOf = async (folder: string) => readCheckpoint(new Uint8Array(await readFile(join(folder, 'checkpoint.safetensors'))));

/** Everything a resumed run must reproduce of the uninterrupted one. */
function expectSameRun(b: Checkpoint, a: Checkpoint, label: string) {
  expect(b.step, label).toBe(a.step);
  expect(b.params, label).toEqual(a.params);
  expect(b.m1, label).toEqual(a.m1);
  expect(b.m2, label).toEqual(a.m2);
  expect(b.optimizer, label).toEqual(a.optimizer);
  expect(b.data && 'encoder' in b.data && b.data.encoder, label).toEqual(a.data && 'encoder' in a.data && a.data.encoder);
  // Every epoch's losses, metrics and gate statistics; not how long it took.
  const reports = (c: Checkpoint) => JSON.parse(JSON.stringify(c.training?.history, (key, value) => (key === 'seconds' ? undefined : value)));
  expect(reports(b), label).toEqual(reports(a));
}

/** The model and training flags both tests share: tiny, several steps per epoch, every resumable state in use. */
const training = [
  '--model', 'ple', '--levels', '1', '--task-experts', '1', '--shared-experts', '1', '--expert-widths', '4', '--tower-widths', '2',
  '--batch-size', '64', '--optimizer', 'adamw', '--weight-decay', '0.01', '--lr', '0.01', '--warmup', '2', '--task-gamma', '0.9,1.1',
  '--validation', '0.15', '--seed', '3', '--shuffle-buffer', '100', '--tuning', 'adapter', '--quiet',
];

/** Trains `flags` for 3 epochs straight, and for 1 then resumed to 3; returns both checkpoints and the 1-epoch one's copy. */
async function interrupted(dir: string, flags: string[]) {
  const straight = await runCli([...flags, '--epochs', '3', '--out', join(dir, 'straight')]);
  expect(straight.code, straight.stderr).toBe(0);
  const first = await runCli([...flags, '--epochs', '1', '--out', join(dir, 'resumed')]);
  expect(first.code, first.stderr).toBe(0);
  const afterOne = join(dir, 'after-one.safetensors');
  await copyFile(join(dir, 'resumed', 'checkpoint.safetensors'), afterOne);
  const resumed = await runCli(['--resume', afterOne, '--epochs', '3', '--out', join(dir, 'resumed'), '--quiet', '--tuning', 'adapter']);
  expect(resumed.code, resumed.stderr).toBe(0);
  return { straight: await ckptOf(join(dir, 'straight')), resumed: await ckptOf(join(dir, 'resumed')), afterOne };
}

const N = 600;

const fileFlags = (train: string) => [
  '--data', 'file', '--train', train, '--label', 'click=click:threshold:0.5', '--label', 'buy=buy:threshold:0.5',
  '--numeric', 'f0,f1', '--categorical', 'city', '--min-count', '2', '--hash', 'user_id:64', '--hash', 'item_id:32',
];

describe('npm start -- --resume of streamed runs', () => {
  it('a Parquet run with hashed columns resumes to bit-identical parameters, and keeps its encoder on another file', async () => {
    const seed = caseSeed('resume parquet');
    const dir = await mkdtemp(join(tmpdir(), 'ple-resume-parquet-'));
    const [fileA, fileB] = [join(dir, 'a.parquet'), join(dir, 'b.parquet')];
    writeLog(fileA, N, seed, false);
    writeLog(fileB, N, seed, true);
    const where = `seed ${seed}`;

    const { straight, resumed, afterOne } = await interrupted(dir, [...fileFlags(fileA), ...training]);
    expectSameRun(resumed, straight, where);
    const stored = straight.data && 'encoder' in straight.data ? straight.data.encoder! : undefined;
    expect(stored?.categorical.map((c) => [c.column, c.hashBuckets, c.vocabulary.length]), where).toEqual([['city', undefined, 3], ['user_id', 64, 0], ['item_id', 32, 0]]);

    // File B differs from A only where A held values seen once: a fit on B keeps B's values (they are seen
    // twice), so it would give another encoder and a wider model input...
    const schema = withDataFlags({ labels: [{ column: 'click', type: 'binary', threshold: 0.5 }, { column: 'buy', type: 'binary', threshold: 0.5 }], numeric: [{ column: 'f0' }, { column: 'f1' }], categorical: [{ column: 'city' }] }, parseFlags([...fileFlags(fileB), ...training]));
    const refit = await streamDataset({ schema, train: await openRowSource(fileB), validationFraction: 0.15, seed: 3 });
    expect(refit.encoder.toJSON().categorical[0].vocabulary.length, where).toBeGreaterThan(3);
    expect(refit.dataset.inputDim).toBeGreaterThan(straight.config.inputDim);
    // ...but the stored encoder maps them to the unknown row, as it did A's rare values: resumed on B, the
    // run encodes B's rows exactly as A's and so ends exactly as the uninterrupted run on A.
    const onB = await runCli(['--resume', afterOne, '--train', fileB, '--epochs', '3', '--out', join(dir, 'on-b'), '--quiet', '--tuning', 'adapter']);
    expect(onB.code, onB.stderr).toBe(0);
    expectSameRun(await ckptOf(join(dir, 'on-b')), straight, `${where}, resumed on another file`);
  }, 600_000);

  it('a click-log run resumes to bit-identical parameters', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ple-resume-clicklog-'));
    const flags = ['--data', 'clicklog', '--rows', String(N), '--hash', 'user_id:64', '--hash', 'item_id:32', '--negative-if-missing', 'conversion', ...training];
    const { straight, resumed } = await interrupted(dir, flags);
    expectSameRun(resumed, straight, 'clicklog');
    const stored = straight.data && 'encoder' in straight.data ? straight.data.encoder! : undefined;
    expect(stored?.tasks.find((t) => t.name === 'conversion')?.missingAs).toBe(0);
    expect(stored?.categorical.map((c) => c.hashBuckets)).toEqual([64, 32]);
  }, 600_000);
});
