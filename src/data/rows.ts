/**
 * The one interface every tabular reader (CSV, Parquet, Arrow IPC, the
 * built-in click log) implements: a file read as a sequence of column chunks,
 * one pass per call of `chunks()`, so that no reader ever holds the whole file.
 */
import type { ParsedCsv } from './csv.js';

/**
 * What a column holds, as far as the file's schema says: CSV cells are all
 * 'text'; typed files say 'number' (ints, floats, decimals), 'boolean',
 * 'nested' (lists, structs, maps: never usable as a scalar) or 'other'.
 */
export type ColumnKind = 'text' | 'number' | 'boolean' | 'nested' | 'other';

export interface RowChunk {
  rows: number;
  /** The 0-based index of the chunk's first row in the file (row order of the file). */
  firstRow: number;
  /**
   * A column's cells by name (undefined when the file has no such column). A cell
   * is a string, number, bigint, boolean, null/undefined (missing), or a nested value.
   */
  column(name: string): ArrayLike<unknown> | undefined;
  /** Where row i of the chunk is, for errors: a 1-based file line, or e.g. "row group 2, row 70001". */
  where(i: number): number | string;
}

export interface RowSource {
  /** Name used in errors (the file name). */
  name: string;
  /** Column names and kinds, in file order. */
  columns: { name: string; kind: ColumnKind }[];
  /** Data rows, when the file's metadata says (Parquet, Arrow file, generated); else counted by a pass. */
  rows?: number;
  /** One pass over the file, chunk by chunk; a new call starts a new pass. `columns`: read only these. */
  chunks(columns?: string[]): AsyncIterable<RowChunk>;
}

/** A parsed CSV as one chunk (its rows' locations are file lines). */
export function csvChunk(parsed: ParsedCsv): RowChunk {
  const index = new Map(parsed.header.map((name, j) => [name, j]));
  const cache = new Map<number, string[]>();
  return {
    rows: parsed.rows.length,
    firstRow: 0,
    column(name) {
      const j = index.get(name);
      if (j === undefined) return undefined;
      let cells = cache.get(j);
      if (!cells) cache.set(j, (cells = parsed.rows.map((row) => row[j])));
      return cells;
    },
    where: (i) => parsed.lineOf[i],
  };
}

/** A parsed CSV as a row source of one chunk. */
export function parsedCsvSource(parsed: ParsedCsv): RowSource {
  return {
    name: parsed.source ?? 'input',
    columns: parsed.header.map((name) => ({ name, kind: 'text' })),
    rows: parsed.rows.length,
    async *chunks() {
      yield csvChunk(parsed);
    },
  };
}

/** Starts fetching the next item while the caller works on the current one (double buffering). */
export async function* prefetched<T>(items: AsyncIterable<T>): AsyncGenerator<T> {
  const it = items[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      yield r.value;
    }
  } finally {
    // Leaving early: let the pending fetch settle and close the reader.
    await next.catch(() => undefined);
    await it.return?.();
  }
}
