/**
 * The click log's generating model (src/data/clicklog.ts) does what its
 * comment says: the stated logits, the task correlation ρ, Zipf popularity,
 * conversion labelled only on clicked rows, and its Bayes AUC is what its
 * probabilities measure. (Row sources and Parquet round trips: data-formats.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { Clicklog } from '../src/data/clicklog.js';
import { auc, expectedAuc } from '../src/metrics.js';
import { Rng } from '../src/rng.js';
import { main } from '../src/cli/main.js';
import { UsageError } from '../src/cli/args.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const logit = (p: number) => Math.log(p / (1 - p));

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('click log generating model', () => {
  it("each row's probabilities are the stated logits of its IDs and dense features", () => {
    const log = new Clicklog({ rows: 3000, seed: 11, users: 300, items: 80, taskCorrelation: 0.3, idWeight: 1.5 });
    const d = log.chunk(0);
    for (let r = 0; r < d.user.length; r++) {
      const z = log.idEffects(d.user[r], d.item[r]);
      expect(logit(d.pClick[r])).toBeCloseTo(-1 + 1.5 * z.click + 0.6 * d.dense[0][r] - 0.4 * d.dense[1][r], 8);
      expect(logit(d.pConversion[r])).toBeCloseTo(-0.5 + 1.5 * z.conversion + 0.8 * d.dense[2][r], 8);
      expect(d.conversion[r] === null).toBe(d.click[r] === 0);
    }
  });

  it('the ID effects have unit variance and correlate by taskCorrelation over the IDs', () => {
    for (const rho of [-0.6, 0, 0.5, 0.9]) {
      const log = new Clicklog({ rows: 1, seed: 2, users: 3000, items: 3000, taskCorrelation: rho });
      const rng = new Rng(9);
      const click = new Float64Array(30000);
      const conversion = new Float64Array(30000);
      for (let n = 0; n < click.length; n++) {
        // Distinct users and items, so that the sample has many independent IDs.
        const z = log.idEffects(n % 3000, rng.int(0, 2999));
        click[n] = z.click;
        conversion[n] = z.conversion;
      }
      const variance = (a: Float64Array) => a.reduce((s, v) => s + v * v, 0) / a.length;
      expect(variance(click), `rho ${rho}`).toBeGreaterThan(0.9);
      expect(variance(click), `rho ${rho}`).toBeLessThan(1.1);
      expect(variance(conversion), `rho ${rho}`).toBeGreaterThan(0.9);
      expect(variance(conversion), `rho ${rho}`).toBeLessThan(1.1);
      expect(Math.abs(pearson(click, conversion) - rho), `rho ${rho}`).toBeLessThan(0.04);
    }
    // At 1 the two tasks' ID effects are the same.
    const same = new Clicklog({ rows: 1, seed: 2, users: 50, items: 50, taskCorrelation: 1 });
    for (let u = 0; u < 50; u += 7) expect(same.idEffects(u, 3).conversion).toBe(same.idEffects(u, 3).click);
  });

  it('the correlation changes only conversion: the same seed draws the same IDs, features and clicks at every ρ', () => {
    const at = (rho: number) => new Clicklog({ rows: 2000, seed: 4, users: 500, items: 100, taskCorrelation: rho }).chunk(0);
    const a = at(-0.5);
    const b = at(0.8);
    expect(Array.from(b.user)).toEqual(Array.from(a.user));
    expect(Array.from(b.item)).toEqual(Array.from(a.item));
    expect(Array.from(b.dense[2])).toEqual(Array.from(a.dense[2]));
    expect(Array.from(b.click)).toEqual(Array.from(a.click));
    // Clicked rows are those with a high click ID effect: with ρ > 0 they also convert more.
    const rate = (d: typeof a) => {
      const y = d.conversion.filter((v) => v !== null) as number[];
      return y.reduce((s, v) => s + v, 0) / y.length;
    };
    expect(rate(b)).toBeGreaterThan(rate(a) + 0.1);
  });

  it('draws IDs with Zipf popularity: rank r with probability ∝ r^-s', () => {
    const users = 1000;
    const s = 1.05;
    const log = new Clicklog({ rows: 60000, seed: 3, users, items: 10, zipf: s });
    const d = log.chunk(0);
    const counts = new Float64Array(users);
    for (const u of d.user) counts[u]++;
    let h = 0;
    for (let r = 1; r <= users; r++) h += r ** -s;
    for (const rank of [1, 2, 10]) {
      const want = rank ** -s / h;
      const got = counts[rank - 1] / d.user.length;
      // Within 4 binomial standard deviations.
      expect(Math.abs(got - want), `rank ${rank}`).toBeLessThan(4 * Math.sqrt((want * (1 - want)) / d.user.length));
    }
  });

  it("the Bayes AUC (expectedAuc of the true probabilities) is what they measure on drawn labels, and beats a model's noisy guess", () => {
    const log = new Clicklog({ rows: 60000, seed: 8, users: 2000, items: 300, taskCorrelation: 0 });
    const d = log.chunk(0);
    expect(Math.abs(auc(d.pClick, d.click) - expectedAuc(d.pClick, d.pClick))).toBeLessThan(0.01);
    const clicked = Array.from(d.click, (c, r) => (c ? r : -1)).filter((r) => r >= 0);
    const pv = clicked.map((r) => d.pConversion[r]);
    const yv = clicked.map((r) => d.conversion[r]!);
    expect(Math.abs(auc(pv, yv) - expectedAuc(pv, pv))).toBeLessThan(0.015);
    // The IDs carry most of the signal: the dense features alone rank clicks far worse.
    const denseOnly = Array.from(d.pClick, (_, r) => 0.6 * d.dense[0][r] - 0.4 * d.dense[1][r]);
    expect(expectedAuc(d.pClick, d.pClick)).toBeGreaterThan(expectedAuc(denseOnly, d.pClick) + 0.1);
  });

  it('rejects a correlation outside [-1, 1], in the library and on the command line', async () => {
    expect(() => new Clicklog({ rows: 10, seed: 1, taskCorrelation: 1.5 })).toThrow(/taskCorrelation must be in \[-1, 1\], got 1.5/);
    const file = join(tmpdir(), `clicklog-never-${process.pid}.parquet`);
    const run = main(['--data', 'clicklog', '--rows', '10', '--correlation', '1.5', '--write', file]);
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(/--correlation must be in \[-1, 1\], got "1.5"/);
  });
});
