/**
 * `npm run bench:page-data`: the demo page's JS heap while it trains one epoch on a Parquet click
 * log, for a small and a large file (default 100,000 and 1,000,000 rows). The page streams the file
 * (File.slice ranges through hyparquet) with the bounded shuffle buffer; its heap must not grow
 * with the file. Each file gets a fresh browser on the built site (`vite build` + `vite preview`, as
 * users get it); the DevTools protocol's `Runtime.getHeapUsage` is sampled every --sample-ms from
 * Start (after a forced GC) until the run is done: the fitting pass, the epoch, the validation and
 * the test evaluation. What is measured is the JS heap's used size plus the backing stores of array
 * buffers (`backingStorageSize`): the bytes read from the file, the shuffle buffer and the batches
 * are array buffers, which live outside the JS heap proper. The used heap includes garbage V8 has not collected yet
 * (how much it lets pile up depends on its heuristics, which give a longer run more room), so every
 * --gc-ms a forced garbage collection (`HeapProfiler.collectGarbage`) is followed by a sample of
 * the live heap: what the page actually holds. Writes the page section of results/data.md.
 *
 * Both files are written with the same row groups (--row-group) and read through the same shuffle
 * buffer, both smaller than the small file, so that both epochs spend most of their time in the
 * steady state (a chunk being encoded, the next being fetched, a full buffer): with row groups and
 * a buffer near the small file's size, its epoch would mostly drain an in-memory buffer, and its
 * peak would not include reading at all.
 *
 * Options: --rows A,B  --row-group N (16384)  --batch N (4096)  --shuffle-buffer N (16384)  --sample-ms N (250)  --gc-ms N (5000)
 *          --out FILE (results/data.md)  --keep DIR (write the Parquet files there and keep them)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { Clicklog } from '../src/data/clicklog.js';
import { writeClicklogParquet } from '../src/data/clicklog-file.js';
import { helpers, launch, serve } from '../test-e2e/site.js';
import { commandLine } from './results.js';
import { withSection } from './sections.js';

const args = process.argv.slice(2);
const value = (flag: string, fallback: string) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : fallback;
};
const sizes = value('--rows', '100000,1000000').split(',').map(Number);
const batch = value('--batch', '4096');
const shuffleBuffer = value('--shuffle-buffer', '16384');
const rowGroup = Number(value('--row-group', '16384'));
const sampleMs = Number(value('--sample-ms', '250'));
const gcMs = Number(value('--gc-ms', '5000'));
const out = value('--out', join('results', 'data.md'));

/** The model and training fields: a small PLE, one epoch, so the heap and not the step is what is measured. */
const fields: Record<string, string> = {
  levels: '1', 'task-experts': '1', 'shared-experts': '1', 'expert-widths': '16', 'tower-widths': '8',
  epochs: '1', 'batch-size': batch, lr: '0.01', seed: '1', 'validation-fraction': '0.05', 'shuffle-buffer': shuffleBuffer,
};
const HASH = [['user_id', '4096'], ['item_id', '1024']];

interface Sample {
  t: number;
  heap: number;
  state: string;
  step: number;
  stepsPerEpoch: number;
  /** Right after a forced garbage collection. */
  live: boolean;
}

interface Run {
  rows: number;
  fileMiB: number;
  baseline: number;
  /** Peaks (bytes) of the used heap while preparing (the fitting pass), during the epoch's steps, and over the whole run. */
  peakPreparing: number;
  peakTraining: number;
  peakAll: number;
  /** The same of the live heap (right after a forced GC). */
  livePreparing: number;
  liveTraining: number;
  liveAll: number;
  steps: number;
  trainingSeconds: number;
  totalSeconds: number;
  samples: number;
  auc: (number | null)[];
}

async function measure(file: string, rows: number): Promise<Run> {
  const { browser, context } = await launch();
  try {
    const page = await context.newPage();
    const h = helpers(page);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    // WebGPU by name: on a software adapter the page would otherwise train on the CPU device, whose heap is one WebAssembly memory.
    await page.goto(`${site.origin}/?device=gpu`, { waitUntil: 'load' });
    await h.waitFor(`window.__demo && window.__demo.state === 'ready'`, 120_000);
    await page.check('input[name="source"][value="file"]');
    // A path, not bytes: Chromium gets the file itself (a File backed by the disk), as a picked file is.
    await page.setInputFiles('#data-file', file);
    await page.waitForSelector('select[data-column="conversion"]', { timeout: 120_000 });
    for (const task of ['click', 'conversion']) {
      await page.selectOption(`select[data-column="${task}"]`, 'label-threshold');
      await page.fill(`input[data-param="${task}"]`, '0.5');
    }
    for (const f of ['f0', 'f1', 'f2', 'f3']) await page.selectOption(`select[data-column="${f}"]`, 'numeric');
    for (const [id, buckets] of HASH) {
      await page.selectOption(`select[data-column="${id}"]`, 'categorical-hash');
      await page.fill(`input[data-param="${id}"]`, buckets);
    }
    await page.selectOption('#family', 'ple');
    for (const [id, v] of Object.entries(fields)) await page.fill(`#${id}`, v);

    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      const u = await cdp.send('Runtime.getHeapUsage');
      if (typeof u.backingStorageSize !== 'number') throw new Error('this Chromium does not report backingStorageSize (Runtime.getHeapUsage)');
      return u.usedSize + u.backingStorageSize;
    };
    await cdp.send('HeapProfiler.collectGarbage');
    const baseline = await heap();
    const samples: Sample[] = [];
    const t0 = Date.now();
    let lastGc = t0;
    await page.getByTestId('start').click();
    for (;;) {
      const live = Date.now() - lastGc >= gcMs;
      if (live) {
        await cdp.send('HeapProfiler.collectGarbage');
        lastGc = Date.now();
      }
      const s = (await page.evaluate(`({ state: window.__demo.state, step: window.__demo.progress.step, stepsPerEpoch: window.__demo.progress.stepsPerEpoch })`)) as Omit<Sample, 't' | 'heap' | 'live'>;
      samples.push({ t: (Date.now() - t0) / 1000, heap: await heap(), live, ...s });
      if (['done', 'error', 'stopped'].includes(s.state)) break;
      await new Promise((r) => setTimeout(r, sampleMs));
    }
    const errors = (await page.evaluate('window.__demo.errors')) as string[];
    if (samples.at(-1)!.state !== 'done' || errors.length || problems.length) throw new Error(`the page did not finish on ${file}: ${[...errors, ...problems].join('; ')}`);
    const runs = (await page.evaluate('window.__demo.runs()')) as { epochs: { metric: (number | null)[] }[] }[];
    const training = samples.filter((s) => s.state === 'training' && s.stepsPerEpoch > 0 && s.step < s.stepsPerEpoch);
    const peak = (list: Sample[]) => list.reduce((m, s) => Math.max(m, s.heap), 0);
    const livePeak = (list: Sample[]) => peak(list.filter((s) => s.live));
    const last = samples.at(-1)!;
    return {
      rows,
      fileMiB: readFileSync(file).length / 2 ** 20,
      baseline,
      peakPreparing: peak(samples.filter((s) => s.state === 'preparing')),
      peakTraining: peak(training),
      peakAll: peak(samples),
      livePreparing: livePeak(samples.filter((s) => s.state === 'preparing')),
      liveTraining: livePeak(training),
      liveAll: livePeak(samples),
      steps: last.stepsPerEpoch,
      trainingSeconds: training.length ? training.at(-1)!.t - training[0].t : 0,
      totalSeconds: last.t,
      samples: samples.length,
      auc: runs.at(-1)!.epochs[0].metric,
    };
  } finally {
    await browser.close();
  }
}

const keep = args.includes('--keep') ? value('--keep', '') : '';
const dir = keep || mkdtempSync(join(tmpdir(), 'ple-page-data-'));
if (keep && !existsSync(keep)) mkdirSync(keep, { recursive: true });
const site = await serve('built');
const results: Run[] = [];
try {
  for (const rows of sizes) {
    const file = join(dir, `clicklog-${rows}-${rowGroup}.parquet`);
    if (!existsSync(file)) await writeClicklogParquet(new Clicklog({ rows, seed: 1, chunkRows: rowGroup }), file);
    const r = await measure(file, rows);
    console.log(JSON.stringify(r));
    results.push(r);
  }
} finally {
  await site.close();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const n = (x: number) => x.toLocaleString('en-US');
const [small, large] = [results[0], results[results.length - 1]];
const growth = (a: number, b: number) => `${((b / a - 1) * 100).toFixed(1)}%`;
const body = [
  '## The demo page: JS heap against file size',
  '',
  `\`${commandLine().replace(/^npm run bench:data/, 'npm run bench:page-data')}\`: the built demo page in headless Chromium trains on WebGPU (\`?device=gpu\`, SwiftShader) one epoch on`,
  `the Parquet click log (row groups of ${n(rowGroup)} rows) picked as a file: click and conversion tasks (threshold 0.5), f0-f3 numeric,`,
  `user and item IDs hashed into 4096 and 1024 rows; PLE (1 level, 1 task + 1 shared expert of 16, towers of 8), batch ${batch},`,
  `shuffle buffer ${n(Number(shuffleBuffer))} rows, validation share 0.05 (and the 20% test split the streaming path holds out).`,
  `The JS heap, counted as its used size plus the array buffers' backing stores (the bytes read from the file, the shuffle buffer and the`,
  `batches are array buffers, outside the JS heap proper; \`Runtime.getHeapUsage\` over the DevTools protocol: usedSize + backingStorageSize),`,
  `is sampled every ${sampleMs} ms from Start (after a forced garbage collection) until the run is done: the fitting pass ("preparing"),`,
  'the epoch\'s steps, then the validation and test evaluations.',
  `The used heap includes garbage not yet collected, which V8 lets pile up as its heuristics allow (more in a longer run),`,
  `so every ${gcMs / 1000} s a forced garbage collection (\`HeapProfiler.collectGarbage\`) is followed by a sample of the **live** heap: what the`,
  'page holds. Each file gets a fresh browser.',
  '',
  '| rows | file | heap at Start | live peak: fitting pass | live peak: training steps | live peak: whole run | used peak: fitting pass / steps / whole run | steps | epoch | whole run | AUC click / conversion |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${n(r.rows)} | ${r.fileMiB.toFixed(1)} MiB | ${mib(r.baseline)} | ${mib(r.livePreparing)} | ${mib(r.liveTraining)} | ${mib(r.liveAll)} | ${mib(r.peakPreparing)} / ${mib(r.peakTraining)} / ${mib(r.peakAll)} | ${r.steps} | ${r.trainingSeconds.toFixed(0)} s | ${r.totalSeconds.toFixed(0)} s | ${r.auc.map((a) => (a === null ? '–' : a.toFixed(3))).join(' / ')} |`),
  '',
  `Live heap growth, ${n(large.rows)} vs ${n(small.rows)} rows: ${growth(small.liveTraining, large.liveTraining)} at its peak during the training steps, ${growth(small.livePreparing, large.livePreparing)} during the fitting pass, ${growth(small.liveAll, large.liveAll)} over the whole run.`,
  `Used heap (garbage included) growth: ${growth(small.peakTraining, large.peakTraining)} during the training steps, ${growth(small.peakPreparing, large.peakPreparing)} during the fitting pass, ${growth(small.peakAll, large.peakAll)} over the whole run.`,
  'The bound that matters is on the live heap: the used heap\'s peak depends on when V8 collects, and in the fitting pass, which',
  'allocates fast while it decodes, a longer run lets more garbage pile up between collections.',
  'The page holds the chunk being decoded, the next one being fetched, the shuffle buffer, the batches and a 400-row sample for',
  'the gate views, never the file. What does grow with the file is the evaluation: AUC needs every labelled row\'s score, so the',
  'validation and test passes keep a prediction, a logit, a label and a mask per row and task (16 bytes; 20% test rows of 1,000,000',
  'rows with 2 tasks are 6.4 MB), and the loss chart keeps one point per step.',
  '',
  `${cpus().length} CPU cores, load average ${loadavg()[0].toFixed(1)} at the end (a shared host: the times are noisy; the heap figures are not).`,
].join('\n');
const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
writeFileSync(out, withSection(previous, 'page-data', body));
console.log(body);
console.log(`wrote the page section of ${out}`);
process.exit(0);
