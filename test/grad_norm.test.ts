/** shaders/grad_norm.wgsl (partial sums, then their total) against src/reference/grad_norm.ts. */
import { describe, expect, it } from 'vitest';
import { gradNormDispatches, gradNormOutBytes, gradNormUniform } from '../src/kernels/grad_norm.js';
import { gradNormReference } from '../src/reference/grad_norm.js';
import { Rng } from '../src/rng.js';
import { caseSeed, expectClose } from './helpers.js';
import { contextFor, download, reductionPaths, run, upload } from './gpu.js';

describe('grad_norm', () => {
  const cases: [number, (norm: number) => number][] = [
    [1, () => 0],
    [1000, (norm) => norm * 2],
    [70_001, (norm) => norm / 3],
  ];
  // Workgroup size and partial sums: the software adapters' and the GPUs' (src/kernels/shapes.ts), one
  // partial sum, and 7, more workgroups than 1000 gradients fill.
  const shapes = [{ wg: 16, parts: 4 }, { wg: 256, parts: 64 }, { wg: 16, parts: 1 }, { wg: 16, parts: 7 }];
  for (const path of reductionPaths) for (const [count, maxNormOf] of cases) for (const shape of shapes) {
    it(`${path}: ${count} gradients, ${shape.parts} partial sums of workgroups of ${shape.wg}`, async () => {
      const ctx = await contextFor(path);
      const seed = caseSeed(`grad_norm ${count}`);
      const rng = new Rng(seed);
      const grads = Float32Array.from({ length: count }, () => rng.normal() * 0.1);
      const maxNorm = maxNormOf(gradNormReference(grads, 0).norm);
      const want = gradNormReference(grads, maxNorm);
      const uniform = ctx.createBuffer('clip uniform', 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      ctx.device.queue.writeBuffer(uniform, 0, gradNormUniform(count, maxNorm));
      const out = upload(ctx, new Float32Array(gradNormOutBytes(shape.parts) / 4).fill(NaN));
      await run(ctx, await gradNormDispatches(ctx, { uniform, grads: upload(ctx, grads), out }, path, shape));
      const [scale, norm] = await download(ctx, out, 2);
      expectClose('norm', seed, [norm], [want.norm], 1e-5);
      expectClose('scale', seed, [scale], [want.scale], 1e-5);
      if (maxNorm === 0 || maxNorm > want.norm) expect(scale).toBe(1);
      else expect(scale).toBeLessThan(1);
    });
  }
});
