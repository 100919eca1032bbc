/**
 * One declaration per WGSL struct the host fills: a kernel's descriptor (one per
 * batch entry, read as `array<Name>`) or a uniform block. The declaration lists the
 * fields in WGSL member order with their scalar types; from it come the packing
 * code (by field name, never by position) and the WGSL struct text, padded to a
 * multiple of 16 bytes with `padN` members. test/structs.test.ts parses every
 * struct in shaders/ and checks it against its declaration, member by member.
 */

export type ScalarType = 'u32' | 'f32';

export interface StructDecl<F extends string> {
  /** The WGSL struct's name. */
  name: string;
  /** Members in WGSL order, padding included. */
  members: readonly { name: string; type: ScalarType }[];
  /** The fields the host sets (every member but padding). */
  fields: readonly F[];
  /** Size of one struct in 32-bit words (its array stride). */
  stride: number;
  /** The struct as WGSL source. */
  wgsl: string;
  /** Packs values into `out` at word `at`, by field name; u32 fields take non-negative integers or booleans. */
  write(out: ArrayBuffer, at: number, values: Readonly<Record<F, number | boolean>>): void;
  /** Packs one struct per entry into a table (at least one struct long, so it can always be bound). */
  pack(entries: readonly Readonly<Record<F, number | boolean>>[]): Uint32Array<ArrayBuffer>;
}

const isPad = (name: string) => /^pad\d+$/.test(name);

/**
 * Declares a struct of 4-byte scalars. Members named `padN` may be listed where the WGSL
 * struct has them; trailing padding up to 16 bytes is added with the last member's type.
 */
export function struct<const T extends Record<string, ScalarType>>(name: string, declared: T): StructDecl<Exclude<keyof T & string, `pad${number}`>> {
  type F = Exclude<keyof T & string, `pad${number}`>;
  const members = Object.entries(declared).map(([n, type]) => ({ name: n, type }));
  let pad = members.filter((m) => isPad(m.name)).length;
  const last = members[members.length - 1].type;
  while (members.length % 4 !== 0) members.push({ name: `pad${pad++}`, type: last });
  const fields = members.filter((m) => !isPad(m.name)).map((m) => m.name) as F[];
  const stride = members.length;
  const lines: string[] = [];
  for (let i = 0; i < members.length; i += 4) lines.push(`  ${members.slice(i, i + 4).map((m) => `${m.name}: ${m.type},`).join(' ')}`);
  const wgsl = `struct ${name} {\n${lines.join('\n')}\n}`;

  const write = (out: ArrayBuffer, at: number, values: Readonly<Record<F, number | boolean>>) => {
    const u = new Uint32Array(out);
    const f = new Float32Array(out);
    members.forEach((m, i) => {
      if (isPad(m.name)) return;
      const v: unknown = values[m.name as F];
      const n = typeof v === 'boolean' ? Number(v) : v;
      if (m.type === 'f32') {
        if (typeof n !== 'number') throw new Error(`${name}.${m.name} must be a number, got ${String(v)}`);
        f[at + i] = n;
      } else {
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${name}.${m.name} must be a u32, got ${String(v)}`);
        u[at + i] = n;
      }
    });
  };
  const pack = (entries: readonly Readonly<Record<F, number | boolean>>[]) => {
    const table = new Uint32Array(Math.max(1, entries.length) * stride);
    entries.forEach((e, z) => {
      try {
        write(table.buffer, z * stride, e);
      } catch (error) {
        throw new Error(`descriptor ${z}: ${(error as Error).message}`);
      }
    });
    return table;
  };
  return { name, members, fields, stride, wgsl, write, pack };
}
