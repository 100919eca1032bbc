/** A small click log for the tests of streamed runs' checkpoints (resume, the PyTorch package). */
import { parquetWriteFile } from 'hyparquet-writer';
import { Rng } from '../src/rng.js';

export interface LogColumns {
  user_id: number[];
  item_id: string[];
  city: string[];
  f0: number[];
  f1: (number | null)[];
  click: number[];
  buy: (number | null)[];
}

/**
 * A click log as Parquet: hashed user (integer) and item (string) IDs, a vocabulary column whose rare values
 * --min-count 2 cuts, a numeric column with nulls, a click on every row and a buy labelled on clicked rows.
 * With `freshRare`, the rows that held a value seen once hold values seen twice instead ("fresh0" twice,
 * "fresh1" twice, ...): the stored encoder maps both to the unknown row, but a fit on this file would keep them.
 */
export function writeLog(file: string, N: number, seed: number, freshRare: boolean): LogColumns {
  const rng = new Rng(seed);
  const rows = Array.from({ length: N }, (_, i) => i);
  let rare = 0;
  const city = rows.map((i) => (i % 15 === 7 ? (freshRare ? `fresh${Math.floor(rare++ / 2)}` : `rare${rare++}`) : ['a', 'b', 'c'][Math.floor(rng.uniform() ** 2 * 3)]));
  const user = rows.map(() => Math.floor(rng.uniform() ** 3 * 500));
  const item = rows.map(() => `item${Math.floor(rng.uniform() ** 2 * 80)}`);
  const f0 = rows.map(() => rng.normal());
  const f1 = rows.map(() => (rng.uniform() < 0.1 ? null : 10 * rng.uniform()));
  const click = rows.map((i) => (f0[i] + (user[i] % 3) - 1 + 0.5 * rng.normal() > 0 ? 1 : 0));
  const buy = rows.map((i) => (click[i] ? (f1[i] !== null && f1[i] > 5 ? 1 : 0) : null));
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'user_id', data: Int32Array.from(user), type: 'INT32' },
      { name: 'item_id', data: item, type: 'STRING' },
      { name: 'city', data: city, type: 'STRING' },
      { name: 'f0', data: f0, type: 'DOUBLE' },
      { name: 'f1', data: f1, type: 'DOUBLE', nullable: true },
      { name: 'click', data: Int32Array.from(click), type: 'INT32' },
      { name: 'buy', data: buy, type: 'INT32', nullable: true },
    ],
    rowGroupSize: 128,
  });
  return { user_id: user, item_id: item, city, f0, f1, click, buy };
}

/** The log as CSV (a missing value is an empty field), with the same columns. */
export function logCsv(t: LogColumns): string {
  const names = Object.keys(t) as (keyof LogColumns)[];
  const lines = [names.join(',')];
  for (let r = 0; r < t.click.length; r++) lines.push(names.map((c) => t[c][r] ?? '').join(','));
  return lines.join('\n') + '\n';
}

