/** The click log as an Arrow IPC file (apache-arrow's writer), one record batch per generated chunk, for the tests of the Arrow path. */
import { Float64, Int32, Table, tableToIPC, vectorFromArray } from 'apache-arrow';
import type { Clicklog } from '../src/data/clicklog.js';

export function clicklogArrowBytes(log: Clicklog): Uint8Array {
  const tables: Table[] = [];
  for (let c = 0; c < log.chunks; c++) {
    const d = log.chunk(c);
    tables.push(
      new Table({
        user_id: vectorFromArray(Array.from(d.user), new Int32()),
        item_id: vectorFromArray(Array.from(d.item), new Int32()),
        ...Object.fromEntries(d.dense.map((f, j) => [`f${j}`, vectorFromArray(Array.from(f), new Float64())])),
        click: vectorFromArray(Array.from(d.click), new Int32()),
        conversion: vectorFromArray(d.conversion, new Int32()),
      }),
    );
  }
  return tableToIPC(tables.reduce((a, b) => a.concat(b)), 'file');
}
