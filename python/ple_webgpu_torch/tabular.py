"""CSV input encoded exactly as the runtime encodes it: parse_csv follows src/data/csv.ts (header line, quoted
fields, blank lines skipped, file line numbers kept) and TabularEncoder.transform follows src/data/tabular.ts,
driven by the encoder JSON a checkpoint stores in its "data" metadata: whether the runtime read the training
rows into memory (--data csv) or streamed them from a CSV, Parquet or Arrow file or the click log (--data file,
--data clicklog), with vocabularies cut by --min-count / --max-vocab, hashed columns (--hash COL:BUCKETS,
fnv1a32 below, as src/data/hash.ts) and labels that count a missing value as a number (missingAs). A cell's text
is the trimmed CSV field, as the runtime's text of a Parquet or Arrow integer or string cell is its decimal or
string form, so a CSV with the training file's columns encodes as the runtime encodes that file."""
import csv
import io
import math
import re

import numpy as np

NUMBER = re.compile(r'^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$')
F32_MAX = 3.4028234663852886e38


def fnv1a32(text):
    """32-bit FNV-1a over the UTF-8 bytes of text (a lone surrogate counts as U+FFFD, as in the runtime)."""
    h = 0x811c9dc5
    for b in ''.join('\ufffd' if 0xd800 <= ord(c) <= 0xdfff else c for c in text).encode('utf-8'):
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    return h


def hashed_row(text, buckets):
    """The table row of a value in a hashed table of `buckets` rows; row 0 is kept for missing values."""
    return 1 + fnv1a32(text) % (buckets - 1)


class DataError(ValueError):
    """A problem with the data, naming the file, the 1-based file line and the column where known."""

    def __init__(self, source, line, problem, column=None):
        super().__init__(f'{source} {problem}' if line is None else f'{source} line {line}: {problem}')
        self.source, self.line, self.column = source, line, column


class ParsedCsv:
    def __init__(self, header, rows, line_of, source):
        self.header, self.rows, self.line_of, self.source = header, rows, line_of, source


def parse_csv(text, source='input'):
    if text.startswith('\ufeff'):
        text = text[1:]
    records = []
    reader = csv.reader(io.StringIO(text, newline=''), delimiter=',', quotechar='"', strict=True)
    line = 1
    try:
        for fields in reader:
            if not (len(fields) == 0 or (len(fields) == 1 and fields[0].strip() == '')):
                records.append((fields, line))
            line = reader.line_num + 1
    except csv.Error as e:
        raise DataError(source, line, f'CSV syntax error: {e}') from None
    if not records:
        raise DataError(source, None, 'is empty')
    header = [name.strip() for name in records[0][0]]
    for i, name in enumerate(header):
        if name == '':
            raise DataError(source, records[0][1], f'header column {i + 1} has no name')
        if header.index(name) != i:
            raise DataError(source, records[0][1], f'column "{name}" appears twice in the header', name)
    if len(records) == 1:
        raise DataError(source, None, 'has a header but no data rows')
    for fields, at in records[1:]:
        if len(fields) != len(header):
            raise DataError(source, at, f'expected {len(header)} fields, got {len(fields)}')
    return ParsedCsv(header, [r for r, _ in records[1:]], [at for _, at in records[1:]], source)


def read_csv(path):
    with open(path, encoding='utf-8', newline='') as f:
        return parse_csv(f.read(), str(path))


class TabularEncoder:
    """The runtime's encoder from its JSON (version 1)."""

    def __init__(self, state):
        # The checkpoint's "data" is the run's data state ({kind, ..., encoder}) or, as earlier
        # versions of npm start wrote it, the bare encoder.
        if isinstance(state, dict) and 'kind' in state:
            if not isinstance(state.get('encoder'), dict):
                raise ValueError(f'the checkpoint\'s "data" metadata (kind {state["kind"]!r}) holds no tabular encoder')
            state = state['encoder']
        if not isinstance(state, dict) or state.get('version') != 1 or not all(isinstance(state.get(k), list) for k in ('tasks', 'numeric', 'categorical', 'missing')):
            raise ValueError('the checkpoint\'s "data" metadata is not a version 1 tabular encoder')
        self.state = state
        numeric = [n['column'] for n in state['numeric']]
        indicators = [f'{n["column"]}:missing' for n in state['numeric'] if n['hasMissing']]
        onehot = [f'{c["column"]}={v}' for c in state['categorical'] if c['encoding'] == 'onehot' for v in ['<unknown>'] + c['vocabulary']]
        self.dense_names = numeric + indicators + onehot
        # A table has the unknown row 0 and a row per vocabulary value, or hashBuckets rows when hashed.
        self.embeddings = [{'column': c['column'], 'vocabulary': c.get('hashBuckets') or len(c['vocabulary']) + 1, 'dim': c['dim']}
                           for c in state['categorical'] if c['encoding'] == 'embedding']
        self.tasks = [{'name': t['name'], 'type': t['type']} for t in state['tasks']]

    def transform(self, parsed):
        """{'x': float32 [rows, dense], 'categorical': int64 [rows, tables], 'labels': float32 (NaN missing), 'mask'}."""
        st, source = self.state, parsed.source
        missing = set(st['missing'])

        def col(name, role):
            if name not in parsed.header:
                raise DataError(source, None, f'has no column "{name}" ({role}), which the checkpoint\'s data encoder reads; its columns are: {", ".join(parsed.header)}', name)
            return parsed.header.index(name)

        numeric_idx = [col(n['column'], 'numeric') for n in st['numeric']]
        categorical_idx = [col(c['column'], 'categorical') for c in st['categorical']]
        task_idx = [col(t['column'], f'label of task "{t["name"]}"') for t in st['tasks']]
        vocabularies = [{v: i + 1 for i, v in enumerate(c['vocabulary'])} for c in st['categorical']]
        rows, K, E, D = len(parsed.rows), len(st['tasks']), len(self.embeddings), len(self.dense_names)
        dense = np.zeros((rows, D), dtype=np.float64)
        categorical = np.zeros((rows, E), dtype=np.int64)
        labels = np.zeros((rows, K), dtype=np.float32)
        for r, row in enumerate(parsed.rows):
            line = parsed.line_of[r]
            d = 0
            indicators = []
            for n, j in zip(st['numeric'], numeric_idx):
                v = _numeric(row[j].strip(), n, missing, source, line)
                z = 0.0 if v is None else (v - n['mean']) / n['std']  # missing takes the mean, 0 once standardised
                dense[r, d] = max(-F32_MAX, min(F32_MAX, z))
                d += 1
                if n['hasMissing']:
                    indicators.append(1.0 if v is None else 0.0)
            for v in indicators:
                dense[r, d] = v
                d += 1
            e = 0
            for c, j, vocab in zip(st['categorical'], categorical_idx, vocabularies):
                text = row[j].strip()
                # Unseen, rare (cut by min-count / max-vocab) or missing values take row 0.
                index = 0 if text in missing else hashed_row(text, c['hashBuckets']) if c.get('hashBuckets') else vocab.get(text, 0)
                if c['encoding'] == 'embedding':
                    categorical[r, e] = index
                    e += 1
                else:
                    dense[r, d + index] = 1.0
                    d += len(c['vocabulary']) + 1
            for k, (t, j) in enumerate(zip(st['tasks'], task_idx)):
                labels[r, k] = _label(row[j].strip(), t, missing, source, line)
        mask = (~np.isnan(labels)).astype(np.float32)
        return {'rows': rows, 'x': dense.astype(np.float32), 'categorical': categorical, 'labels': labels, 'mask': mask}


def _parse_number(value, column, source, line):
    v = float(value) if NUMBER.match(value) else math.nan
    if not math.isfinite(v):
        raise DataError(source, line, f'column "{column}": expected a number, got "{value}"', column)
    return v


def _numeric(value, n, missing, source, line):
    if value in missing:
        return None
    v = _parse_number(value, n['column'], source, line)
    if not n['log1p']:
        return v
    if v <= -1:
        raise DataError(source, line, f'column "{n["column"]}": log1p needs a value above -1, got {value}', n['column'])
    return math.log1p(v)


def _label(value, task, missing, source, line):
    if value in missing:
        # A missing label masks the row out of the task, unless the task counts it as a value (missingAs).
        return math.nan if task.get('missingAs') is None else float(task['missingAs'])
    if task.get('positive') is not None:
        return 1.0 if value in task['positive'] else 0.0
    v = _parse_number(value, task['column'], source, line)
    return v if task.get('threshold') is None else (1.0 if v > task['threshold'] else 0.0)
