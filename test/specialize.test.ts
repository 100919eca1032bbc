/** The WGSL template step: constant and type specialisation and loop unrolling. */
import { describe, expect, it } from 'vitest';
import { specialize, specializeTypes, unroll } from '../src/gpu/specialize.js';

describe('specialize', () => {
  it('rewrites const lines and refuses unknown names and bad values', () => {
    const src = 'const TILE_M: u32 = 4u;\nconst WG: u32 = 64u;\n';
    expect(specialize(src, { TILE_M: 8 })).toBe('const TILE_M: u32 = 8u;\nconst WG: u32 = 64u;\n');
    expect(() => specialize(src, { NOPE: 1 })).toThrow(/no "const NOPE: u32/);
    expect(() => specialize(src, { WG: 0 })).toThrow(/positive integer/);
  });
  it('rewrites alias lines and refuses unknown names and what is not a type name', () => {
    const src = 'alias Cols = f32;\nconst VEC: u32 = 1u;\n';
    expect(specializeTypes(src, { Cols: 'vec4f' })).toBe('alias Cols = vec4f;\nconst VEC: u32 = 1u;\n');
    expect(() => specializeTypes(src, { Rows: 'f32' })).toThrow(/no "alias Rows/);
    expect(() => specializeTypes(src, { Cols: 'f32; var x = 1' })).toThrow(/WGSL type name/);
  });
  it('unrolls marked loops, nested ones included, with the index as a literal', () => {
    const src = ['for (var i = 0u; i < N; i++) { // @unroll', '  for (var j = 0u; j < M; j++) { // @unroll', '    a[i][j] = b[j];', '  }', '}', ''].join('\n');
    const out = unroll(src, { N: 2, M: 2 });
    expect(out).not.toMatch(/for|@unroll/);
    for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]]) expect(out).toContain(`a[${i}u][${j}u] = b[${j}u];`);
    expect(out.match(/a\[/g)).toHaveLength(4);
    expect(() => unroll(src, { M: 2 })).toThrow(/bound N/);
  });
});
