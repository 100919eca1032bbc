/**
 * The stable hash of categorical values for `--hash COL:BUCKETS` (see docs/data.md):
 * 32-bit FNV-1a over the value's UTF-8 bytes. A value's text is the trimmed cell;
 * numbers are written in their shortest decimal form (JavaScript's String(x)).
 * A table of B rows keeps row 0 for missing values and maps a value to
 * 1 + (fnv1a32(value) mod (B - 1)). Written out so that any port gets the same rows.
 */
/** 32-bit FNV-1a: h = 0x811c9dc5; for each byte b: h = (h XOR b) * 0x01000193 mod 2^32. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  const byte = (b: number) => {
    h = Math.imul(h ^ b, 0x01000193);
  };
  // UTF-8 encoding inline (as TextEncoder would: a lone surrogate becomes U+FFFD).
  for (let i = 0; i < text.length; i++) {
    let c = text.codePointAt(i)!;
    if (c > 0xffff) i++;
    else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) byte(c);
    else if (c < 0x800) {
      byte(0xc0 | (c >> 6));
      byte(0x80 | (c & 63));
    } else if (c < 0x10000) {
      byte(0xe0 | (c >> 12));
      byte(0x80 | ((c >> 6) & 63));
      byte(0x80 | (c & 63));
    } else {
      byte(0xf0 | (c >> 18));
      byte(0x80 | ((c >> 12) & 63));
      byte(0x80 | ((c >> 6) & 63));
      byte(0x80 | (c & 63));
    }
  }
  return h >>> 0;
}

/** The table row of a value in a hashed table of `buckets` rows (row 0 is reserved for missing values). */
export function hashedRow(text: string, buckets: number): number {
  return 1 + (fnv1a32(text) % (buckets - 1));
}
