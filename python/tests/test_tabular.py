"""The CSV encoder: what it produces for each kind of column, and errors that name the file, line and column.
That it encodes exactly as the runtime does is checked against the runtime in test/pytorch-ddp.test.ts."""
import json
import math
import os
import tempfile
import unittest

import numpy as np

from ple_webgpu_torch import DataError, TabularEncoder, parse_csv
from ple_webgpu_torch.tabular import fnv1a32, hashed_row

from helpers import ENCODER, PYTHON_ROOT

# The hash's test vectors, shared with the runtime's test (test/data-formats.test.ts).
with open(os.path.join(PYTHON_ROOT, '..', 'test', 'fixtures', 'fnv1a.json'), encoding='utf-8') as f:
    HASH_VECTORS = json.load(f)


class TabularTest(unittest.TestCase):
    def test_encodes_each_kind_of_column(self):
        text = '\ufeffage, spend ,city,device,clicked,dwell\r\n' \
               '30,0,paris,phone,yes,1.5\r\n' \
               '\r\n' \
               '?,"1e1",rome,"tablet",?,-2\r\n'
        d = TabularEncoder(ENCODER).transform(parse_csv(text, 'small.csv'))
        self.assertEqual(d['rows'], 2)
        np.testing.assert_array_equal(d['x'][0], np.float32([(30 - 48.5) / 17.3, (math.log1p(0) - 3.1) / 1.1, 0, 0, 1, 0, 0]))
        np.testing.assert_array_equal(d['x'][1], np.float32([0, (math.log1p(10) - 3.1) / 1.1, 1, 0, 0, 0, 1]))
        np.testing.assert_array_equal(d['categorical'], [[1], [0]])  # rome is unseen: the reserved row 0
        np.testing.assert_array_equal(d['mask'], [[1, 1], [0, 1]])
        self.assertEqual(d['labels'][0].tolist(), [1, 1.5])
        self.assertTrue(math.isnan(d['labels'][1, 0]))

    def test_quoted_fields_keep_line_numbers(self):
        parsed = parse_csv('a,b\n"x,\ny",1\n\n2,3\n', 'q.csv')
        self.assertEqual(parsed.rows, [['x,\ny', '1'], ['2', '3']])
        self.assertEqual(parsed.line_of, [2, 5])

    def test_errors_name_file_line_and_column(self):
        encoder = TabularEncoder(ENCODER)
        cases = [
            ('age,spend,city,clicked,dwell\n1,2,paris,yes,3\n', 'other.csv has no column "device" (categorical)'),
            ('age,spend,city,device,clicked,dwell\n1,2,paris,phone,yes,3\n1,two,paris,phone,yes,3\n', 'other.csv line 3: column "spend": expected a number, got "two"'),
            ('age,spend,city,device,clicked,dwell\n1,-3,paris,phone,yes,3\n', 'other.csv line 2: column "spend": log1p needs a value above -1'),
            ('age,spend,city,device,clicked,dwell\n1,2,paris,phone,yes\n', 'other.csv line 2: expected 6 fields, got 5'),
            ('age,age\n1,2\n', 'other.csv line 1: column "age" appears twice'),
            ('', 'other.csv is empty'),
        ]
        for text, expected in cases:
            with self.assertRaises(DataError) as e:
                encoder.transform(parse_csv(text, 'other.csv'))
            self.assertIn(expected, str(e.exception))

    def test_hash_is_the_runtimes_fnv1a(self):
        for v in HASH_VECTORS['published'] + HASH_VECTORS['utf8']:
            self.assertEqual(fnv1a32(v['text']), int(v['fnv1a32'], 16), repr(v['text']))
        for v in HASH_VECTORS['rows']:
            self.assertEqual(hashed_row(v['text'], v['buckets']), v['row'], f'{v["text"]!r} in {v["buckets"]}')

    def test_streamed_runs_encoder_hashes_cuts_vocabularies_and_counts_missing_labels(self):
        # As npm start -- --data file --hash user:4096 --min-count 2 --negative-if-missing buy stores it: the
        # run's data state wraps the encoder; a hashed table has no vocabulary; rare values were cut.
        state = {'kind': 'file', 'source': 'log.parquet', 'schema': {}, 'validationFraction': 0.1, 'seed': 1, 'encoder': {
            'version': 1, 'missing': ['?', '', 'NA'],
            'tasks': [{'name': 'click', 'column': 'click', 'type': 'binary', 'threshold': 0.5},
                      {'name': 'buy', 'column': 'buy', 'type': 'binary', 'threshold': 0.5, 'missingAs': 0}],
            'numeric': [{'column': 'f0', 'log1p': False, 'mean': 0.5, 'std': 2, 'hasMissing': False}],
            'categorical': [{'column': 'user', 'encoding': 'embedding', 'vocabulary': [], 'dim': 8, 'hashBuckets': 4096},
                            {'column': 'item', 'encoding': 'embedding', 'vocabulary': ['7', '3'], 'dim': 4}]}}
        encoder = TabularEncoder(state)
        self.assertEqual(encoder.embeddings, [{'column': 'user', 'vocabulary': 4096, 'dim': 8}, {'column': 'item', 'vocabulary': 3, 'dim': 4}])
        d = encoder.transform(parse_csv('user,item,f0,click,buy\n42,3,1.5,1,1\n Paris ,9,0,0,\n?,7,NA,1,?\n', 'log.csv'))
        # 42 and Paris (trimmed) take their hashed rows, a missing user row 0; item 9 was cut (row 0).
        np.testing.assert_array_equal(d['categorical'], [[hashed_row('42', 4096), 2], [hashed_row('Paris', 4096), 0], [0, 1]])
        self.assertEqual(d['categorical'][0, 0], 1092)  # the fixture's row of "42" in 4096 buckets
        np.testing.assert_array_equal(d['x'][:, 0], np.float32([0.5, -0.25, 0]))
        # buy counts a missing label as 0 and keeps the row; click has no missingAs.
        np.testing.assert_array_equal(d['labels'], np.float32([[1, 1], [0, 0], [1, 0]]))
        np.testing.assert_array_equal(d['mask'], [[1, 1], [1, 1], [1, 1]])

    def test_rejects_an_encoder_of_another_version(self):
        with self.assertRaises(ValueError):
            TabularEncoder({**ENCODER, 'version': 2})


if __name__ == '__main__':
    unittest.main()
