/**
 * `npm start -- export`: writes a checkpoint's model as an ONNX file, and its tabular encoder as
 * JSON beside it (`<name>.encoder.json`) when the checkpoint has one: the graph's input `x` is the
 * encoded row (see src/export/onnx.ts for why the encoding stays outside the graph).
 */
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { readFileBytes, writeFileAtomic } from '../checkpoint/atomic-file.js';
import { exportOnnx, ONNX_ENCODER_KEY, ONNX_OPSET, onnxNames } from '../export/onnx.js';
import { buildSpec } from '../spec.js';
import { encoderJsonOf } from '../serving/predict.js';
import { parseCommand } from './args.js';
import { targetsOf } from './predict.js';

export const exportUsage = `Usage: npm start -- export --checkpoint FILE --onnx FILE [--gates]

Writes the checkpoint's model as an ONNX model (opset ${ONNX_OPSET}, dynamic batch): input "x" (the
encoded row, float [N, inputs]) and "index.<table>" (int64 [N]) per embedding table; one output
per task (probability for binary tasks, value for regression tasks). A checkpoint trained on a CSV
file also gets its encoder as JSON beside the model (<FILE without .onnx>.encoder.json) and
in the model's metadata (key "ple_webgpu.encoder").

  --checkpoint FILE     a checkpoint written by npm start (safetensors)
  --onnx FILE           the ONNX model to write
  --gates               add each gate's weights as outputs "level<j>.<gate>.gate" [N, experts]
  -h, --help            this text
`;

const options = {
  checkpoint: { type: 'string' },
  onnx: { type: 'string' },
  gates: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Where the encoder of `model.onnx` goes: `model.encoder.json`. */
export const encoderPathFor = (onnxPath: string) => `${onnxPath.replace(/\.onnx$/i, '')}.encoder.json`;

export async function exportMain(argv: string[]): Promise<void> {
  const flags = parseCommand('export', argv, options, exportUsage, { checkpoint: 'FILE', onnx: 'FILE' });
  if (!flags) return;
  const ckpt = readCheckpoint(await readFileBytes(flags.checkpoint), flags.checkpoint);
  const json = encoderJsonOf(ckpt.data);
  const bytes = exportOnnx(ckpt, {
    gates: flags.gates,
    targets: targetsOf(ckpt, flags.checkpoint),
    description: `exported from ${flags.checkpoint} (step ${ckpt.step})`,
    metadata: json ? { [ONNX_ENCODER_KEY]: JSON.stringify(json) } : undefined,
  });
  await writeFileAtomic(flags.onnx, bytes);
  const log = (s: string) => process.stdout.write(s + '\n');
  const spec = buildSpec(ckpt.config);
  const inputs = [...(spec.inputDim > 0 ? [`${onnxNames.x} [N, ${spec.inputDim}]`] : []), ...spec.embeddings.map((e) => `${onnxNames.index(e.name)} [N] (rows 0..${e.vocabulary - 1})`)];
  log(`wrote ${flags.onnx} (${bytes.length} bytes, opset ${ONNX_OPSET})`);
  log(`  inputs:  ${inputs.join(', ')}`);
  log(`  outputs: ${spec.config.tasks.map((t) => `${t.name} [N] (${t.type === 'binary' ? 'probability' : 'value'})`).join(', ')}${flags.gates ? ', and the gate weights' : ''}`);
  if (json) {
    await writeFileAtomic(encoderPathFor(flags.onnx), new TextEncoder().encode(JSON.stringify(json, null, 1) + '\n'));
    log(`wrote ${encoderPathFor(flags.onnx)} (the input encoder: x is the encoded row)`);
  } else {
    log('  the checkpoint has no input encoder (synthetic data): x is the raw input row');
  }
}
