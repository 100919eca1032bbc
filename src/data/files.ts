/**
 * Opening a data file in Node as a row source, by its extension: .csv,
 * .parquet, .arrow / .feather / .ipc (Arrow IPC).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { asyncBufferFromFile } from 'hyparquet';
import { csvSource } from './csv-stream.js';
import { parquetSource } from './parquet.js';
import { arrowSource } from './arrow.js';
import type { RowSource } from './rows.js';
import { formatOf } from './formats.js';

export { formatOf, type FileFormat } from './formats.js';

export async function openRowSource(path: string): Promise<RowSource> {
  switch (formatOf(path)) {
    case 'csv':
      return csvSource(() => createReadStream(path), path);
    case 'parquet':
      return parquetSource(await asyncBufferFromFile(path), path);
    case 'arrow':
      return arrowSource(() => open(path, 'r'), path);
    default:
      throw new Error(`${path}: unknown file type; use .csv, .parquet, or .arrow/.feather (Arrow IPC)`);
  }
}
