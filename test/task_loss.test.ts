/** shaders/task_loss.wgsl against src/reference/task_loss.ts: masked, weighted binary and regression losses. */
import { describe, expect, it } from 'vitest';
import type { TaskType } from '../src/config.js';
import { taskLossDispatch, type TaskLossEntry } from '../src/kernels/task_loss.js';
import { taskLossReference } from '../src/reference/task_loss.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { checkWrites, contextFor, download, reductionPaths, run, upload } from './gpu.js';

/** [type, fraction of unlabelled samples]; 1 = a task with no label in the batch. */
type TaskShape = [TaskType, number];

/**
 * Labels and masks share one buffer of [rows x (K labels, K masks, pad)]; a masked sample's label is
 * NaN, as are the gaps. Logit blocks sit at padded offsets; entries come in shuffled task order.
 */
function randomCase(rng: Rng, rows: number, tasks: TaskShape[]) {
  const K = tasks.length;
  const weights = Float32Array.from({ length: K + 1 }, (_, k) => (k < K ? rng.range(0.2, 3) : NaN));
  const l0 = rng.int(1, 4);
  const labelRow = 2 * K + rng.int(1, 3);
  const labels = new Float32Array(l0 + rows * labelRow + 2).fill(NaN);
  const logits: number[] = [NaN];
  let dLen = 2;
  const entries: TaskLossEntry[] = [];
  tasks.forEach(([type, unlabelled], task) => {
    const e: TaskLossEntry = {
      type, rows, task,
      logitOff: logits.length,
      labelOff: l0 + task, labelRow,
      maskOff: l0 + K + task, maskRow: labelRow,
      dOff: dLen, outOff: 0,
    };
    for (let r = 0; r < rows; r++) {
      // |z| <= 4: past about 5, f32's sigmoid(z) - 1 keeps only absolute precision (~6e-8), and with
      // one sample per task that single gradient alone would decide the 1e-5 relative comparison.
      logits.push(Math.max(-4, Math.min(4, rng.normal() * 2)));
      const labelled = rng.uniform() >= unlabelled;
      labels[e.maskOff + r * labelRow] = labelled ? 1 : 0;
      if (labelled) labels[e.labelOff + r * labelRow] = type === 'binary' ? rng.int(0, 1) : rng.normal() * 2;
    }
    for (let i = rng.int(1, 3); i > 0; i--) logits.push(NaN);
    dLen += rows + rng.int(1, 3);
    entries.push(e);
  });
  // Shuffle so that the descriptor index z differs from the task index.
  for (let i = entries.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [entries[i], entries[j]] = [entries[j], entries[i]];
  }
  const outOff = rng.int(1, 5);
  for (const e of entries) e.outOff = outOff;
  return { entries, weights, labels, logits: Float32Array.from(logits), dLen, outLen: outOff + 2 * K + 3 };
}

const cases: [string, number, TaskShape[]][] = [
  ['one task, rows 1', 1, [['binary', 0]]],
  ['two tasks, rows 3', 3, [['regression', 0.3], ['binary', 0]]],
  ['four tasks, rows 67, one with no labels', 67, [['binary', 0.3], ['regression', 0.5], ['binary', 1], ['regression', 0]]],
  ['three tasks, rows 130, one with no labels', 130, [['regression', 0.2], ['regression', 1], ['binary', 0.1]]],
  ['two tasks, rows 200', 200, [['binary', 0.6], ['regression', 0.05]]],
];

describe('task_loss', () => {
  // Workgroups of 16 (a software adapter's, src/kernels/shapes.ts) and of 64 (a GPU's).
  for (const path of reductionPaths) for (const [caseLabel, rows, tasks] of cases) for (const wg of [16, 64]) {
    const label = `${path}: ${caseLabel}, workgroups of ${wg}`;
    it(label, async () => {
      const ctx = await contextFor(path);
      const seed = caseSeed(label);
      const c = randomCase(new Rng(seed), rows, tasks);
      const bufs = {
        weights: upload(ctx, c.weights),
        logits: upload(ctx, c.logits),
        labels: upload(ctx, c.labels),
        dLogits: upload(ctx, new Float32Array(c.dLen).fill(NaN)),
        out: upload(ctx, new Float32Array(c.outLen).fill(NaN)),
      };
      await run(ctx, [await taskLossDispatch(ctx, 'test', c.entries, bufs, path, wg)]);
      const gotD = await download(ctx, bufs.dLogits, c.dLen);
      const gotOut = await download(ctx, bufs.out, c.outLen);
      const wantD = new Float64Array(c.dLen);
      const wantOut = new Float64Array(c.outLen);
      taskLossReference(c.entries, c.weights, c.logits, c.labels, wantD, wantOut);

      const dSet = new Set<number>();
      const outSet = new Set<number>();
      for (const e of c.entries) {
        for (let r = 0; r < e.rows; r++) dSet.add(e.dOff + r);
        outSet.add(e.outOff + 2 * e.task).add(e.outOff + 2 * e.task + 1);
      }
      checkWrites(`${label} dLogits`, gotD, dSet);
      checkWrites(`${label} out`, gotOut, outSet);
      const dIdx = [...dSet];
      expectClose(`${label} dLogits`, seed, dIdx.map((i) => gotD[i]), dIdx.map((i) => wantD[i]), 1e-5);
      // Each task's loss on its own: beside the counts (up to the rows), a loss's error would be lost in the vector's norm.
      for (const e of c.entries) {
        const at = e.outOff + 2 * e.task;
        expectClose(`${label} task ${e.task} loss`, seed, [gotOut[at]], [wantOut[at]], 1e-5);
      }
      for (const e of c.entries) {
        // Counts are exact, unlabelled samples get exactly 0, and a task without labels has loss 0.
        const count = gotOut[e.outOff + 2 * e.task + 1];
        expect(count, `${label} task ${e.task} count (seed ${seed})`).toBe(wantOut[e.outOff + 2 * e.task + 1]);
        for (let r = 0; r < e.rows; r++) if (c.labels[e.maskOff + r * e.maskRow] === 0) expect(Math.abs(gotD[e.dOff + r])).toBe(0);
        if (tasks[e.task][1] === 1) {
          expect(count).toBe(0);
          expect(gotOut[e.outOff + 2 * e.task]).toBe(0);
        }
      }
    });
  }
});
