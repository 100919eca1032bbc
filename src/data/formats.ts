/** The data file formats, told apart by a file name's extension (Node and the page alike). */
export type FileFormat = 'csv' | 'parquet' | 'arrow';

/** The format a file name's extension says: .csv, .parquet / .pq, .arrow / .feather / .ipc (Arrow IPC); else undefined. */
export function formatOf(name: string): FileFormat | undefined {
  const ext = name.toLowerCase().split('.').pop();
  if (ext === 'csv') return 'csv';
  if (ext === 'parquet' || ext === 'pq') return 'parquet';
  if (ext === 'arrow' || ext === 'feather' || ext === 'ipc') return 'arrow';
  return undefined;
}
