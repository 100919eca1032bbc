"""Checkpoints: the round trip through the file, and a clear error for each kind of bad file."""
import json
import os
import shutil
import struct
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch

from ple_webgpu_torch import CheckpointError, load_checkpoint, safetensors, save_checkpoint
from ple_webgpu_torch.checkpoint import FORMAT, read_file

from helpers import ENCODER, model_config, write_checkpoint


def rewrite(src, dst, edit_tensors=None, edit_metadata=None):
    tensors, metadata = safetensors.decode(read_file(src))
    if edit_tensors:
        edit_tensors(tensors)
    if edit_metadata:
        edit_metadata(metadata)
    with open(dst, 'wb') as f:
        f.write(safetensors.encode(list(tensors.items()), metadata))


class CheckpointTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, 'start.safetensors')
        write_checkpoint(self.path)

    def test_round_trip_keeps_parameters_moments_step_and_metadata(self):
        ckpt = load_checkpoint(self.path)
        x = torch.randn(6, ckpt.model.config['inputDim'])
        cat = torch.randint(0, 4, (6, 1))
        loss = ckpt.model(x, cat).pow(2).sum()
        loss.backward()
        ckpt.optimizer.step()
        out = os.path.join(self.dir, 'out.safetensors')
        save_checkpoint(out, ckpt.model, ckpt.optimizer, {'optimizer': ckpt.optimizer_config, 'step': 1, 'data': ENCODER, 'training': {'epoch': 3}})
        again = load_checkpoint(out)
        self.assertEqual(again.step, 1)
        self.assertEqual(again.meta['data'], ENCODER)
        self.assertEqual(again.meta['training'], {'epoch': 3})
        for (name, p), (_, q) in zip(ckpt.model.named_tensors(), again.model.named_tensors()):
            self.assertTrue(torch.equal(p, q), name)
            a, b = ckpt.optimizer.state[p], again.optimizer.state[q]
            self.assertTrue(torch.equal(a['exp_avg'], b['exp_avg']) and torch.equal(a['exp_avg_sq'], b['exp_avg_sq']), name)
            self.assertEqual(float(b['step']), 1.0)
        self.assertEqual([f for f in os.listdir(self.dir) if '.tmp-' in f], [])

    def test_unknown_format_or_version(self):
        for value in ('something-else/1', 'ple-webgpu-checkpoint/99'):
            bad = os.path.join(self.dir, 'bad.safetensors')
            rewrite(self.path, bad, edit_metadata=lambda m: m.update(format=value))
            with self.assertRaises(CheckpointError) as e:
                load_checkpoint(bad)
            self.assertIn('bad.safetensors', str(e.exception))
            self.assertIn(value, str(e.exception))
            self.assertIn(FORMAT, str(e.exception))

    def test_config_the_package_cannot_build(self):
        cases = [
            (lambda c: c.update(activation='gelu'), 'config.activation: unknown field'),
            (lambda c: c['tasks'][1].update(type='ranking'), 'config.tasks[1].type'),
            (lambda c: c['levels'][0].update(expertWidths=[]), 'config.levels[0].expertWidths'),
            (lambda c: c['levels'][1].update(taskExperts=[0, 0], sharedExperts=0), 'config.levels[1].taskExperts'),
        ]
        for edit, expected in cases:
            config = model_config()
            edit(config)
            bad = os.path.join(self.dir, 'bad.safetensors')
            rewrite(self.path, bad, edit_metadata=lambda m: m.update(config=json.dumps(config)))
            with self.assertRaises(CheckpointError) as e:
                load_checkpoint(bad)
            self.assertIn(expected, str(e.exception))

    def test_bad_optimizer_step_and_tensors(self):
        cases = [
            (None, lambda m: m.update(optimizer='{"kind": "lamb", "lr": 0.1}'), 'optimizer.kind'),
            (None, lambda m: m.update(step='-1'), 'metadata "step"'),
            (None, lambda m: m.pop('config'), 'metadata "config" is missing'),
            (lambda t: t.pop('tower.task1.layer0.bias'), None, 'parameter tower.task1.layer0.bias is missing'),
            (lambda t: t.pop('optimizer.m2.embedding.city'), None, 'optimizer.m2 of embedding.city is missing'),
            (lambda t: t.update({'level0.task0.gate.weight': np.zeros(3, np.float32)}), None, 'level0.task0.gate.weight has 3 values'),
        ]
        for edit_tensors, edit_metadata, expected in cases:
            bad = os.path.join(self.dir, 'bad.safetensors')
            rewrite(self.path, bad, edit_tensors, edit_metadata)
            with self.assertRaises(CheckpointError) as e:
                load_checkpoint(bad)
            self.assertIn(expected, str(e.exception))

    def test_not_safetensors(self):
        data = read_file(self.path)
        (length,) = struct.unpack('<Q', data[:8])
        header = json.loads(data[8:8 + length])
        name = next(k for k in header if k != '__metadata__')
        header[name]['dtype'] = 'F16'
        text = json.dumps(header).encode()
        cases = [
            (b'\x01\x02', 'too short'),
            (data[:len(data) // 2], 'truncated'),
            (struct.pack('<Q', 4) + b'nope', 'not valid UTF-8 JSON'),
            (struct.pack('<Q', len(text)) + text + data[8 + length:], 'unsupported dtype F16'),
        ]
        for content, expected in cases:
            bad = os.path.join(self.dir, 'bad.safetensors')
            with open(bad, 'wb') as f:
                f.write(content)
            with self.assertRaises(CheckpointError) as e:
                load_checkpoint(bad)
            self.assertIn(expected, str(e.exception))

    def test_a_failed_write_keeps_the_previous_file(self):
        before = read_file(self.path)
        ckpt = load_checkpoint(self.path)
        with mock.patch('os.replace', side_effect=OSError('disk full')):
            with self.assertRaises(OSError):
                save_checkpoint(self.path, ckpt.model, ckpt.optimizer, {'optimizer': ckpt.optimizer_config, 'step': 5})
        self.assertEqual(read_file(self.path), before)
        self.assertEqual(sorted(os.listdir(self.dir)), ['start.safetensors'])


if __name__ == '__main__':
    unittest.main()
