/**
 * The topology of a model, derived once from a validated config: which experts
 * each group owns, which experts each gate mixes, and the named parameter
 * tensors. Both the GPU plan and the float64 reference are built from it.
 *
 * Conventions (one level):
 * - Groups: group k < K holds task k's experts and reads task k's input; group K
 *   holds the shared experts and reads the shared input. Level 1 reads x everywhere.
 * - Experts are numbered across the level: task 0's, task 1's, ..., then the shared ones.
 * - Gates: gate k < K mixes task k's experts then the shared ones; gate K (every level
 *   but the last) is the shared gate over all experts. Gate g reads group g's input
 *   and produces the level's output g.
 * - A gate over a single expert is the identity: it has no parameters (shared-bottom).
 */
import { resolveConfig, type ModelConfig, type ResolvedModelConfig } from './config.js';

/** A group of one level's experts: one task's own experts, or the shared ones. */
export interface GroupSpec {
  /** `task<k>` or `shared`, as in parameter names. */
  name: string;
  /** Task index, or null for the shared group. */
  task: number | null;
  /** Experts in the group. */
  experts: number;
  /** Index of the group's first expert in the level's expert numbering. */
  firstExpert: number;
}

/** A gate of one level: which experts it mixes and where its weights sit in the level's gate output. */
export interface GateSpec {
  /** `task<k>` or `shared`, as in parameter names. */
  name: string;
  /** Group whose input the gate reads (equal to its own index). */
  group: number;
  /** Expert indices mixed, in gate-output order. */
  members: number[];
  /** False for a gate over one expert, which is the identity. */
  hasParams: boolean;
  /** First column of this gate in the level's [B, gateColumns] weight matrix. */
  column: number;
}

/** One extraction level of the derived topology. */
export interface LevelSpec {
  /** 0-based level index. */
  index: number;
  /** Width of each group's input to this level. */
  inDim: number;
  /** Each expert's layer widths. */
  widths: number[];
  /** Width of each expert's output (its last layer). */
  outDim: number;
  groups: GroupSpec[];
  /** Experts in the level, all groups together. */
  numExperts: number;
  gates: GateSpec[];
  /** Columns of the level's gate-weight matrix [rows x gateColumns]: every gate's experts side by side. */
  gateColumns: number;
}

/** One named parameter tensor (float32, row-major), as stored in checkpoints. */
export interface ParamSpec {
  /** E.g. `level0.task1.experts.layer0.weight` (see {@link names}). */
  name: string;
  shape: number[];
  /** Number of values (the product of the shape). */
  size: number;
  /** Fan-in and fan-out for initialisation; `relu` picks He, otherwise Glorot. */
  fanIn: number;
  /** Fan-out for initialisation. */
  fanOut: number;
  /** Biases and log-variances start at zero. */
  kind: 'weight' | 'bias' | 'embedding' | 'log_variance';
  /** True when a ReLU follows this weight's layer. */
  relu: boolean;
}

/** One embedding table of the model. */
export interface EmbeddingSpec {
  name: string;
  /** Rows of the table. */
  vocabulary: number;
  /** Width of a vector. */
  dim: number;
  /** First column of this table's vectors in the model's input row. */
  column: number;
}

/** A model's topology derived from its validated config ({@link buildSpec}): groups, gates and named parameters per level. */
export interface ModelSpec {
  /** The config with every default filled in. */
  config: ResolvedModelConfig;
  /** Dense input width (what a batch's x holds per row). */
  inputDim: number;
  /** The embedding tables, in the order of a batch's categorical columns. */
  embeddings: EmbeddingSpec[];
  /** The width level 1 reads: dense inputs then every embedding vector. */
  modelInputDim: number;
  /** Tasks (K). */
  numTasks: number;
  levels: LevelSpec[];
  /** Tower layer widths including the final 1. */
  towerDims: number[];
  /** Width of a tower's input (the last level's output). */
  towerIn: number;
  /** Every parameter tensor, in the order of the flat parameter buffer. */
  params: ParamSpec[];
}

/** The parameter naming scheme (checkpoint tensor names); exported as `paramNames`. */
export const names = {
  /** A group's name: `task<k>` or `shared`. */
  group: (g: GroupSpec) => (g.task === null ? 'shared' : `task${g.task}`),
  /** A group's expert weights of one layer. */
  expertWeight: (level: number, group: string, layer: number) => `level${level}.${group}.experts.layer${layer}.weight`,
  /** A group's expert biases of one layer. */
  expertBias: (level: number, group: string, layer: number) => `level${level}.${group}.experts.layer${layer}.bias`,
  /** A gate's weight matrix [input, experts]. */
  gateWeight: (level: number, gate: string) => `level${level}.${gate}.gate.weight`,
  /** A gate's bias (when the config asks for gate biases). */
  gateBias: (level: number, gate: string) => `level${level}.${gate}.gate.bias`,
  /** A task tower's layer weight. */
  towerWeight: (task: number, layer: number) => `tower.task${task}.layer${layer}.weight`,
  /** A task tower's layer bias. */
  towerBias: (task: number, layer: number) => `tower.task${task}.layer${layer}.bias`,
  /** An embedding table [vocabulary, dim]. */
  embedding: (name: string) => `embedding.${name}`,
  /** The per-task log-variances of uncertainty weighting. */
  logVariance: 'loss.log_variance',
};

/**
 * Validates a model config and derives its topology.
 * @throws ConfigError naming the offending field (e.g. `levels[1].expertWidths[0]`).
 */
export function buildSpec(modelConfig: ModelConfig): ModelSpec {
  const config = resolveConfig(modelConfig);
  const K = config.tasks.length;
  const params: ParamSpec[] = [];
  const addParam = (p: Omit<ParamSpec, 'size'>) => params.push({ ...p, size: p.shape.reduce((a, b) => a * b, 1) });

  // Embedding tables first: one contiguous range that the lookup and its backward bind.
  let column = config.inputDim;
  const embeddings: EmbeddingSpec[] = config.embeddings.map((e) => {
    addParam({ name: names.embedding(e.name), shape: [e.vocabulary, e.dim], fanIn: e.dim, fanOut: e.dim, kind: 'embedding', relu: false });
    const spec = { ...e, column };
    column += e.dim;
    return spec;
  });
  const modelInputDim = column;

  const levels: LevelSpec[] = [];
  let inDim = modelInputDim;
  config.levels.forEach((lc, j) => {
    const isLast = j === config.levels.length - 1;
    const groups: GroupSpec[] = [];
    let first = 0;
    for (let k = 0; k < K; k++) {
      groups.push({ name: `task${k}`, task: k, experts: lc.taskExperts[k], firstExpert: first });
      first += lc.taskExperts[k];
    }
    groups.push({ name: 'shared', task: null, experts: lc.sharedExperts, firstExpert: first });
    const numExperts = first + lc.sharedExperts;
    const shared = groups[K];
    const range = (start: number, n: number) => Array.from({ length: n }, (_, i) => start + i);

    const gates: GateSpec[] = [];
    let column = 0;
    const addGate = (name: string, group: number, members: number[]) => {
      gates.push({ name, group, members, hasParams: members.length > 1, column });
      column += members.length;
    };
    for (let k = 0; k < K; k++) {
      addGate(`task${k}`, k, [...range(groups[k].firstExpert, groups[k].experts), ...range(shared.firstExpert, shared.experts)]);
    }
    if (!isLast) addGate('shared', K, range(0, numExperts));

    // Parameters are ordered so that each dispatch's weights and its biases form two
    // separate contiguous ranges (a kernel binds them as non-overlapping buffer ranges).
    const widths = lc.expertWidths;
    const withExperts = groups.filter((g) => g.experts > 0);
    widths.forEach((h, l) => {
      const hin = l === 0 ? inDim : widths[l - 1];
      for (const g of withExperts) {
        const shape = l === 0 ? [hin, g.experts * h] : [g.experts, hin, h];
        addParam({ name: names.expertWeight(j, g.name, l), shape, fanIn: hin, fanOut: h, kind: 'weight', relu: true });
      }
      for (const g of withExperts) {
        addParam({ name: names.expertBias(j, g.name, l), shape: [g.experts * h], fanIn: hin, fanOut: h, kind: 'bias', relu: true });
      }
    });
    const paramGates = gates.filter((gate) => gate.hasParams);
    for (const gate of paramGates) {
      const n = gate.members.length;
      addParam({ name: names.gateWeight(j, gate.name), shape: [inDim, n], fanIn: inDim, fanOut: n, kind: 'weight', relu: false });
    }
    if (config.gateBias) {
      for (const gate of paramGates) {
        const n = gate.members.length;
        addParam({ name: names.gateBias(j, gate.name), shape: [n], fanIn: inDim, fanOut: n, kind: 'bias', relu: false });
      }
    }
    levels.push({ index: j, inDim, widths, outDim: widths[widths.length - 1], groups, numExperts, gates, gateColumns: column });
    inDim = widths[widths.length - 1];
  });

  const towerIn = inDim;
  const towerDims = [...config.towerWidths, 1];
  towerDims.forEach((t, l) => {
    const tin = l === 0 ? towerIn : towerDims[l - 1];
    const relu = l < towerDims.length - 1;
    for (let k = 0; k < K; k++) addParam({ name: names.towerWeight(k, l), shape: [tin, t], fanIn: tin, fanOut: t, kind: 'weight', relu });
    for (let k = 0; k < K; k++) addParam({ name: names.towerBias(k, l), shape: [t], fanIn: tin, fanOut: t, kind: 'bias', relu });
  });

  if (config.uncertaintyWeighting) addParam({ name: names.logVariance, shape: [K], fanIn: 1, fanOut: 1, kind: 'log_variance', relu: false });

  return { config, inputDim: config.inputDim, embeddings, modelInputDim, numTasks: K, levels, towerDims, towerIn, params };
}

/** Total number of trainable scalars. */
export function parameterCount(spec: ModelSpec): number {
  return spec.params.reduce((a, p) => a + p.size, 0);
}
