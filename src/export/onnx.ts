/**
 * Export to ONNX: a checkpoint's model as an ONNX graph (opset 17, IR version 8) that any ONNX
 * runtime can serve. The graph computes exactly the forward pass of src/reference/model.ts:
 * experts (Linear+ReLU layers), gates (softmax of x W [+ b]), mixtures, the shared gate of every
 * level but the last, towers, and a sigmoid on binary tasks. Browser-safe: no node imports.
 *
 * Inputs (the batch dimension `N` is dynamic):
 *   x                [N, inputDim] float   the encoded dense row (absent when inputDim is 0)
 *   index.<table>    [N] int64             one per embedding table: the row to look up
 * Outputs:
 *   <task name>      [N] float             probability (binary tasks) or value (regression tasks)
 *   level<j>.<gate>.gate  [N, n] float     with `gates`: each gate's weights over its experts, in the
 *                                          order of spec.ts (the task's own experts, then the shared
 *                                          ones; the shared gate: every expert of the level). A gate
 *                                          over a single expert is the identity and has no output.
 *
 * The input encoding (standardisation, one-hot blocks, vocabularies) is NOT in the graph: it
 * parses strings, treats tokens as missing and reports malformed numbers, which ONNX's tensor
 * operators cannot do faithfully. `x` is the encoded row, and the encoder travels beside the model
 * as JSON (TabularEncoder.toJSON, the same object the checkpoint stores): beside it as a file, and
 * in the model's metadata under ONNX_ENCODER_KEY when the caller passes it.
 *
 * The protobuf is written by `onnx-proto` (protobufjs code generated from ONNX's onnx.proto).
 */
import onnxProto, { type onnx as Proto } from 'onnx-proto';
import { buildSpec, names, type ModelSpec } from '../spec.js';
import type { ResolvedModelConfig } from '../config.js';
import type { TargetScaling } from '../data/targets.js';

const { onnx } = onnxProto;

/** The ONNX operator set version exported models declare (the default domain). */
export const ONNX_OPSET = 17;
/** IR version 8 is the one that goes with opsets 17 and 18 (ONNX 1.12-1.13). */
export const ONNX_IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/** A model the exporter cannot express faithfully, or a checkpoint that does not hold one; names the feature. */
export class OnnxExportError extends Error {
  constructor(
    readonly feature: string,
    problem: string,
  ) {
    super(`ONNX export: ${feature}: ${problem}`);
    this.name = 'OnnxExportError';
  }
}

/** Options of exportOnnx: what to add beside the task outputs. */
export interface OnnxExportOptions {
  /** Add every gate's weights as extra outputs. */
  gates?: boolean;
  /** Written into the model's doc string (e.g. where it came from). */
  description?: string;
  /**
   * The checkpoint's regression target scaling (training.targets): a regression task trained on
   * standardised targets gets `value * std + mean` in the graph, so its output is in the target's units.
   */
  targets?: TargetScaling;
  /** Key-value strings stored in the model's metadata_props (e.g. the input encoder under ONNX_ENCODER_KEY). */
  metadata?: Record<string, string>;
}

/** The metadata key under which the input encoder (TabularEncoder.toJSON as JSON text) travels inside the model. */
export const ONNX_ENCODER_KEY = 'ple_webgpu.encoder';

/** What the exporter needs of a checkpoint: the model config and its parameters. */
export interface ExportableModel {
  config: ResolvedModelConfig;
  params: Map<string, Float32Array>;
}

/** The ONNX names of a model's inputs and outputs. */
export const onnxNames = {
  x: 'x',
  /** The int64 [N] input of an embedding table's row indices. */
  index: (table: string) => `index.${table}`,
  /** The [N, members] output of a gate's weights (level numbered from 0). */
  gate: (level: number, gate: string) => `level${level}.${gate}.gate`,
};

// The config fields this exporter knows how to express. A field it does not know (a new layer
// type, activation or normalisation) would change the forward pass, so it refuses rather than
// write a graph that silently differs from the trainer.
const KNOWN = {
  config: ['inputDim', 'embeddings', 'tasks', 'levels', 'towerWidths', 'gateBias', 'uncertaintyWeighting'],
  task: ['name', 'type', 'weight'],
  level: ['taskExperts', 'sharedExperts', 'expertWidths'],
  embedding: ['name', 'vocabulary', 'dim'],
};

function checkExpressible(config: ResolvedModelConfig): void {
  const unknown = (obj: object, known: string[], where: string) => {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) throw new OnnxExportError(`${where}${key}`, 'this model feature has no ONNX translation in this exporter');
    }
  };
  if (config === null || typeof config !== 'object') throw new OnnxExportError('config', 'the checkpoint holds no model config');
  unknown(config, KNOWN.config, '');
  (config.tasks ?? []).forEach((t, k) => {
    unknown(t, KNOWN.task, `tasks[${k}].`);
    if (t.type !== 'binary' && t.type !== 'regression') {
      throw new OnnxExportError(`tasks[${k}].type`, `task ${JSON.stringify(t.name)} has type ${JSON.stringify(t.type)}; only binary and regression tasks are exported`);
    }
  });
  (config.levels ?? []).forEach((l, j) => unknown(l, KNOWN.level, `levels[${j}].`));
  (config.embeddings ?? []).forEach((e, i) => unknown(e, KNOWN.embedding, `embeddings[${i}].`));
}

/** The ONNX model of a checkpoint, as protobuf bytes. */
export function exportOnnx(model: ExportableModel, options: OnnxExportOptions = {}): Uint8Array {
  checkExpressible(model.config);
  const spec = buildSpec(model.config);
  const graph = new GraphBuilder(spec, model.params);
  const outputs = graph.build(options.gates ?? false, options.targets);
  const proto = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'ple-webgpu',
    docString: options.description ?? '',
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'ple_webgpu',
      node: graph.nodes,
      initializer: graph.initializers,
      input: graph.inputs,
      output: outputs,
    },
  });
  return onnx.ModelProto.encode(proto).finish();
}

type Dim = number | 'N';

const intAttr = (name: string, i: number): Proto.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
const intsAttr = (name: string, ints: number[]): Proto.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints });

function valueInfo(name: string, elemType: number, dims: Dim[]): Proto.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (d === 'N' ? { dimParam: 'N' } : { dimValue: d })) } } },
  };
}

/** Builds the graph top to bottom; intermediate values are named `/<what>` so they cannot clash with inputs or outputs. */
class GraphBuilder {
  readonly nodes: Proto.INodeProto[] = [];
  readonly initializers: Proto.ITensorProto[] = [];
  readonly inputs: Proto.IValueInfoProto[] = [];
  private readonly constants = new Map<string, string>();

  constructor(
    private readonly spec: ModelSpec,
    private readonly params: Map<string, Float32Array>,
  ) {}

  private node(opType: string, inputs: string[], output: string, attribute: Proto.IAttributeProto[] = []): string {
    this.nodes.push({ opType, input: inputs, output: [output], name: `${opType}:${output}`, attribute });
    return output;
  }

  /** A parameter as an initializer, reshaped to `shape` (its element count must match). */
  private param(name: string, shape: number[]): string {
    const data = this.params.get(name);
    const want = shape.reduce((a, b) => a * b, 1);
    if (!data) throw new OnnxExportError(name, 'the checkpoint has no such parameter');
    if (data.length !== want) throw new OnnxExportError(name, `the checkpoint holds ${data.length} values, the model needs ${want}`);
    const initializer = `/param/${name}/${shape.join('x')}`;
    if (!this.initializers.some((t) => t.name === initializer)) {
      this.initializers.push({ name: initializer, dataType: FLOAT, dims: shape, rawData: new Uint8Array(Float32Array.from(data).buffer) });
    }
    return initializer;
  }

  /** An int64 constant (shapes, axes, indices). */
  private ints(values: number[], dims: number[] = [values.length]): string {
    const key = `${dims.join('x')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = `/const/${this.constants.size}`;
      this.constants.set(key, name);
      this.initializers.push({ name, dataType: INT64, dims, rawData: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) });
    }
    return name;
  }

  private floats(values: number[]): string {
    const name = `/const/${this.constants.size}`;
    this.constants.set(`float:${name}`, name);
    this.initializers.push({ name, dataType: FLOAT, dims: [values.length], rawData: new Uint8Array(Float32Array.from(values).buffer) });
    return name;
  }

  build(withGates: boolean, targets?: TargetScaling): Proto.IValueInfoProto[] {
    const { spec } = this;
    const outputs: Proto.IValueInfoProto[] = [];
    const taken = new Set<string>();
    const claim = (name: string, what: string) => {
      if (name.startsWith('/')) throw new OnnxExportError(what, `its ONNX name ${JSON.stringify(name)} starts with "/", which the exporter keeps for intermediate values; rename it`);
      if (taken.has(name)) throw new OnnxExportError(what, `its ONNX name ${JSON.stringify(name)} is already used by another input or output; rename it`);
      taken.add(name);
      return name;
    };

    // The model's input row: the dense inputs, then every table's looked-up vector.
    const pieces: string[] = [];
    if (spec.inputDim > 0) {
      this.inputs.push(valueInfo(claim(onnxNames.x, 'input x'), FLOAT, ['N', spec.inputDim]));
      pieces.push(onnxNames.x);
    }
    for (const e of spec.embeddings) {
      const input = claim(onnxNames.index(e.name), `embedding table ${JSON.stringify(e.name)}`);
      this.inputs.push(valueInfo(input, INT64, ['N']));
      const table = this.param(names.embedding(e.name), [e.vocabulary, e.dim]);
      pieces.push(this.node('Gather', [table, input], `/embedding/${e.name}`, [intAttr('axis', 0)]));
    }
    const row = pieces.length === 1 ? pieces[0] : this.node('Concat', pieces, '/input', [intAttr('axis', 1)]);

    let levelInputs = spec.levels[0].groups.map(() => row);
    const gateOutputs: { name: string; n: number }[] = [];
    for (const level of spec.levels) {
      const j = level.index;
      // Every expert's output, stacked [numExperts, N, d] in the level's expert order.
      const stacks = level.groups.filter((g) => g.experts > 0).map((g) => this.expertGroup(j, level.widths, level.inDim, g.name, g.experts, levelInputs[level.groups.indexOf(g)]));
      const experts = stacks.length === 1 ? stacks[0] : this.node('Concat', stacks, `/level${j}/experts`, [intAttr('axis', 0)]);
      levelInputs = level.gates.map((gate) => {
        const prefix = `/level${j}/${gate.name}`;
        const n = gate.members.length;
        if (!gate.hasParams) {
          // A gate over one expert is the identity: the output is that expert's.
          return this.node('Squeeze', [this.node('Gather', [experts, this.ints([gate.members[0]])], `${prefix}/expert`, [intAttr('axis', 0)]), this.ints([0])], `${prefix}/output`);
        }
        let logits = this.node('MatMul', [levelInputs[gate.group], this.param(names.gateWeight(j, gate.name), [level.inDim, n])], `${prefix}/logits`);
        if (spec.config.gateBias) logits = this.node('Add', [logits, this.param(names.gateBias(j, gate.name), [n])], `${prefix}/logits_biased`);
        const weightsName = withGates ? claim(onnxNames.gate(j, gate.name), `gate ${gate.name} of level ${j}`) : `${prefix}/weights`;
        const weights = this.node('Softmax', [logits], weightsName, [intAttr('axis', -1)]);
        if (withGates) gateOutputs.push({ name: weights, n });
        // Mixture: sum_i w[:, i] * E_i, as [n, N, 1] * [n, N, d] summed over the first axis.
        const members = this.node('Gather', [experts, this.ints(gate.members)], `${prefix}/members`, [intAttr('axis', 0)]);
        const w = this.node('Unsqueeze', [this.node('Transpose', [weights], `${prefix}/weights_t`, [intsAttr('perm', [1, 0])]), this.ints([2])], `${prefix}/weights_3d`);
        const weighted = this.node('Mul', [w, members], `${prefix}/weighted`);
        return this.node('ReduceSum', [weighted, this.ints([0])], `${prefix}/output`, [intAttr('keepdims', 0)]);
      });
    }

    spec.config.tasks.forEach((task, k) => {
      let h = levelInputs[k];
      spec.towerDims.forEach((t, l) => {
        const tin = l === 0 ? spec.towerIn : spec.towerDims[l - 1];
        const prefix = `/tower${k}/layer${l}`;
        const z = this.node('Add', [this.node('MatMul', [h, this.param(names.towerWeight(k, l), [tin, t])], `${prefix}/matmul`), this.param(names.towerBias(k, l), [t])], `${prefix}/linear`);
        h = l < spec.towerDims.length - 1 ? this.node('Relu', [z], `${prefix}/relu`) : z;
      });
      const scaling = task.type === 'regression' ? targets?.tasks.find((t) => t.name === task.name) : undefined;
      const value =
        task.type === 'binary'
          ? this.node('Sigmoid', [h], `/tower${k}/probability`)
          : scaling
            ? this.node('Add', [this.node('Mul', [h, this.floats([scaling.std])], `/tower${k}/scaled`), this.floats([scaling.mean])], `/tower${k}/value`)
            : h;
      const output = claim(task.name, `task ${JSON.stringify(task.name)}`);
      this.node('Reshape', [value, this.ints([-1])], output);
      outputs.push(valueInfo(output, FLOAT, ['N']));
    });
    for (const g of gateOutputs) outputs.push(valueInfo(g.name, FLOAT, ['N', g.n]));
    return outputs;
  }

  /**
   * A group's experts, [experts, N, width]. Layer 0's weights are [in, experts * width] (one
   * MatMul for the group); deeper layers' are [experts, in, width] (a batched MatMul).
   */
  private expertGroup(j: number, widths: number[], inDim: number, group: string, experts: number, input: string): string {
    const prefix = `/level${j}/${group}/experts`;
    const h0 = widths[0];
    const relu0 = this.node(
      'Relu',
      [this.node('Add', [this.node('MatMul', [input, this.param(names.expertWeight(j, group, 0), [inDim, experts * h0])], `${prefix}/layer0/matmul`), this.param(names.expertBias(j, group, 0), [experts * h0])], `${prefix}/layer0/linear`)],
      `${prefix}/layer0/relu`,
    );
    // [N, experts * h] -> [N, experts, h] -> [experts, N, h]
    let h = this.node('Transpose', [this.node('Reshape', [relu0, this.ints([0, experts, h0])], `${prefix}/layer0/split`)], `${prefix}/layer0/stacked`, [intsAttr('perm', [1, 0, 2])]);
    for (let l = 1; l < widths.length; l++) {
      const W = this.param(names.expertWeight(j, group, l), [experts, widths[l - 1], widths[l]]);
      const b = this.param(names.expertBias(j, group, l), [experts, 1, widths[l]]);
      h = this.node('Relu', [this.node('Add', [this.node('MatMul', [h, W], `${prefix}/layer${l}/matmul`), b], `${prefix}/layer${l}/linear`)], `${prefix}/layer${l}/relu`);
    }
    return h;
  }
}
