"""Regression-target scaling as the runtime's CLI records it in checkpoints."""
import math
import unittest

import numpy as np

from ple_webgpu_torch import CheckpointError
from ple_webgpu_torch.targets import read_scaling, scale_labels, unscale_predictions

TASKS = [{'name': 'click', 'type': 'binary'}, {'name': 'dwell', 'type': 'regression'}]


class TargetsTest(unittest.TestCase):
    def test_scales_only_the_recorded_tasks_and_back(self):
        scaling = read_scaling({'targets': {'version': 1, 'tasks': [{'name': 'dwell', 'mean': 3, 'std': 2}]}})
        labels = np.float32([[1, 7], [0, math.nan]])
        scaled = scale_labels(labels, TASKS, scaling)
        np.testing.assert_array_equal(scaled, np.float32([[1, 2], [0, math.nan]]))
        np.testing.assert_array_equal(unscale_predictions(scaled[:1], TASKS, scaling), [[1, 7]])
        self.assertEqual(read_scaling({'epoch': 2}), {})

    def test_a_malformed_scaling_is_an_error(self):
        with self.assertRaises(CheckpointError) as e:
            read_scaling({'targets': {'version': 1, 'tasks': [{'name': 'dwell', 'mean': 0, 'std': 0}]}}, 'ckpt.safetensors')
        self.assertIn('ckpt.safetensors: "targets" is not a version 1 target scaling', str(e.exception))


if __name__ == '__main__':
    unittest.main()
