/**
 * A synthetic click log with a known generating model, as a row source: user
 * and item IDs with Zipf-like popularity, a few dense features, a click on
 * every row and a conversion labelled only on clicked rows (null elsewhere),
 * PLE's sample-space problem (eq. 9).
 *
 *   user u ~ Zipf(users, s), item i ~ Zipf(items, s)   (P(rank r) ∝ r^-s)
 *   p_u, q_u, v_i ~ N(0, I_k / k), one vector per ID, fixed by the seed
 *   f_0..f_{d-1} ~ N(0, 1)
 *   click      ~ Bernoulli(σ(-1 + 3 p_u·v_i + 0.6 f_0 - 0.4 f_1))
 *   conversion ~ Bernoulli(σ(-0.5 + 3 q_u·v_i + 1.5 p_u·v_i + 0.8 f_2)), only when clicked
 *
 * Chunk c of a pass is drawn from its own generator (seed, c), so every pass,
 * and `probabilities`, see the same rows. `probabilities` gives the true click
 * and conversion probabilities of each row: their AUCs are the best any model can reach.
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
  /** Rows per chunk (default 65536). */
  chunkRows?: number;
}

export const CLICKLOG_CHUNK = 65536;

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export class Clicklog {
  readonly users: number;
  readonly items: number;
  readonly denseCount: number;
  readonly chunkRows: number;
  private readonly userCdf: Float64Array;
  private readonly itemCdf: Float64Array;
  private readonly p: Float32Array;
  private readonly q: Float32Array;
  private readonly v: Float32Array;
  private readonly k: number;

  constructor(readonly o: ClicklogOptions) {
    this.users = o.users ?? 20000;
    this.items = o.items ?? 5000;
    this.denseCount = Math.max(3, o.dense ?? 4);
    this.k = o.factors ?? 4;
    this.chunkRows = o.chunkRows ?? CLICKLOG_CHUNK;
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
    const vectors = (n: number) => Float32Array.from({ length: n * this.k }, () => rng.normal() / Math.sqrt(this.k));
    this.p = vectors(this.users);
    this.q = vectors(this.users);
    this.v = vectors(this.items);
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
    const dot = (a: Float32Array, i: number, b: Float32Array, j: number) => {
      let s = 0;
      for (let t = 0; t < this.k; t++) s += a[i * this.k + t] * b[j * this.k + t];
      return s;
    };
    for (let r = 0; r < n; r++) {
      const u = pick(this.userCdf);
      const i = pick(this.itemCdf);
      user[r] = u;
      item[r] = i;
      for (const f of dense) f[r] = rng.normal();
      const affinity = dot(this.p, u, this.v, i);
      pClick[r] = sigmoid(-1 + 3 * affinity + 0.6 * dense[0][r] - 0.4 * dense[1][r]);
      pConversion[r] = sigmoid(-0.5 + 3 * dot(this.q, u, this.v, i) + 1.5 * affinity + 0.8 * dense[2][r]);
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
