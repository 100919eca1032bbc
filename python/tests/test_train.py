"""Distributed training: W processes take the same steps as one process with the same global batch; bad
arguments and data are refused before any process starts; an interrupted run leaves a whole checkpoint."""
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import torch

from ple_webgpu_torch import TabularEncoder, load_checkpoint, read_csv, train
from ple_webgpu_torch.targets import read_scaling, unscale_predictions
from ple_webgpu_torch.checkpoint import read_file

from helpers import PYTHON_ROOT, model_config, read_json, run_module, write_checkpoint, write_csv


class TrainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.ckpt = os.path.join(cls.dir, 'start.safetensors')
        cls.train = os.path.join(cls.dir, 'train.csv')
        write_checkpoint(cls.ckpt, optimizer={'kind': 'adamw', 'lr': 0.01, 'weightDecay': 0.01})
        write_csv(cls.train, 75, seed=1)  # 75 rows: batches of 16 leave a partial one, and 2 processes an odd row

    def train_run(self, out, world, dtype, epochs=2, extra=()):
        r = run_module('train', '--checkpoint', self.ckpt, '--train', self.train, '--test', self.train, '--epochs', epochs,
                       '--world-size', world, '--batch-size', 16, '--dtype', dtype, '--out', out, '--clip', 5, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return load_checkpoint(out, dtype=torch.float64)

    def test_two_processes_take_the_same_steps_as_one(self):
        # In float64 the only difference is the order of the sums across processes.
        for dtype, tol in (('float64', 1e-12),):
            one = self.train_run(os.path.join(self.dir, f'one-{dtype}.safetensors'), 1, dtype)
            two = self.train_run(os.path.join(self.dir, f'two-{dtype}.safetensors'), 2, dtype)
            self.assertEqual(one.step, 2 * 5)
            self.assertEqual(two.step, one.step)
            for (name, p), (_, q) in zip(one.model.named_tensors(), two.model.named_tensors()):
                moved = (p - load_checkpoint(self.ckpt, dtype=torch.float64).model.param(name)).abs().max().item()
                gap = (p - q).abs().max().item()
                self.assertLessEqual(gap, tol * max(moved, 1e-3), f'{dtype} {name}: gap {gap:.3e}, moved {moved:.3e}')
            h1, h2 = one.meta['training']['history'], two.meta['training']['history']
            for a, b in zip(h1, h2):
                self.assertAlmostEqual(a['train']['loss'], b['train']['loss'], delta=tol * 10)
                self.assertAlmostEqual(a['test']['click']['auc'], b['test']['click']['auc'], delta=1e-6 if dtype == 'float64' else 1e-3)
            # Test metrics are in the regression target's own units: the checkpoint's predictions, unscaled.
            data = TabularEncoder(two.meta['data']).transform(read_csv(self.train))
            scaling = read_scaling(two.meta['training'])
            self.assertEqual(scaling, {'dwell': (2.0, 1.5)})
            with torch.no_grad():
                pred = unscale_predictions(two.model.predict(torch.as_tensor(data['x'], dtype=torch.float64), torch.as_tensor(data['categorical'])).numpy(), two.model.config['tasks'], scaling)
            self.assertAlmostEqual(h2[-1]['test']['dwell']['mse'], float(((pred[:, 1] - data['labels'][:, 1]) ** 2).mean()), delta=1e-4)
            metrics = read_json(os.path.join(self.dir, f'two-{dtype}.metrics.json'))
            self.assertEqual([e['epoch'] for e in metrics['epochs']], [1, 2])
            self.assertEqual(set(metrics['epochs'][0]['test']), {'click', 'dwell'})

    def test_bad_arguments_and_data(self):
        out = os.path.join(self.dir, 'never.safetensors')
        no_data = os.path.join(self.dir, 'no-data.safetensors')
        write_checkpoint(no_data, data=None)
        short = os.path.join(self.dir, 'short.csv')
        write_csv(short, 1)
        wrong = os.path.join(self.dir, 'wrong.csv')
        with open(wrong, 'w') as f:
            f.write('age,spend,town,device,clicked,dwell\n1,2,paris,phone,yes,3\n')
        cases = [
            (['--world-size', 3, '--batch-size', 16], '--batch-size 16 is not a multiple of --world-size 3'),
            (['--world-size', 0], '--world-size must be >= 1'),
            (['--world-size', 2, '--train', short], 'has 1 rows, fewer than --world-size 2'),
            (['--train', wrong], 'wrong.csv has no column "city" (categorical)'),
            (['--checkpoint', no_data], 'has no data encoder'),
            (['--checkpoint', self.train], 'train.csv: not a safetensors file'),
        ]
        for args, expected in cases:
            flags = {'--checkpoint': self.ckpt, '--train': self.train, '--out': out, **dict(zip(args[::2], args[1::2]))}
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr):
                status = train.main([str(x) for kv in flags.items() for x in kv])
            self.assertEqual(status, 2, stderr.getvalue())
            self.assertIn(expected, stderr.getvalue())
        self.assertFalse(os.path.exists(out))

    def test_an_interrupted_run_leaves_a_whole_checkpoint(self):
        big = os.path.join(self.dir, 'big.csv')
        write_csv(big, 2000, seed=2)
        for sig in (signal.SIGINT, signal.SIGKILL):
            out = os.path.join(self.dir, f'interrupted-{sig.name}.safetensors')
            write_checkpoint(out, seed=5)  # the previous checkpoint at OUT
            before = read_file(out)
            start_before = read_file(self.ckpt)
            env = {**os.environ, 'PYTHONPATH': PYTHON_ROOT}
            proc = subprocess.Popen([sys.executable, '-m', 'ple_webgpu_torch.train', '--checkpoint', self.ckpt, '--train', big, '--epochs', '1000',
                                     '--world-size', '2', '--batch-size', '8', '--out', out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
            try:
                first = proc.stdout.readline()  # the first report line: the processes are training
                self.assertIn('rank 0 of 2', first)
                time.sleep(1.5)
                os.killpg(proc.pid, sig)
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.stdout.close()
                proc.stderr.close()
            self.assertNotEqual(proc.returncode, 0)
            self.assertEqual(read_file(self.ckpt), start_before)
            after = read_file(out)
            if after != before:  # an epoch finished first: then OUT is that epoch's complete checkpoint
                self.assertGreaterEqual(load_checkpoint(out).meta['training']['epoch'], 1)
            load_checkpoint(out)
            if sig == signal.SIGINT:  # the processes unwind and remove their temporary files
                self.assertEqual([f for f in os.listdir(self.dir) if '.tmp-' in f], [])


if __name__ == '__main__':
    unittest.main()
