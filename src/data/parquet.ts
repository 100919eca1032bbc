/**
 * Parquet files as a row source (hyparquet): one chunk per row group, only the
 * columns asked for. Browser-safe: the caller gives an AsyncBuffer (a File's
 * slices in a page, `asyncBufferFromFile` in Node).
 */
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData, type SchemaTree } from 'hyparquet';
import { DataError } from './csv.js';
import type { ColumnKind, RowChunk, RowSource } from './rows.js';

const TIME_TYPES = new Set(['DATE', 'TIME', 'TIMESTAMP', 'TIME_MILLIS', 'TIME_MICROS', 'TIMESTAMP_MILLIS', 'TIMESTAMP_MICROS', 'INTERVAL']);

function kindOf(node: SchemaTree): ColumnKind {
  const e = node.element;
  if (node.children.length > 0 || e.repetition_type === 'REPEATED' || e.converted_type === 'JSON' || e.converted_type === 'BSON') return 'nested';
  if (TIME_TYPES.has(e.converted_type ?? '') || TIME_TYPES.has(e.logical_type?.type ?? '')) return 'other';
  switch (e.type) {
    case 'BOOLEAN':
      return 'boolean';
    case 'INT32':
    case 'INT64':
    case 'FLOAT':
    case 'DOUBLE':
      return 'number';
    case 'BYTE_ARRAY':
    case 'FIXED_LEN_BYTE_ARRAY':
      return e.converted_type === 'UTF8' || e.logical_type?.type === 'STRING' || e.converted_type === 'DECIMAL' ? (e.converted_type === 'DECIMAL' ? 'number' : 'text') : 'other';
    default:
      return 'other';
  }
}

export async function parquetSource(file: AsyncBuffer, name: string): Promise<RowSource> {
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new DataError(name, undefined, `is not a readable Parquet file (truncated or not Parquet?): ${(e as Error).message}`);
  }
  const columns = parquetSchema(metadata).children.map((node) => ({ name: node.element.name, kind: kindOf(node) }));
  const groups = metadata.row_groups.map((g) => Number(g.num_rows));
  return {
    name,
    columns,
    rows: Number(metadata.num_rows),
    async *chunks(wanted?: string[]) {
      const names = wanted ?? columns.map((c) => c.name);
      let firstRow = 0;
      for (let g = 0; g < groups.length; g++) {
        const rows = groups[g];
        const data = new Map<string, unknown[]>(names.map((n) => [n, new Array(rows)]));
        const start = firstRow;
        try {
          await parquetRead({
            file,
            metadata,
            columns: names.filter((n) => columns.some((c) => c.name === n)),
            rowStart: start,
            rowEnd: start + rows,
            onChunk: ({ columnName, columnData, rowStart, rowEnd }) => {
              const target = data.get(columnName);
              if (!target) return;
              for (let r = Math.max(rowStart, start); r < Math.min(rowEnd, start + rows); r++) target[r - start] = columnData[r - rowStart];
            },
          });
        } catch (e) {
          throw new DataError(name, `row group ${g} (rows ${start + 1}-${start + rows})`, `cannot be read (truncated or corrupt file?): ${(e as Error).message}`);
        }
        const chunk: RowChunk = {
          rows,
          firstRow: start,
          column: (n) => (columns.some((c) => c.name === n) ? data.get(n) : undefined),
          where: (i) => `row group ${g}, row ${start + i + 1}`,
        };
        yield chunk;
        firstRow += rows;
      }
    },
  };
}
