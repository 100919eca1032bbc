/**
 * The column-role picker of a data file: one row per column with its role (a label that becomes a
 * task, a numeric or categorical input, or ignored), read back as the library's TabularSchema.
 * A CSV file is shown whole; a streamed Parquet or Arrow file by its first rows (a sample), so the
 * values it offers and checks are those rows' values.
 */
import type { LabelRole, ParsedCsv, TabularSchema } from '../src/index.js';
import type { ColumnKind } from '../src/data/rows.js';

export type Role =
  | 'ignore'
  | 'label-value'
  | 'label-threshold'
  | 'label-regression'
  | 'numeric'
  | 'numeric-log1p'
  | 'categorical-onehot'
  | 'categorical-embedding'
  | 'categorical-hash';

const ROLE_TEXT: Record<Role, string> = {
  ignore: 'ignored',
  'label-value': 'task: binary (values)',
  'label-threshold': 'task: binary (> threshold)',
  'label-regression': 'task: regression',
  numeric: 'numeric',
  'numeric-log1p': 'numeric, log(1+x)',
  'categorical-onehot': 'category, one-hot',
  'categorical-embedding': 'category, embedding',
  'categorical-hash': 'category, hashed embedding',
};

/** How the picker describes a file: the summary line, whether the rows are only the file's first ones, and column kinds from a typed file's schema. */
export interface FileView {
  summary: string;
  sample: boolean;
  kinds?: Map<string, ColumnKind>;
}

const HASH_BUCKETS = 4096;

const MISSING = new Set(['?', '', 'NA']);
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

interface ColumnStats {
  distinct: Map<string, number>;
  numeric: boolean;
  median: number;
}

function stats(parsed: ParsedCsv, c: number): ColumnStats {
  const distinct = new Map<string, number>();
  const numbers: number[] = [];
  let present = 0;
  for (const row of parsed.rows) {
    const v = row[c].trim();
    if (MISSING.has(v)) continue;
    present++;
    distinct.set(v, (distinct.get(v) ?? 0) + 1);
    if (NUMBER.test(v)) numbers.push(Number(v));
  }
  numbers.sort((a, b) => a - b);
  return { distinct, numeric: present > 0 && numbers.length === present, median: numbers.length ? numbers[numbers.length >> 1] : 0 };
}

/** A first guess: numbers are numeric inputs, few distinct strings categorical, the label columns binary tasks. */
function guess(s: ColumnStats, label: boolean, kind?: ColumnKind): { role: Role; param: string } {
  if (kind === 'nested' || kind === 'other') return { role: 'ignore', param: '' };
  if (label) {
    if (s.numeric && s.distinct.size > 2) return { role: 'label-threshold', param: String(s.median) };
    const rarest = [...s.distinct.entries()].sort((a, b) => a[1] - b[1])[0];
    return { role: 'label-value', param: rarest ? rarest[0] : '' };
  }
  if (s.numeric) return { role: 'numeric', param: '' };
  if (s.distinct.size <= 100) return { role: 'categorical-onehot', param: '' };
  return { role: 'ignore', param: '' };
}

export class RolePicker {
  private parsed: ParsedCsv | null = null;
  private sampled = false;

  constructor(
    private readonly host: HTMLElement,
    private readonly summary: HTMLElement,
    private readonly onChange: () => void,
  ) {}

  get columns(): string[] {
    return this.parsed?.header ?? [];
  }

  /**
   * One row per column with a first guess of its role (or `schema`'s roles): two tasks where the file has a second label-like column.
   * `view`: a streamed file's summary, sample flag and column kinds (default: a whole CSV file).
   */
  render(parsed: ParsedCsv, schema?: TabularSchema, view?: FileView): void {
    this.parsed = parsed;
    this.sampled = view?.sample ?? false;
    const all = parsed.header.map((_, c) => stats(parsed, c));
    const last = parsed.header.length - 1;
    // A multi-task demo wants two tasks: besides the last column, the column with the fewest distinct values (2 to 10).
    const second = all
      .map((s, c) => ({ c, n: s.distinct.size }))
      .filter((x) => x.c !== last && x.n >= 2 && x.n <= 10)
      .sort((a, b) => a.n - b.n)[0]?.c;
    const labels = new Set([last, ...(second === undefined || parsed.header.length < 4 ? [] : [second])]);
    const table = document.createElement('table');
    const head = table.createTHead().insertRow();
    for (const h of ['column (e.g.)', 'role']) {
      const th = document.createElement('th');
      th.textContent = h;
      head.appendChild(th);
    }
    const body = table.createTBody();
    parsed.header.forEach((name, c) => {
      const s = all[c];
      const g = guess(s, labels.has(c), view?.kinds?.get(name));
      const row = body.insertRow();
      const nameCell = row.insertCell();
      nameCell.textContent = name;
      const sample = document.createElement('span');
      sample.className = 'sample';
      const top = [...s.distinct.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map((e) => e[0]);
      sample.textContent = top.join(', ');
      sample.title = `${s.distinct.size} distinct values; most frequent: ${top.join(', ')}`;
      nameCell.appendChild(sample);
      const select = document.createElement('select');
      select.dataset.column = name;
      select.setAttribute('aria-label', `role of ${name}`);
      for (const [value, text] of Object.entries(ROLE_TEXT)) select.add(new Option(text, value));
      select.value = g.role;
      const param = document.createElement('input');
      param.type = 'text';
      param.dataset.param = name;
      param.setAttribute('aria-label', `positive values, threshold or hash buckets of ${name}`);
      param.value = g.param;
      // The column's own values to pick from ("positive value" is matched exactly, after trimming).
      const values = document.createElement('datalist');
      values.id = `values-${c}`;
      for (const [v] of [...s.distinct.entries()].sort((a, b) => b[1] - a[1]).slice(0, 50)) values.appendChild(new Option(v));
      param.setAttribute('list', values.id);
      const warn = document.createElement('span');
      warn.className = 'warn';
      warn.dataset.warn = name;
      const check = () => {
        const unseen = select.value === 'label-value' ? param.value.split(',').map((v) => v.trim()).filter((v) => v && !s.distinct.has(v)) : [];
        warn.textContent = unseen.length ? `not a value of this column${this.sampled ? ` in the first ${parsed.rows.length} rows` : ''}: ${unseen.join(', ')}` : '';
        warn.hidden = !unseen.length;
      };
      const sync = () => {
        const role = select.value as Role;
        param.hidden = role !== 'label-value' && role !== 'label-threshold' && role !== 'categorical-hash';
        if (role === 'label-threshold' && !NUMBER.test(param.value.trim())) param.value = String(s.median);
        if (role === 'categorical-hash' && !/^\d+$/.test(param.value.trim())) param.value = String(HASH_BUCKETS);
        param.placeholder = role === 'label-value' ? 'label-1 values, e.g. yes, 1' : role === 'categorical-hash' ? 'buckets (table rows)' : 'threshold (label 1 above)';
        param.title = param.placeholder;
        check();
      };
      select.addEventListener('change', () => {
        sync();
        this.onChange();
      });
      param.addEventListener('input', () => {
        check();
        this.onChange();
      });
      sync();
      const roleCell = row.insertCell();
      roleCell.append(select, param, values, warn);
    });
    this.host.replaceChildren(table);
    if (schema) this.apply(schema);
    const tasks = () => Array.from(this.host.querySelectorAll<HTMLSelectElement>('select[data-column]')).filter((s) => s.value.startsWith('label')).length;
    const about = view?.summary ?? `${parsed.source}: ${parsed.rows.length} rows, ${parsed.header.length} columns (read in this tab).`;
    this.summary.textContent = `${about} Pick each column's role; each "task" column becomes one of the model's tasks (${tasks()} now).`;
  }

  clear(message = ''): void {
    this.parsed = null;
    this.host.replaceChildren();
    this.summary.textContent = message;
  }

  /** Sets roles from a schema (a loaded checkpoint's), for columns this file has. */
  apply(schema: TabularSchema): void {
    const set = (column: string, role: Role, param = '') => {
      const select = this.host.querySelector<HTMLSelectElement>(`select[data-column="${CSS.escape(column)}"]`);
      const input = this.host.querySelector<HTMLInputElement>(`input[data-param="${CSS.escape(column)}"]`);
      if (!select || !input) return;
      input.value = param;
      select.value = role;
      select.dispatchEvent(new Event('change'));
    };
    for (const column of this.columns) set(column, 'ignore');
    for (const l of schema.labels) {
      if (l.type === 'regression') set(l.column, 'label-regression');
      else if ('threshold' in l) set(l.column, 'label-threshold', String(l.threshold));
      else set(l.column, 'label-value', ([] as string[]).concat(l.positive).join(', '));
    }
    for (const n of schema.numeric ?? []) set(n.column, n.log1p ? 'numeric-log1p' : 'numeric');
    for (const c of schema.categorical ?? []) set(c.column, c.hashBuckets ? 'categorical-hash' : c.encoding === 'embedding' ? 'categorical-embedding' : 'categorical-onehot', c.hashBuckets ? String(c.hashBuckets) : '');
  }

  /** The schema the picker describes; throws a plain Error (naming the column) when it cannot train anything. */
  schema(): TabularSchema {
    const labels: LabelRole[] = [];
    const numeric: NonNullable<TabularSchema['numeric']> = [];
    const categorical: NonNullable<TabularSchema['categorical']> = [];
    for (const select of Array.from(this.host.querySelectorAll<HTMLSelectElement>('select[data-column]'))) {
      const column = select.dataset.column!;
      const param = this.host.querySelector<HTMLInputElement>(`input[data-param="${CSS.escape(column)}"]`)!.value.trim();
      switch (select.value as Role) {
        case 'label-value': {
          const positive = param.split(',').map((v) => v.trim()).filter(Boolean);
          if (!positive.length) throw new Error(`column "${column}": list the value(s) that make the label 1`);
          const seen = stats(this.parsed!, this.columns.indexOf(column)).distinct;
          const unseen = positive.filter((v) => !seen.has(v));
          // A streamed file's sample is its first rows only: the encoder's pass over the whole file checks that a positive label exists.
          if (unseen.length && !this.sampled) throw new Error(`column "${column}": ${unseen.map((v) => `"${v}"`).join(', ')} is not one of its values (${[...seen.keys()].slice(0, 8).join(', ')}${seen.size > 8 ? ', …' : ''})`);
          labels.push({ column, type: 'binary', positive });
          break;
        }
        case 'label-threshold':
          if (!NUMBER.test(param)) throw new Error(`column "${column}": the threshold must be a number, got "${param}"`);
          labels.push({ column, type: 'binary', threshold: Number(param) });
          break;
        case 'label-regression':
          labels.push({ column, type: 'regression' });
          break;
        case 'numeric':
        case 'numeric-log1p':
          numeric.push({ column, log1p: select.value === 'numeric-log1p' });
          break;
        case 'categorical-onehot':
        case 'categorical-embedding':
          categorical.push({ column, encoding: select.value === 'categorical-embedding' ? 'embedding' : 'onehot' });
          break;
        case 'categorical-hash': {
          const buckets = Number(param);
          if (!/^\d+$/.test(param) || buckets < 2) throw new Error(`column "${column}": the hash buckets must be a whole number of at least 2, got "${param}"`);
          categorical.push({ column, encoding: 'embedding', hashBuckets: buckets });
          break;
        }
        case 'ignore':
          break;
      }
    }
    if (!labels.length) throw new Error('choose at least one label column (a role starting with "task"): each becomes a task');
    if (!numeric.length && !categorical.length) throw new Error('choose at least one input column (numeric or categorical)');
    return { labels, numeric, categorical };
  }
}
