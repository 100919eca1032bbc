/**
 * CSV text -> header and string rows, with the file line of every row so that
 * later errors can point at it. Browser-safe: the caller reads the file.
 */
import Papa from 'papaparse';

/**
 * A problem with the data, naming the file, where in it (a 1-based file line, or
 * a location such as "row group 2, row 70001") and the column where known.
 */
export class DataError extends Error {
  /** The 1-based file line, when the location is a line. */
  readonly line: number | undefined;
  /** The location as it appears in the message, e.g. "line 17" or "row group 2, row 70001". */
  readonly location: string | undefined;
  constructor(
    readonly source: string,
    at: number | string | undefined,
    problem: string,
    readonly column?: string,
  ) {
    const location = typeof at === 'number' ? `line ${at}` : at;
    // Whole-file problems read "adult.csv is empty"; row problems "adult.csv line 17: ...".
    super(location === undefined ? `${source} ${problem}` : `${source} ${location}: ${problem}`);
    this.name = 'DataError';
    this.line = typeof at === 'number' ? at : undefined;
    this.location = location;
  }
}

/** Delimiters a file saved as "CSV" by a spreadsheet in another locale often uses instead of commas. */
const OTHER_DELIMITERS = [
  [';', 'semicolons'],
  ['\t', 'tabs'],
  ['|', 'vertical bars'],
] as const;

const notText = (source: string) => new DataError(source, undefined, 'is not a text file (it holds binary data): give a CSV file, i.e. text with a header line and comma-separated values');

/**
 * A CSV file's header line as column names (BOM removed, trimmed), checked: every column has a
 * name and appears once, and a file that is not comma-separated text says what it is instead
 * (binary data, or values separated by semicolons, tabs or vertical bars).
 */
export function csvHeader(fields: string[], source: string, line: number): string[] {
  const header = fields.map((name, i) => (i === 0 ? name.replace(/^\uFEFF/, '') : name).trim());
  if (header.some((name) => name.includes('\0'))) throw notText(source);
  if (header.length === 1) {
    const other = OTHER_DELIMITERS.find(([c]) => header[0].includes(c));
    if (other) throw new DataError(source, undefined, `separates its values with ${other[1]}, not commas: save it as comma-separated values (CSV)`);
  }
  header.forEach((name, i) => {
    if (name === '') throw new DataError(source, line, `header column ${i + 1} has no name`);
    if (header.indexOf(name) !== i) throw new DataError(source, line, `column "${name}" appears twice in the header`, name);
  });
  return header;
}

/** A CSV file as text fields: its header and rows, with the file line of each row for error messages. */
export interface ParsedCsv {
  /** Column names, trimmed. */
  header: string[];
  /** Data rows as raw strings (not trimmed); every row has header.length fields. */
  rows: string[][];
  /** The 1-based file line where each row starts (the header is line 1). */
  lineOf: number[];
  /** Name used in error messages (usually the file name). */
  source?: string;
}

/**
 * Parses comma-separated text with a header line. Handles a BOM, CRLF or LF
 * line ends, quoted fields (commas, quotes and line breaks inside), and skips
 * blank lines (so a trailing newline or blank last line is fine).
 */
export function parseCsv(text: string, source = 'input'): ParsedCsv {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Binary data can fail as a CSV syntax error before its header is read: say what it is first.
  if (text.slice(0, 4096).includes('\0')) throw notText(source);

  const records: { fields: string[]; line: number }[] = [];
  let parseError: DataError | undefined;
  let line = 1;
  let start = 0; // offset where the current record starts
  Papa.parse<string[]>(text, {
    delimiter: ',', // never guess: a one-column file would otherwise fail to detect
    step: (result, parser) => {
      const end = result.meta.cursor;
      if (result.errors.length > 0 && !parseError) {
        parseError = new DataError(source, line, `CSV syntax error: ${result.errors[0].message}`);
        parser.abort();
        return;
      }
      const fields = result.data;
      if (!(fields.length === 1 && fields[0].trim() === '')) records.push({ fields, line });
      line += countLineBreaks(text, start, end);
      start = end;
    },
  });
  if (parseError) throw parseError;

  if (records.length === 0) throw new DataError(source, undefined, 'is empty');
  const header = csvHeader(records[0].fields, source, records[0].line);
  if (records.length === 1) throw new DataError(source, undefined, 'has a header but no data rows');

  const rows: string[][] = [];
  const lineOf: number[] = [];
  for (const { fields, line } of records.slice(1)) {
    if (fields.length !== header.length) throw new DataError(source, line, `expected ${header.length} fields, got ${fields.length}`);
    rows.push(fields);
    lineOf.push(line);
  }
  return { header, rows, lineOf, source };
}

/** Line breaks (LF, CRLF or a lone CR) in text[start, end). */
function countLineBreaks(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13 && text.charCodeAt(i + 1) !== 10) n++;
  }
  return n;
}
