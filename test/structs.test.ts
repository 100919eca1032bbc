/**
 * src/kernels/struct.ts: every struct in shaders/ has one TS declaration, member for member
 * (names, types, order, padding), every `const FLAG_*` line matches the flags the host packs,
 * and packing goes by field name.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GEMM_DESCRIPTOR, GEMM_FLAGS } from '../src/kernels/batched_gemm.js';
import { BIAS_ACT_DESCRIPTOR, BIAS_ACT_FLAGS } from '../src/kernels/bias_act_backward.js';
import { GATE_DESCRIPTOR, GATE_FLAGS } from '../src/kernels/gate_softmax.js';
import { EXPERT_GRAD_DESCRIPTOR, MIXTURE_DESCRIPTOR } from '../src/kernels/mixture.js';
import { TASK_LOSS_DESCRIPTOR } from '../src/kernels/task_loss.js';
import { GATHER_DESCRIPTOR, SCATTER_DESCRIPTOR } from '../src/kernels/embedding.js';
import { UNCERTAINTY_DESCRIPTOR } from '../src/kernels/uncertainty.js';
import { CLIP_UNIFORM } from '../src/kernels/grad_norm.js';
import { OPTIMIZER_UNIFORM, optimizerUniform } from '../src/kernels/optimizer.js';
import { resolveOptimizer } from '../src/config.js';
import { struct, type StructDecl } from '../src/kernels/struct.js';

const shaders = fileURLToPath(new URL('../shaders/', import.meta.url));
const sources = Object.fromEntries(readdirSync(shaders).filter((f) => f.endsWith('.wgsl')).map((f) => [f, readFileSync(shaders + f, 'utf8')]));

/** Every `struct Name { a: u32, ... }` of a WGSL source, members in order. */
function parseStructs(source: string): Map<string, { name: string; type: string }[]> {
  const out = new Map<string, { name: string; type: string }[]>();
  for (const m of source.matchAll(/struct (\w+) \{([^}]*)\}/g)) {
    const members = m[2].split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
      const [name, type] = s.split(':').map((x) => x.trim());
      return { name, type };
    });
    out.set(m[1], members);
  }
  return out;
}

/** Every `const FLAG_X: u32 = Nu;` of a WGSL source. */
const parseFlags = (source: string) => Object.fromEntries([...source.matchAll(/^const (FLAG_\w+): u32 = (\d+)u;$/gm)].map((m) => [m[1], Number(m[2])]));

// The shader files each declaration belongs to (the mixture header serves two kernels).
const declared: [StructDecl<string>, string][] = [
  [GEMM_DESCRIPTOR, 'batched_gemm.wgsl'],
  [BIAS_ACT_DESCRIPTOR, 'bias_act_backward.wgsl'],
  [GATE_DESCRIPTOR, 'gate_softmax_common.wgsl'],
  [MIXTURE_DESCRIPTOR, 'mixture_common.wgsl'],
  [EXPERT_GRAD_DESCRIPTOR, 'mixture_expert_grad.wgsl'],
  [TASK_LOSS_DESCRIPTOR, 'task_loss.wgsl'],
  [GATHER_DESCRIPTOR, 'embedding_gather.wgsl'],
  [SCATTER_DESCRIPTOR, 'embedding_backward.wgsl'],
  [UNCERTAINTY_DESCRIPTOR, 'uncertainty.wgsl'],
  [CLIP_UNIFORM, 'grad_norm.wgsl'],
  [OPTIMIZER_UNIFORM, 'optimizer.wgsl'],
];
const flagged: [Record<string, number>, string][] = [
  [GEMM_FLAGS, 'batched_gemm.wgsl'],
  [BIAS_ACT_FLAGS, 'bias_act_backward.wgsl'],
  [GATE_FLAGS, 'gate_softmax_common.wgsl'],
];

describe('WGSL structs and their TS declarations', () => {
  for (const [decl, file] of declared) {
    it(`${decl.name} in shaders/${file}`, () => {
      const found = parseStructs(sources[file]).get(decl.name);
      expect(found, `shaders/${file} has no struct ${decl.name}`).toBeDefined();
      expect(found).toEqual(decl.members.map(({ name, type }) => ({ name, type })));
      // The generated text parses back to the same members, and the stride is a whole number of 16-byte rows.
      expect(parseStructs(decl.wgsl).get(decl.name)).toEqual(found);
      expect(decl.stride % 4).toBe(0);
      expect(decl.stride).toBe(found!.length);
    });
  }

  it('every struct in shaders/ is declared once, in its file', () => {
    // Lanes (lanes_plain.wgsl, lanes_subgroup.wgsl) holds an entry point's builtins, no host data.
    const inShaders = Object.entries(sources).flatMap(([file, src]) => [...parseStructs(src).keys()].filter((name) => name !== 'Lanes').map((name) => `${file}:${name}`));
    expect(inShaders.sort()).toEqual(declared.map(([d, file]) => `${file}:${d.name}`).sort());
  });

  it('FLAG_* constants: the shaders use the values the host packs, and only shaders with declared flags have any', () => {
    for (const [flags, file] of flagged) expect(parseFlags(sources[file]), file).toEqual(flags);
    const withFlags = Object.entries(sources).filter(([, src]) => Object.keys(parseFlags(src)).length > 0).map(([f]) => f);
    expect(withFlags.sort()).toEqual(flagged.map(([, f]) => f).sort());
  });

  it('packs by field name, u32 and f32 alike, and refuses a value its type cannot hold', () => {
    const s = struct('S', { a: 'u32', x: 'f32', b: 'u32' });
    expect(s.members.map((m) => m.name)).toEqual(['a', 'x', 'b', 'pad0']);
    const t = s.pack([{ b: 7, x: 0.5, a: 3 }, { a: 1, x: -2, b: 0 }]);
    expect(Array.from(t.slice(0, 3))).toEqual([3, new Uint32Array(Float32Array.of(0.5).buffer)[0], 7]);
    expect(new Float32Array(t.buffer)[5]).toBe(-2);
    expect(() => s.pack([{ a: -1, x: 0, b: 0 }])).toThrow(/descriptor 0: S\.a must be a u32, got -1/);
    expect(() => s.pack([{ a: 1.5, x: 0, b: 0 }])).toThrow(/S\.a must be a u32/);

    // The optimizer uniform: each value lands in the member of its name.
    const o = resolveOptimizer({ kind: 'adamw', lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 });
    const data = optimizerUniform(o, 3, 0.005, 0.5, 1234);
    const u = new Uint32Array(data);
    const f = new Float32Array(data);
    const at = (name: string) => OPTIMIZER_UNIFORM.members.findIndex((m) => m.name === name);
    expect([u[at('kind')], u[at('count')]]).toEqual([2, 1234]);
    const want: Record<string, number> = {
      lr: 0.005, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1, bc1: 1 - 0.8 ** 3, bc2: 1 - 0.99 ** 3, momentum: 0, gradScale: 0.5, omb1: 1 - 0.8, omb2: 1 - 0.99,
    };
    for (const [name, v] of Object.entries(want)) expect(f[at(name)], name).toBe(Math.fround(v));
  });
});
