/**
 * A results file shared by two benchmarks: each owns a section between its own markers
 * (`<!-- NAME:start -->` ... `<!-- NAME:end -->`) and rewrites only that, keeping the rest.
 */
import { existsSync, readFileSync } from 'node:fs';

const markers = (name: string) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`] as const;

/** `text` with section `name` set to `body` (appended when absent). */
export function withSection(text: string, name: string, body: string): string {
  const [start, end] = markers(name);
  const block = `${start}\n${body.trim()}\n${end}`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) return text.slice(0, a) + block + text.slice(b + end.length);
  return `${text.trimEnd()}\n\n${block}\n`;
}

/** The section `name` of a file, markers included, or '' (for a writer of the rest of the file to keep it). */
export function sectionOf(path: string, name: string): string {
  if (!existsSync(path)) return '';
  const text = readFileSync(path, 'utf8');
  const [start, end] = markers(name);
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  return a >= 0 && b > a ? text.slice(a, b + end.length) : '';
}
