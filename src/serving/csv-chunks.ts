/**
 * Reading a CSV file a chunk of rows at a time (papaparse's streaming mode), so a file larger
 * than memory can be scored: only one chunk of rows is held at once. Works on a Node readable
 * stream and on a browser File. Rows carry their 1-based file line, as parseCsv's do.
 */
import Papa from 'papaparse';
import { csvHeader, DataError, type ParsedCsv } from '../data/csv.js';

/** A CSV file to read in chunks: a Blob (a browser File) or a Node readable stream. */
export type CsvInput =
  | Blob
  | {
      readable: boolean;
      read: unknown;
      on: unknown;
      /** Stops the stream's data events while a chunk is scored. */
      pause(): unknown;
      /** Starts them again. */
      resume(): unknown;
    };

/**
 * Calls `onHeader` with the header, then `onChunk` with up to `chunkRows` rows at a time (the
 * parser waits while a chunk is handled). Blank lines are skipped; a row with the wrong number of
 * fields or a syntax error is a DataError naming the line.
 */
export function readCsvChunks(
  input: CsvInput,
  source: string,
  chunkRows: number,
  onHeader: (header: string[]) => void,
  onChunk: (chunk: ParsedCsv) => Promise<void>,
): Promise<void> {
  if (!(Number.isInteger(chunkRows) && chunkRows >= 1)) throw new RangeError(`chunkRows must be an integer >= 1, got ${chunkRows}`);
  return new Promise((resolve, reject) => {
    let header: string[] | null = null;
    let rows: string[][] = [];
    let lineOf: number[] = [];
    let line = 1;
    let failure: unknown = null;
    const fail = (e: unknown, parser?: Papa.Parser) => {
      failure ??= e;
      parser?.abort();
    };
    const flush = async () => {
      const chunk: ParsedCsv = { header: header!, rows, lineOf, source };
      rows = [];
      lineOf = [];
      await onChunk(chunk);
    };
    Papa.parse<string[]>(input as unknown as File, {
      delimiter: ',',
      step: (result, parser) => {
        if (failure) return;
        if (result.errors.length > 0) return fail(new DataError(source, line, `CSV syntax error: ${result.errors[0].message}`), parser);
        const fields = result.data;
        const here = line;
        // A row spans one line plus the line breaks inside its quoted fields.
        line += 1 + fields.reduce((n, f) => n + lineBreaks(f), 0);
        if (fields.length === 1 && fields[0].trim() === '') return;
        if (!header) {
          try {
            header = csvHeader(fields, source, here);
            onHeader(header);
          } catch (e) {
            fail(e, parser);
          }
          return;
        }
        if (fields.length !== header.length) return fail(new DataError(source, here, `expected ${header.length} fields, got ${fields.length}`), parser);
        rows.push(fields);
        lineOf.push(here);
        if (rows.length === chunkRows) {
          parser.pause();
          // A Node stream keeps emitting data into papaparse's queue unless it is paused itself.
          const stream = input instanceof Blob ? null : input;
          stream?.pause();
          flush().then(
            () => {
              stream?.resume();
              parser.resume();
            },
            (e) => {
              fail(e);
              parser.resume(); // lets papaparse reach `complete`, which reports the failure
              parser.abort();
            },
          );
        }
      },
      complete: () => {
        if (failure) return reject(failure);
        if (!header) return reject(new DataError(source, undefined, 'is empty'));
        (rows.length > 0 ? flush() : Promise.resolve()).then(resolve, reject);
      },
      error: (e: Error) => reject(failure ?? new DataError(source, undefined, `could not be read: ${e.message}`)),
    });
  });
}

function lineBreaks(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13 && s.charCodeAt(i + 1) !== 10) n++;
  }
  return n;
}
