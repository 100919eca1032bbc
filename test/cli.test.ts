/** The main job end to end, as `npm start` runs it, on tiny sizes; and its usage errors. */
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { runCli } from './cli-run.js';
import { testContext } from './gpu.js';
import { isSoftwareAdapter } from '../src/gpu/context.js';

const run = runCli;

describe('npm start', () => {
  it('trains on the synthetic default, prints a table, writes metrics and a checkpoint', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ple-cli-'));
    const r = await run(['--epochs', '2', '--train-rows', '256', '--eval-rows', '128', '--batch-size', '64', '--input-dim', '8', '--expert-widths', '8', '--tower-widths', '4', '--out', out, '--quiet', '--device', 'gpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^device: +webgpu, /m);
    // --tuning tune (the default): the line says whether the per-GEMM variants or one variant for all won, with both rates.
    // A variant as tuningKey names it: tile / workgroup, then " shared" and " subgroupN" where they apply.
    const variant = String.raw`\d+x\d+(v\d+)?\/\d+x\d+( shared)?( subgroup\d+)?`;
    const set = String.raw`the fastest variant per GEMM \(${variant}(, ${variant})*\)`;
    const single = String.raw`${variant} for every GEMM`;
    const rate = String.raw`\d+\.\d\d GFLOP\/s`;
    expect(r.stdout).toMatch(
      new RegExp(
        String.raw`^gemm: +(${set}: ${rate} over the step's GEMMs, against ${rate} with ${single} \(the best single variant\)|` +
          String.raw`${single} \(the best single variant\): ${rate} over the step's GEMMs, against ${rate} with ${set});`,
        'm',
      ),
    );
    expect(r.stdout).toMatch(/task1 MSE/);
    expect(r.stdout).toMatch(/^\s+2\s/m);
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.epochs).toHaveLength(2);
    expect(metrics.test.tasks.task1.mse).toBeGreaterThan(0);
    expect(metrics.epochs[1].validation.gates.length).toBe(5);
    expect(metrics.device.kind).toBe('webgpu');
    const ckpt = readCheckpoint(new Uint8Array(await readFile(join(out, 'checkpoint.safetensors'))));
    expect(ckpt.step).toBe(8);
    expect(ckpt.training).toMatchObject({ epoch: 2 });

    // Resume for one more epoch from the checkpoint, on the CPU device on 2 threads: a checkpoint moves between devices.
    const r2 = await run(['--epochs', '3', '--train-rows', '256', '--eval-rows', '128', '--batch-size', '64', '--input-dim', '8', '--expert-widths', '8', '--tower-widths', '4', '--out', out, '--quiet', '--device', 'cpu', '--threads', '2', '--resume', join(out, 'checkpoint.safetensors')]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/^device: +cpu, WebAssembly SIMD, 2 threads \(as asked; \d+ cores?\)$/m);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).device).toEqual({ kind: 'cpu', threads: 2 });
    expect(r2.stdout).toMatch(/^gemm: +WebAssembly SIMD/m);
    const resumed = readCheckpoint(new Uint8Array(await readFile(join(out, 'checkpoint.safetensors'))));
    expect(resumed.step).toBe(12);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3]);

    // A run that blows up stops with the step and the task, and leaves the last good checkpoint as it was.
    const good = await readFile(join(out, 'checkpoint.safetensors'));
    const r3 = await run(['--epochs', '6', '--train-rows', '256', '--eval-rows', '128', '--batch-size', '64', '--input-dim', '8', '--expert-widths', '8', '--tower-widths', '4', '--out', out, '--quiet', '--resume', join(out, 'checkpoint.safetensors'), '--lr', '1e6']);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/error: training stopped at step \d+: the (loss of task "task\d"|gradient norm|loss) is not finite/);
    expect((await readFile(join(out, 'checkpoint.safetensors'))).equals(good)).toBe(true);
  });

  it('trains on a CSV file with embeddings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ple-cli-csv-'));
    const lines = ['age,city,clicked,spend'];
    // click: age above 45, a rule one numeric input decides, so a few epochs learn it.
    for (let i = 0; i < 200; i++) lines.push(`${20 + (i % 50)},${['a', 'b', 'c', '?'][i % 4]},${20 + (i % 50) > 45 ? 'yes' : 'no'},${i % 7 === 0 ? '' : (i % 13) * 1.5}`);
    await writeFile(join(dir, 'train.csv'), lines.join('\n') + '\n');
    const r = await run([
      '--data', 'csv', '--train', join(dir, 'train.csv'), '--label', 'click=clicked:binary:yes', '--label', 'spend=spend:regression',
      '--numeric', 'age', '--categorical', 'city', '--categorical-encoding', 'embedding', '--epochs', '6', '--lr', '0.05', '--batch-size', '32',
      '--expert-widths', '4', '--tower-widths', '2', '--out', dir, '--quiet',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const metrics = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8'));
    expect(metrics.model.embeddings).toEqual([{ name: 'city', vocabulary: 4, dim: expect.any(Number) }]);
    // 200 rows split 70/10/20: 40 test rows, all with a click label; spend is missing on every 7th row.
    expect(metrics.test.tasks.click.count).toBe(40);
    expect(metrics.test.tasks.spend.count).toBeLessThan(40);
    expect(metrics.test.tasks.click.auc).toBeGreaterThan(0.9);
    // The regression target trained standardised; the scaling and the family options are in the checkpoint.
    const training = readCheckpoint(new Uint8Array(await readFile(join(dir, 'checkpoint.safetensors')))).training!;
    expect(training.targets!.tasks.map((t) => t.name)).toEqual(['spend']);
    expect(training.targets!.tasks[0].mean).toBeGreaterThan(5);
    expect(training.targets!.tasks[0].std).toBeGreaterThan(3);
    expect(metrics.targets).toEqual(training.targets);
    expect(training.model).toEqual({ family: 'ple', levels: 2, taskExperts: 2, sharedExperts: 2, expertWidths: [4], towerWidths: [2], gateBias: false, uncertaintyWeighting: false });
  });

  it('an interrupted CSV run resumes to bit-identical parameters, and refuses flags that contradict its checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ple-cli-resume-'));
    const common = [
      '--data', 'csv', '--preset', 'adult', '--train', 'test/fixtures/adult.data.csv', '--validation', '0.15', '--seed', '3',
      '--model', 'ple', '--levels', '1', '--task-experts', '1', '--shared-experts', '1', '--expert-widths', '4', '--tower-widths', '2',
      '--batch-size', '256', '--optimizer', 'adamw', '--weight-decay', '0.01', '--lr', '0.01', '--warmup', '2', '--clip', '5', '--task-gamma', '0.9,1.1',
      '--early-stopping', 'income.auc', '--patience', '3', '--tuning', 'adapter', '--quiet',
    ];
    const ckptOf = async (folder: string) => readCheckpoint(new Uint8Array(await readFile(join(folder, 'checkpoint.safetensors'))));
    const straight = await run([...common, '--epochs', '3', '--out', join(dir, 'straight')]);
    expect(straight.code, straight.stderr).toBe(0);
    const first = await run([...common, '--epochs', '1', '--out', join(dir, 'resumed')]);
    expect(first.code, first.stderr).toBe(0);
    const saved = join(dir, 'resumed', 'checkpoint.safetensors');
    const afterOne = await readFile(saved);

    // Flags that contradict the checkpoint are errors naming both values, and leave it as it was.
    for (const [flag, value, stored] of [['--seed', '7', '"3"'], ['--validation', '0.3', '"0.15"'], ['--optimizer', 'sgd', '"adamw"'], ['--levels', '2', '"1"']]) {
      const r = await run(['--resume', saved, '--epochs', '3', '--out', join(dir, 'resumed'), flag, value]);
      expect(r.code, `${flag} ${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`${flag} "${value}" contradicts the checkpoint ${saved}, whose run had ${flag} ${stored}`);
    }
    expect((await readFile(saved)).equals(afterOne)).toBe(true);

    // Resumed to 3 epochs in all with no other settings (they come from the checkpoint) or the same ones spelled
    // differently: bit-identical to the uninterrupted run, optimizer moments and early stopping included. (The
    // constant schedule does not depend on the total; a decaying one spans the total --epochs gives.)
    const resumed = await run(['--resume', saved, '--epochs', '3', '--seed', '3.0', '--out', join(dir, 'resumed'), '--quiet', '--tuning', 'adapter']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const [a, b] = [await ckptOf(join(dir, 'straight')), await ckptOf(join(dir, 'resumed'))];
    expect(b.step).toBe(a.step);
    expect(b.params).toEqual(a.params);
    expect(b.m1).toEqual(a.m1);
    expect(b.m2).toEqual(a.m2);
    expect(b.best).toEqual(a.best);
    expect(b.optimizer).toEqual(a.optimizer);
    expect(b.data).toEqual(a.data);
    expect(b.training?.earlyStopping).toEqual(a.training?.earlyStopping);
    expect(b.training?.history.map((h) => h.train.loss)).toEqual(a.training?.history.map((h) => h.train.loss));
    expect(a.data?.kind === 'csv' && a.data.encoder?.categorical.map((c) => c.column)).toContain('relationship');

    // --lr may change on resume: a new base learning rate, recorded in the next checkpoint.
    const lr = await run(['--resume', saved, '--epochs', '4', '--lr', '0.002', '--out', join(dir, 'resumed'), '--quiet', '--tuning', 'adapter']);
    expect(lr.code, lr.stderr).toBe(0);
    const c = await ckptOf(join(dir, 'resumed'));
    expect(c.optimizer).toEqual({ ...a.optimizer, lr: 0.002 });
    expect(c.training?.epoch).toBe(4);
  }, 600_000);

  it('drops input columns with --drop-columns, and names a column it cannot drop', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ple-cli-drop-'));
    const common = ['--data', 'csv', '--preset', 'adult', '--train', 'test/fixtures/adult.data.csv', '--epochs', '1', '--batch-size', '256', '--expert-widths', '4', '--tower-widths', '2', '--tuning', 'adapter', '--quiet', '--out', dir];
    const r = await run([...common, '--drop-columns', 'relationship,fnlwgt']);
    expect(r.code, r.stderr).toBe(0);
    const ckpt = readCheckpoint(new Uint8Array(await readFile(join(dir, 'checkpoint.safetensors'))));
    const encoder = ckpt.data?.kind === 'csv' ? ckpt.data.encoder : undefined;
    expect(encoder?.categorical.map((c) => c.column)).toEqual(['workclass', 'education', 'occupation', 'race', 'sex', 'native-country']);
    expect(encoder?.numeric.map((c) => c.column)).toEqual(['age', 'education-num', 'capital-gain', 'capital-loss', 'hours-per-week']);
    const label = await run([...common, '--drop-columns', 'marital-status']);
    expect(label.code).toBe(2);
    expect(label.stderr).toMatch(/--drop-columns marital-status: "marital-status" is a label column, not an input/);
    const unknown = await run([...common, '--drop-columns', 'zip']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--drop-columns zip: "zip" is not an input column; the inputs are age, fnlwgt/);
  });

  it('rejects bad flags with a message naming the flag', async () => {
    const r = await run(['--epochs', 'many']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--epochs must be an integer >= 1, got "many"/);
    const r2 = await run(['--model', 'transformer']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--model must be ple, cgc, mmoe, shared-bottom or single-task/);
    const r3 = await run(['--device', 'tpu']);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--device must be auto, gpu or cpu, got "tpu"/);
    for (const bad of ['0', '17', '1.5', 'all']) {
      const r = await run(['--device', 'cpu', '--threads', bad]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(new RegExp(`--threads must be a whole number from 1 to 16, got "${bad}"`))]);
    }
    const gpuThreads = await run(['--device', 'gpu', '--threads', '2']);
    expect([gpuThreads.code, gpuThreads.stderr]).toEqual([2, expect.stringMatching(/--threads sets the CPU device's threads; --device gpu trains on WebGPU/)]);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--correlation P/);
  });

  it('--device auto (the default) trains on the CPU device exactly where the WebGPU adapter is a software one', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ple-cli-auto-'));
    const r = await run(['--epochs', '1', '--train-rows', '128', '--eval-rows', '64', '--batch-size', '64', '--input-dim', '4', '--expert-widths', '4', '--tower-widths', '2', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const software = isSoftwareAdapter((await testContext()).adapter);
    if (software) expect(r.stdout).toMatch(/^device: +cpu, WebAssembly SIMD, \d+ threads? \(\d+ cores?\) \(the only WebGPU adapter, .+, is a software one; --device gpu trains on it\)$/m);
    else expect(r.stdout).toMatch(/^device: +webgpu, /m);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')).device.kind).toBe(software ? 'cpu' : 'webgpu');
  });
});
