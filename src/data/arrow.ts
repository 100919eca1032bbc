/**
 * Arrow IPC files and streams (.arrow, .feather v2) as a row source
 * (apache-arrow): one chunk per record batch, read as it comes.
 */
import { DataType, RecordBatchReader, type Field, type RecordBatch, type Schema } from 'apache-arrow';
import { DataError } from './csv.js';
import type { ColumnKind, RowSource } from './rows.js';

/** What `RecordBatchReader.from` accepts: a Node FileHandle, a byte stream, bytes. */
export type ArrowInput = unknown;

function kindOf(field: Field): ColumnKind {
  const t = field.type;
  if (DataType.isList(t) || DataType.isLargeList(t) || DataType.isFixedSizeList(t) || DataType.isStruct(t) || DataType.isMap(t) || DataType.isUnion(t)) return 'nested';
  if (DataType.isInt(t) || DataType.isFloat(t) || DataType.isDecimal(t)) return 'number';
  if (DataType.isBool(t)) return 'boolean';
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t) || DataType.isUtf8View(t)) return 'text';
  if (DataType.isDictionary(t)) return DataType.isUtf8(t.dictionary) ? 'text' : DataType.isInt(t.dictionary) || DataType.isFloat(t.dictionary) ? 'number' : 'other';
  return 'other';
}

/** An async reader of record batches (a file reader when the input has random access). */
async function openReader(input: ArrowInput): Promise<AsyncIterable<RecordBatch> & { schema: Schema; cancel?: () => unknown }> {
  const reader = await (RecordBatchReader.from as (x: unknown) => Promise<RecordBatchReader> | RecordBatchReader)(input);
  return (await reader.open()) as never;
}

/** `open` is called once per pass (and once to read the schema). */
export async function arrowSource(open: () => Promise<ArrowInput> | ArrowInput, name: string): Promise<RowSource> {
  const fail = (at: string | undefined, e: unknown): never => {
    throw new DataError(name, at, at === undefined ? `is not a readable Arrow IPC file (truncated or not Arrow?): ${(e as Error).message}` : `cannot be read (truncated or corrupt file?): ${(e as Error).message}`);
  };
  const reader = await (async () => openReader(await open()))().catch((e) => fail(undefined, e));
  const columns = reader.schema.fields.map((f) => ({ name: f.name, kind: kindOf(f) }));
  await reader.cancel?.();
  return {
    name,
    columns,
    async *chunks(wanted?: string[]) {
      const r = await (async () => openReader(await open()))().catch((e) => fail(undefined, e));
      let firstRow = 0;
      let b = 0;
      const it = r[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<RecordBatch>;
        try {
          next = await it.next();
        } catch (e) {
          fail(`record batch ${b} (after row ${firstRow})`, e);
        }
        if (next!.done) break;
        const batch = next!.value;
        const start = firstRow;
        const batchIndex = b;
        const cache = new Map<string, unknown[]>();
        yield {
          rows: batch.numRows,
          firstRow: start,
          column: (n: string) => {
            if (wanted && !wanted.includes(n)) return undefined;
            let cells = cache.get(n);
            if (!cells) {
              const v = batch.getChild(n);
              if (!v) return undefined;
              cells = Array.from({ length: batch.numRows }, (_, i) => v.get(i));
              cache.set(n, cells);
            }
            return cells;
          },
          where: (i: number) => `record batch ${batchIndex}, row ${start + i + 1}`,
        };
        firstRow += batch.numRows;
        b++;
      }
    },
  };
}
