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
