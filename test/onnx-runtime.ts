/** Runs ONNX models in ONNX Runtime (onnxruntime-web's WASM backend, one thread) and checks them with python3-onnx's checker. */
import * as ort from 'onnxruntime-web';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

ort.env.wasm.numThreads = 1;

export interface OnnxFeeds {
  /** rows x inputDim, row-major (omitted when the model has no dense input). */
  x?: Float32Array;
  inputDim?: number;
  /** Per embedding table (by name): the row each sample looks up. */
  indices?: Record<string, ArrayLike<number>>;
  rows: number;
}

/** Every output of the model, by name, as float arrays. */
export async function runOnnx(bytes: Uint8Array, feeds: OnnxFeeds): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const inputs: Record<string, ort.Tensor> = {};
    if (feeds.x) inputs.x = new ort.Tensor('float32', feeds.x, [feeds.rows, feeds.inputDim!]);
    for (const [name, idx] of Object.entries(feeds.indices ?? {})) {
      inputs[`index.${name}`] = new ort.Tensor('int64', BigInt64Array.from(Array.from(idx), BigInt), [feeds.rows]);
    }
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** Runs onnx.checker.check_model(full_check=True) on each file; throws with the checker's message. Needs Debian's python3-onnx. */
export function checkWithOnnxChecker(files: string[]): void {
  // Debian's interpreter, where python3-onnx lives (a python3 earlier on PATH, e.g. pyenv's, lacks it); PYTHON overrides.
  const python = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const script = [
    'import sys, onnx',
    'for f in sys.argv[1:]:',
    '    onnx.checker.check_model(onnx.load(f), full_check=True)',
    'print("ok", onnx.__version__)',
  ].join('\n');
  try {
    execFileSync(python, ['-c', script, ...files], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const text = err.stderr || err.message;
    if (/No module named .?onnx|ENOENT/.test(text)) throw new Error(`the ONNX checker needs python3 with the onnx module (apt-get install python3-onnx): ${text}`);
    throw new Error(`onnx.checker rejected the model: ${text}`);
  }
}
