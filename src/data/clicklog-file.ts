/** Writing the click log to a Parquet file in Node (one row group per generated chunk), atomically. */
import { rename, rm } from 'node:fs/promises';
import { fileWriter, ParquetWriter, schemaFromColumnData } from 'hyparquet-writer';
import type { Clicklog } from './clicklog.js';

export async function writeClicklogParquet(log: Clicklog, path: string): Promise<void> {
  const tmp = `${path}.partial`;
  try {
    let writer: ParquetWriter | undefined;
    for (let c = 0; c < log.chunks; c++) {
      const d = log.chunk(c);
      const columnData = [
        { name: 'user_id', data: d.user, type: 'INT32' as const },
        { name: 'item_id', data: d.item, type: 'INT32' as const },
        ...d.dense.map((f, j) => ({ name: `f${j}`, data: f, type: 'DOUBLE' as const })),
        { name: 'click', data: d.click, type: 'INT32' as const },
        { name: 'conversion', data: d.conversion, type: 'INT32' as const, nullable: true },
      ];
      writer ??= new ParquetWriter({ writer: fileWriter(tmp), schema: schemaFromColumnData({ columnData }) });
      writer.write({ columnData: columnData.map(({ name, data }) => ({ name, data })), rowGroupSize: d.user.length });
    }
    writer?.finish();
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
