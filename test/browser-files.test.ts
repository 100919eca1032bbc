/**
 * The page's file opener (src/data/browser-files.ts) on Blobs, as a page gets a picked File: the
 * same chunks, cells and row locations as Node's file opener on the same Parquet and Arrow IPC
 * files; before its first chunk it reads only a part of a file of many row groups or record
 * batches (byte ranges, not the whole file); a truncated Parquet file is an error naming it.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBlobSource } from '../src/data/browser-files.js';
import { openRowSource } from '../src/data/files.js';
import { Clicklog } from '../src/data/clicklog.js';
import { writeClicklogParquet } from '../src/data/clicklog-file.js';
import type { RowSource } from '../src/data/rows.js';
import { clicklogArrowBytes } from './clicklog-arrow.js';

const dir = mkdtempSync(join(tmpdir(), 'ple-blob-'));
const log = new Clicklog({ rows: 5000, seed: 2, chunkRows: 1000 });
/** 100,000 rows in 10 row groups / record batches: far more than hyparquet's first read of the footer (512 KiB). */
const big = new Clicklog({ rows: 100_000, seed: 2, chunkRows: 10_000 });
const columns = log.columns;

/** Every chunk's size, first row, the locations of its first and last rows, and its cells. */
async function contents(source: RowSource) {
  const out: unknown[] = [];
  for await (const chunk of source.chunks()) {
    out.push({ rows: chunk.rows, firstRow: chunk.firstRow, where: [chunk.where(0), chunk.where(chunk.rows - 1)], cells: columns.map((n) => Array.from(chunk.column(n)!)) });
  }
  return out;
}

/** A Blob that counts the bytes it hands out: through slices, and the whole of it through stream(), arrayBuffer() or bytes(). */
function countingBlob(bytes: Uint8Array<ArrayBuffer>): { blob: Blob; read: () => number } {
  const blob = new Blob([bytes]);
  let read = 0;
  const slice = blob.slice.bind(blob);
  blob.slice = (start?: number, end?: number) => {
    const part = slice(start, end);
    read += part.size;
    return part;
  };
  for (const whole of ['stream', 'arrayBuffer', 'bytes', 'text'] as const) {
    const f = (blob as unknown as Record<string, () => unknown>)[whole].bind(blob);
    (blob as unknown as Record<string, () => unknown>)[whole] = () => ((read += blob.size), f());
  }
  return { blob, read: () => read };
}

describe('openBlobSource (the page) against openRowSource (Node)', () => {
  const files: [string, () => Promise<void> | void][] = [
    ['log.parquet', () => writeClicklogParquet(log, join(dir, 'log.parquet'))],
    ['log.arrow', () => writeFileSync(join(dir, 'log.arrow'), clicklogArrowBytes(log))],
  ];
  for (const [name, write] of files) {
    it(`reads ${name} as Node does`, async () => {
      await write();
      const path = join(dir, name);
      const page = await openBlobSource(new Blob([readFileSync(path)]), path);
      const node = await openRowSource(path);
      expect(page.columns).toEqual(node.columns);
      expect(page.rows).toBe(node.rows);
      const got = await contents(page);
      expect(got).toEqual(await contents(node));
      expect(got).toHaveLength(5); // one chunk per row group / record batch
    });
  }

  for (const [name, write] of [
    ['big.parquet', (path: string) => writeClicklogParquet(big, path)],
    ['big.arrow', (path: string) => writeFileSync(path, clicklogArrowBytes(big))],
  ] as const) {
    it(`reads ${name} in byte ranges: its first chunk needs well under the whole file`, async () => {
      await write(join(dir, name));
      const bytes = readFileSync(join(dir, name));
      const { blob, read } = countingBlob(bytes);
      const source = await openBlobSource(blob, name);
      const it = source.chunks()[Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.value.rows).toBe(10_000);
      // The footer (hyparquet's first read is its last 512 KiB) and one of ten row groups or record batches.
      expect(read()).toBeLessThan(0.4 * bytes.length);
      await it.return?.(undefined);
    });
  }

  it('a truncated Parquet file and another extension are errors naming the file', async () => {
    const bytes = readFileSync(join(dir, 'log.parquet'));
    await expect(openBlobSource(new Blob([bytes.subarray(0, bytes.length >> 1)]), 'cut.parquet')).rejects.toThrow(/^cut\.parquet.*is not a readable Parquet file/);
    await expect(openBlobSource(new Blob([bytes]), 'log.csv')).rejects.toThrow('log.csv: not a Parquet or Arrow IPC file name; use .parquet, or .arrow/.feather (Arrow IPC)');
  });
});
