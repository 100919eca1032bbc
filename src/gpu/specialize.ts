/**
 * The small template step that specialises a WGSL kernel for an adapter:
 * `const NAME: u32 = 4u;` lines at module scope are rewritten with the host's
 * values. Constants that size arrays or workgroups must be `const` in WGSL (an
 * `override` cannot size a function-scope array), hence text, not pipeline
 * overrides.
 */
export function specialize(source: string, constants: Record<string, number>): string {
  let out = source;
  for (const [name, value] of Object.entries(constants)) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`specialize: ${name} must be a positive integer, got ${value}`);
    const pattern = new RegExp(`^const ${name}: u32 = \\d+u;$`, 'm');
    if (!pattern.test(out)) throw new Error(`specialize: the shader has no "const ${name}: u32 = ...u;" line`);
    out = out.replace(pattern, `const ${name}: u32 = ${value}u;`);
  }
  return out;
}

/**
 * The type-alias step of the same template: `alias NAME = type;` lines at module scope are
 * rewritten with the host's types (e.g. a kernel written over `Cols`, f32 or vec4f).
 */
export function specializeTypes(source: string, types: Record<string, string>): string {
  let out = source;
  for (const [name, type] of Object.entries(types)) {
    if (!/^[a-z][a-z0-9<>]*$/.test(type)) throw new Error(`specializeTypes: ${name} must be a WGSL type name, got ${type}`);
    const pattern = new RegExp(`^alias ${name} = [a-z][a-z0-9<>]*;$`, 'm');
    if (!pattern.test(out)) throw new Error(`specializeTypes: the shader has no "alias ${name} = ...;" line`);
    out = out.replace(pattern, `alias ${name} = ${type};`);
  }
  return out;
}

/**
 * Unrolls loops marked `// @unroll` whose bound is a constant given here:
 *   for (var i = 0u; i < TILE_M; i++) { // @unroll
 * becomes one copy of the body per value of i, with i replaced by the literal.
 * Software adapters keep small arrays in registers only when every index is a
 * constant, so register tiles must be unrolled; real GPU compilers unroll anyway.
 */
export function unroll(source: string, constants: Record<string, number>): string {
  const marker = /for \(var (\w+) = 0u; \1 < (\w+); \1\+\+\) \{ \/\/ @unroll\n/;
  let out = source;
  for (let m = marker.exec(out); m; m = marker.exec(out)) {
    const [head, variable, bound] = m;
    const count = constants[bound];
    if (count === undefined) throw new Error(`unroll: the bound ${bound} of an @unroll loop is not a specialised constant`);
    // Find the loop body: from after the header to the matching closing brace.
    let depth = 1;
    let i = m.index + head.length;
    for (; i < out.length && depth > 0; i++) {
      if (out[i] === '{') depth++;
      else if (out[i] === '}') depth--;
    }
    const body = out.slice(m.index + head.length, i - 1);
    const use = new RegExp(`\\b${variable}\\b`, 'g');
    const copies = Array.from({ length: count }, (_, k) => `{\n${body.replace(use, `${k}u`)}}`).join('\n');
    out = out.slice(0, m.index) + copies + out.slice(i);
  }
  return out;
}
