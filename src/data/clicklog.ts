/**
 * A synthetic click log with a known generating model, as a row source: user
 * and item IDs with Zipf-like popularity, a few dense features, a click on
 * every row and a conversion labelled only on clicked rows (null elsewhere),
 * PLE's sample-space problem (eq. 9).
 *
 *   user u ~ Zipf(users, s), item i ~ Zipf(items, s)          (P(rank r) ∝ r^-s)
 *   f_0..f_{d-1} ~ N(0, 1)
 *   two independent ID components c = S (shared) and O (conversion's own), each
 *     z_c(u, i) = (α_c[u] + β_c[i] + a_c[u]·b_c[i] / √k) / √3
 *   with α, β ~ N(0, 1) and a, b ~ N(0, I_k) per ID, fixed by the seed: a user
 *   and an item effect plus a rank-k interaction, of unit variance over IDs
 *   click      ~ Bernoulli(σ(-1 + γ z_S + 0.6 f_0 - 0.4 f_1))
 *   conversion ~ Bernoulli(σ(-0.5 + γ (ρ z_S + √(1-ρ²) z_O) + 0.8 f_2)), only when clicked
 *
 * ρ (`taskCorrelation`, `--correlation`) is the correlation of the two tasks'
 * ID effects, like the task correlation p of the MMoE paper's synthetic data:
 * at 1 conversion's ID effect is click's, at 0 it is unrelated, below 0 the
 * tasks pull the same embeddings in opposite directions. γ (`idWeight`) sets
 * how much of each label the IDs explain.
 *
 * Chunk c of a pass is drawn from its own generator (seed, c), so every pass
 * sees the same rows. A chunk's `pClick` and `pConversion` are each row's true
 * probabilities: no model scores better (expectedAuc in src/metrics.ts gives
 * their AUC, the Bayes AUC, without label noise).
 */
import { Rng } from '../rng.js';
import type { RowChunk, RowSource } from './rows.js';

export interface ClicklogOptions {
  rows: number;
  seed: number;
  /** Distinct users (default 20000) and items (default 5000). */
  users?: number;
  items?: number;
  /** Zipf exponent s (default 1.05). */
  zipf?: number;
  /** Dense features f_0.. (default 4, at least 3). */
  dense?: number;
  /** Width k of the latent vectors (default 4). */
  factors?: number;
  /** ρ in [-1, 1]: the correlation of click's and conversion's ID effects (default 0.5). */
  taskCorrelation?: number;
  /** γ: the weight of the ID effects in each logit (default 2). */
  idWeight?: number;
  /** Rows per chunk (default 65536). */
  chunkRows?: number;
}

export const CLICKLOG_CHUNK = 65536;

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** One ID component: a bias per user and item and a k-wide vector per user and item. */
interface IdComponent {
  userBias: Float64Array;
  itemBias: Float64Array;
  user: Float64Array;
  item: Float64Array;
}

export class Clicklog {
  readonly users: number;
  readonly items: number;
  readonly denseCount: number;
  readonly chunkRows: number;
  readonly taskCorrelation: number;
  readonly idWeight: number;
  private readonly userCdf: Float64Array;
  private readonly itemCdf: Float64Array;
  private readonly shared: IdComponent;
  private readonly own: IdComponent;
  private readonly k: number;

  constructor(readonly o: ClicklogOptions) {
    this.users = o.users ?? 20000;
    this.items = o.items ?? 5000;
    this.denseCount = Math.max(3, o.dense ?? 4);
    this.k = o.factors ?? 4;
    this.chunkRows = o.chunkRows ?? CLICKLOG_CHUNK;
    this.taskCorrelation = o.taskCorrelation ?? 0.5;
    this.idWeight = o.idWeight ?? 2;
    if (!(this.taskCorrelation >= -1 && this.taskCorrelation <= 1)) throw new RangeError(`clicklog taskCorrelation must be in [-1, 1], got ${o.taskCorrelation}`);
    const s = o.zipf ?? 1.05;
    const cdf = (n: number) => {
      const c = new Float64Array(n);
      let sum = 0;
      for (let r = 0; r < n; r++) c[r] = sum += (r + 1) ** -s;
      return c.map((x) => x / sum);
    };
    this.userCdf = cdf(this.users);
    this.itemCdf = cdf(this.items);
    const rng = new Rng(o.seed ^ 0x636c6963);
    const normals = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
    const component = (): IdComponent => ({
      userBias: normals(this.users),
      itemBias: normals(this.items),
      user: normals(this.users * this.k),
      item: normals(this.items * this.k),
    });
    this.shared = component();
    this.own = component();
  }

  /** z_c(u, i): component c's ID effect, of unit variance over independent IDs. */
  private effect(c: IdComponent, u: number, i: number): number {
    let dot = 0;
    for (let t = 0; t < this.k; t++) dot += c.user[u * this.k + t] * c.item[i * this.k + t];
    return (c.userBias[u] + c.itemBias[i] + dot / Math.sqrt(this.k)) / Math.sqrt(3);
  }

  /** The ID effects of click and of conversion for user u and item i (before the weight γ). */
  idEffects(u: number, i: number): { click: number; conversion: number } {
    const s = this.effect(this.shared, u, i);
    const rho = this.taskCorrelation;
    return { click: s, conversion: rho * s + Math.sqrt(1 - rho * rho) * this.effect(this.own, u, i) };
  }

  /** Column names: user_id, item_id, f0.., click, conversion. */
  get columns(): string[] {
    return ['user_id', 'item_id', ...Array.from({ length: this.denseCount }, (_, j) => `f${j}`), 'click', 'conversion'];
  }

  /** Rows [start, start + count) of chunk c, with the true probabilities. */
  chunk(c: number): { user: Int32Array; item: Int32Array; dense: Float64Array[]; click: Int32Array; conversion: (number | null)[]; pClick: Float64Array; pConversion: Float64Array } {
    const start = c * this.chunkRows;
    const n = Math.max(0, Math.min(this.chunkRows, this.o.rows - start));
    const rng = new Rng((this.o.seed * 0x9e3779b1 + c * 0x85ebca6b + 1) >>> 0);
    const pick = (cdf: Float64Array) => {
      const u = rng.uniform();
      let lo = 0;
      let hi = cdf.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const user = new Int32Array(n);
    const item = new Int32Array(n);
    const dense = Array.from({ length: this.denseCount }, () => new Float64Array(n));
    const click = new Int32Array(n);
    const conversion: (number | null)[] = new Array(n);
    const pClick = new Float64Array(n);
    const pConversion = new Float64Array(n);
    const g = this.idWeight;
    for (let r = 0; r < n; r++) {
      const u = pick(this.userCdf);
      const i = pick(this.itemCdf);
      user[r] = u;
      item[r] = i;
      for (const f of dense) f[r] = rng.normal();
      const z = this.idEffects(u, i);
      pClick[r] = sigmoid(-1 + g * z.click + 0.6 * dense[0][r] - 0.4 * dense[1][r]);
      pConversion[r] = sigmoid(-0.5 + g * z.conversion + 0.8 * dense[2][r]);
      click[r] = rng.uniform() < pClick[r] ? 1 : 0;
      const converted = rng.uniform() < pConversion[r] ? 1 : 0; // drawn on every row so that rows do not shift
      conversion[r] = click[r] ? converted : null;
    }
    return { user, item, dense, click, conversion, pClick, pConversion };
  }

  get chunks(): number {
    return Math.ceil(this.o.rows / this.chunkRows);
  }

  /** The log as a row source (generated chunk by chunk on every pass; nothing is kept). */
  source(): RowSource {
    const names = this.columns;
    return {
      name: `clicklog (${this.o.rows} rows, seed ${this.o.seed})`,
      columns: names.map((name) => ({ name, kind: 'number' as const })),
      rows: this.o.rows,
      chunks: async function* (this: Clicklog) {
        for (let c = 0; c < this.chunks; c++) {
          const d = this.chunk(c);
          const start = c * this.chunkRows;
          const byName = new Map<string, ArrayLike<unknown>>([
            ['user_id', d.user],
            ['item_id', d.item],
            ['click', d.click],
            ['conversion', d.conversion],
            ...d.dense.map((f, j) => [`f${j}`, f] as [string, ArrayLike<unknown>]),
          ]);
          const chunk: RowChunk = { rows: d.user.length, firstRow: start, column: (name) => byName.get(name), where: (i) => `row ${start + i + 1}` };
          yield chunk;
        }
      }.bind(this),
    };
  }
}

/**
 * The click log's roles: click and conversion (binary, thresholds at 0.5),
 * IDs hashed into tables of `buckets` rows (or vocabularies when absent), dense features standardised.
 * conversionOnAllRows: a missing conversion (no click) counts as a negative instead of masking the row.
 */
export function clicklogSchema(o: { dense?: number; userBuckets?: number; itemBuckets?: number; embeddingDim?: number; conversionOnAllRows?: boolean } = {}) {
  const dense = Math.max(3, o.dense ?? 4);
  return {
    labels: [
      { column: 'click', task: 'click', type: 'binary' as const, threshold: 0.5 },
      { column: 'conversion', task: 'conversion', type: 'binary' as const, threshold: 0.5, ...(o.conversionOnAllRows ? { missingAs: 0 } : {}) },
    ],
    numeric: Array.from({ length: dense }, (_, j) => ({ column: `f${j}` })),
    categorical: [
      { column: 'user_id', encoding: 'embedding' as const, embeddingDim: o.embeddingDim ?? 8, hashBuckets: o.userBuckets },
      { column: 'item_id', encoding: 'embedding' as const, embeddingDim: o.embeddingDim ?? 8, hashBuckets: o.itemBuckets },
    ],
  };
}
