/** CSV parsing: BOM, CRLF, quoting, blank lines, and errors that name the file line. */
import { describe, expect, it } from 'vitest';
import { DataError, parseCsv } from '../src/data/csv.js';
import { thrownBy } from './helpers.js';

const dataError = (f: () => unknown): DataError => thrownBy(DataError, f);

describe('parseCsv', () => {
  it('reads the header, rows and the line of each row', () => {
    const p = parseCsv('a,b,c\n1,2,3\n4,5,6\n', 'x.csv');
    expect(p.header).toEqual(['a', 'b', 'c']);
    expect(p.rows).toEqual([
      ['1', '2', '3'],
      ['4', '5', '6'],
    ]);
    expect(p.lineOf).toEqual([2, 3]);
    expect(p.source).toBe('x.csv');
  });

  it('strips a byte order mark from the first header name', () => {
    const p = parseCsv('\uFEFFage,sex\n39,Male\n');
    expect(p.header).toEqual(['age', 'sex']);
    expect(p.rows).toEqual([['39', 'Male']]);
  });

  it('handles CRLF line ends without leaving \\r in the last field', () => {
    const p = parseCsv('a,b\r\n1,x\r\n2,y\r\n');
    expect(p.rows).toEqual([
      ['1', 'x'],
      ['2', 'y'],
    ]);
    expect(p.lineOf).toEqual([2, 3]);
  });

  it('keeps commas, doubled quotes and line breaks inside quoted fields, and counts lines across them', () => {
    const p = parseCsv('name,city\n"Smith, J.","New\nYork"\n"say ""hi""",Paris\n');
    expect(p.rows).toEqual([
      ['Smith, J.', 'New\nYork'],
      ['say "hi"', 'Paris'],
    ]);
    // The first record spans lines 2-3, so the second starts on line 4.
    expect(p.lineOf).toEqual([2, 4]);
  });

  it('skips blank lines (trailing or in the middle) but keeps counting them', () => {
    const p = parseCsv('a,b\n1,2\n\n3,4\n\n\n');
    expect(p.rows).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(p.lineOf).toEqual([2, 4]);
  });

  it('accepts a last line without a newline and trims header names', () => {
    const p = parseCsv(' a , b\n1,2');
    expect(p.header).toEqual(['a', 'b']);
    expect(p.rows).toEqual([['1', '2']]);
  });

  it('rejects a ragged row, naming its file line and the field counts', () => {
    const text = 'a,b,c\n1,2,3\n\n4,5\n6,7,8\n';
    const e = dataError(() => parseCsv(text, 'adult.data.csv'));
    expect(e.message).toBe('adult.data.csv line 4: expected 3 fields, got 2');
    expect(e.line).toBe(4);
    expect(e.source).toBe('adult.data.csv');
    expect(dataError(() => parseCsv('a,b\n1,2,3\n')).message).toBe('input line 2: expected 2 fields, got 3');
  });

  it('rejects an empty file', () => {
    expect(dataError(() => parseCsv('', 'e.csv')).message).toBe('e.csv is empty');
    expect(dataError(() => parseCsv('\n\r\n\n', 'e.csv')).message).toBe('e.csv is empty');
    expect(dataError(() => parseCsv('\uFEFF', 'e.csv')).line).toBeUndefined();
  });

  it('rejects a header with no data rows', () => {
    expect(dataError(() => parseCsv('a,b\n', 'h.csv')).message).toBe('h.csv has a header but no data rows');
    expect(dataError(() => parseCsv('a,b\r\n\r\n', 'h.csv')).message).toBe('h.csv has a header but no data rows');
  });

  it('rejects duplicate and empty header names', () => {
    const e = dataError(() => parseCsv('a,b, a\n1,2,3\n', 'd.csv'));
    expect(e.message).toBe('d.csv line 1: column "a" appears twice in the header');
    expect(e.column).toBe('a');
    expect(dataError(() => parseCsv('a,,c\n1,2,3\n')).message).toBe('input line 1: header column 2 has no name');
  });

  it('rejects an unterminated quote, naming the line where the record starts', () => {
    const e = dataError(() => parseCsv('a,b\n1,2\n3,"oops\n4,5\n', 'q.csv'));
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/^q\.csv line 3: CSV syntax error: /);
  });
});
