/**
 * CSV files as a row source, parsed in chunks by papaparse's streaming mode
 * (a Node stream or a page's File): the header is the first line; every data
 * row must have as many fields. Rows are located by their 1-based data row
 * ("row 12"; a field with a line break inside makes lines and rows differ).
 */
import Papa from 'papaparse';
import { csvHeader, DataError } from './csv.js';
import type { RowChunk, RowSource } from './rows.js';

/** What papaparse streams: a Node readable stream or a File/Blob. */
export type CsvInput = unknown;

/** Bytes papaparse reads per chunk. */
const CHUNK_BYTES = 1 << 20;

interface Pass {
  chunks: AsyncGenerator<string[][]>;
}

/** Parses `input` chunk by chunk, pausing the parser until the consumer asks for the next chunk. */
function parse(input: CsvInput): Pass {
  const queue: (string[][] | Error | null)[] = [];
  let wake: (() => void) | undefined;
  let parser: Papa.Parser | undefined;
  const push = (x: string[][] | Error | null) => {
    queue.push(x);
    wake?.();
  };
  (Papa.parse as (input: unknown, config: Papa.ParseConfig<string[]>) => void)(input, {
    delimiter: ',',
    skipEmptyLines: true,
    chunkSize: CHUNK_BYTES,
    chunk: (result: Papa.ParseResult<string[]>, p: Papa.Parser) => {
      parser = p;
      p.pause();
      push(result.errors.length > 0 ? new Error(`CSV syntax error: ${result.errors[0].message}`) : result.data);
    },
    complete: () => push(null),
    error: (e: Error) => push(e),
  } as Papa.ParseConfig<string[]>);
  const chunks = (async function* () {
    for (;;) {
      if (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const next = queue.shift()!;
      if (next === null) return;
      if (next instanceof Error) throw next;
      yield next;
      parser?.resume();
    }
  })();
  return { chunks };
}

/** `open` is called once per pass (and once to read the header). */
export async function csvSource(open: () => CsvInput, name: string): Promise<RowSource> {
  const first = parse(open());
  // papaparse can hand over an empty chunk before the first complete line (a stream chunk without a line break).
  let head = await first.chunks.next();
  while (!head.done && head.value.length === 0) head = await first.chunks.next();
  await first.chunks.return(undefined);
  if (head.done || head.value.length === 0) throw new DataError(name, undefined, 'is empty');
  const header = csvHeader(head.value[0], name, 1);
  const index = new Map(header.map((h, j) => [h, j]));
  return {
    name,
    columns: header.map((h) => ({ name: h, kind: 'text' as const })),
    async *chunks() {
      let firstRow = 0;
      let skipHeader = true;
      const pass = parse(open());
      try {
        for await (const raw of pass.chunks) {
          const rows = skipHeader ? raw.slice(1) : raw;
          skipHeader = false;
          const start = firstRow;
          rows.forEach((fields, i) => {
            if (fields.length !== header.length) throw new DataError(name, `row ${start + i + 1}`, `expected ${header.length} fields, got ${fields.length} (truncated file?)`);
          });
          const cache = new Map<number, string[]>();
          const chunk: RowChunk = {
            rows: rows.length,
            firstRow: start,
            column: (n) => {
              const j = index.get(n);
              if (j === undefined) return undefined;
              let cells = cache.get(j);
              if (!cells) cache.set(j, (cells = rows.map((r) => r[j])));
              return cells;
            },
            where: (i) => `row ${start + i + 1}`,
          };
          yield chunk;
          firstRow += rows.length;
        }
      } catch (e) {
        if (e instanceof DataError) throw e;
        throw new DataError(name, `row ${firstRow + 1}`, (e as Error).message);
      }
    },
  };
}
