"""The CSV encoder: what it produces for each kind of column, and errors that name the file, line and column.
That it encodes exactly as the runtime does is checked against the runtime in test/pytorch-ddp.test.ts."""
import math
import os
import tempfile
import unittest

import numpy as np

from ple_webgpu_torch import DataError, TabularEncoder, parse_csv

from helpers import ENCODER


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

    def test_rejects_an_encoder_of_another_version(self):
        with self.assertRaises(ValueError):
            TabularEncoder({**ENCODER, 'version': 2})


if __name__ == '__main__':
    unittest.main()
