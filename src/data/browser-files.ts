/**
 * Opening a Parquet or Arrow IPC file picked in a page (a File or Blob) as a
 * row source, by its extension, with the readers Node uses: hyparquet reads
 * byte ranges through `File.slice`, and apache-arrow reads an IPC file through
 * a file-handle view of the same ranges (an IPC stream is read front to back).
 * Only the chunks being read are ever in memory. (The page reads a CSV file
 * whole, with parseCsv.)
 */
import type { AsyncBuffer } from 'hyparquet';
import { arrowSource } from './arrow.js';
import { formatOf } from './formats.js';
import { parquetSource } from './parquet.js';
import type { RowSource } from './rows.js';

/** A Blob's bytes as hyparquet's random-access buffer. */
export function blobAsyncBuffer(blob: Blob): AsyncBuffer {
  return { byteLength: blob.size, slice: (start, end) => blob.slice(start, end).arrayBuffer() };
}

/**
 * A Blob as the file handle apache-arrow reads random-access files from (its
 * `RecordBatchReader.from` takes an object with `fd`, `stat` and `read` as a
 * Node FileHandle): an IPC file's footer first, then one record batch at a time.
 * From `Blob.stream()` it would read an IPC file whole.
 */
export function blobFileHandle(blob: Blob) {
  return {
    fd: -1,
    stat: async () => ({ size: blob.size }),
    read: async (buffer: Uint8Array, offset: number, length: number, position: number) => {
      const bytes = new Uint8Array(await blob.slice(position, position + length).arrayBuffer());
      buffer.set(bytes, offset);
      return { bytesRead: bytes.length, buffer };
    },
    close: async () => undefined,
  };
}

/**
 * A picked file as a row source: .parquet / .pq, .arrow / .feather / .ipc.
 * @throws Error naming the file when its extension is none of these; DataError when it cannot be read.
 */
export async function openBlobSource(blob: Blob, name: string): Promise<RowSource> {
  switch (formatOf(name)) {
    case 'parquet':
      return parquetSource(blobAsyncBuffer(blob), name);
    case 'arrow':
      return arrowSource(() => blobFileHandle(blob), name);
    default:
      throw new Error(`${name}: not a Parquet or Arrow IPC file name; use .parquet, or .arrow/.feather (Arrow IPC)`);
  }
}
