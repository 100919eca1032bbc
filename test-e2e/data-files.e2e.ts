/**
 * Parquet and Arrow files in the demo page: the test writes a small click log as Parquet (the
 * library's writer) and as an Arrow IPC file (apache-arrow's), the page streams each through the
 * library's row sources and trains one epoch on it, and `npm start` trains the same model on the
 * same file in Node. Same file, seed, roles and shuffle buffer: the same encoder, split and batch
 * order, so the per-task training losses and validation AUCs must agree. Both train on WebGPU by
 * name (`?device=gpu`, `--device gpu`: on a software adapter auto would choose the CPU device on
 * both sides) and run the same WGSL with the adapter's default GEMM variant (`--tuning adapter`, as the page does),
 * but through different WebGPU implementations (Chromium's and the `webgpu` package's Dawn, with
 * their own shader compilers), so float32 results may differ in the last bits of each step:
 * agreement is asked to 1e-6 relative (on SwiftShader here the two agree bit for bit). A checkpoint
 * of such a run keeps its encoder and continues in a new tab once the file is picked again. Bad
 * files are refused on the page with the file's name.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Clicklog } from '../src/data/clicklog.js';
import { writeClicklogParquet } from '../src/data/clicklog-file.js';
import { clicklogArrowBytes } from '../test/clicklog-arrow.js';
import { decodeSafetensors } from '../src/checkpoint/safetensors.js';
import { helpers, launch, record, repo, serve, type PageRecord } from './site.js';

const ROWS = 3000;
const log = new Clicklog({ rows: ROWS, seed: 5, chunkRows: 1000 });
/** The model and training settings, as the page's fields and as `npm start` flags. */
const fields: Record<string, string> = { family: 'ple', levels: '1', 'task-experts': '1', 'shared-experts': '1', 'expert-widths': '16', 'tower-widths': '8', epochs: '1', 'batch-size': '256', lr: '0.01', seed: '3', 'validation-fraction': '0.1', 'shuffle-buffer': '700' };
const flags = [
  '--model', 'ple', '--levels', '1', '--task-experts', '1', '--shared-experts', '1', '--expert-widths', '16', '--tower-widths', '8',
  '--epochs', '1', '--batch-size', '256', '--lr', '0.01', '--seed', '3', '--validation', '0.1', '--shuffle-buffer', '700',
  '--label', 'click=click:threshold:0.5', '--label', 'conversion=conversion:threshold:0.5', '--numeric', 'f0,f1,f2,f3',
  '--hash', 'user_id:256', '--hash', 'item_id:64', '--device', 'gpu', '--tuning', 'adapter', '--quiet',
];

let dir: string;
let site: Awaited<ReturnType<typeof serve>>;
let browser: Browser;
let page: Page;
let h: ReturnType<typeof helpers>;
const seen: PageRecord = { requests: [], sockets: [], problems: [] };

/** `npm start` on a file; its metrics.json. */
async function node(file: string, out: string): Promise<{ epochs: { train: { taskLoss: number[] }; validation: { tasks: Record<string, { auc: number }> } }[] }> {
  await promisify(execFile)('node', ['--import', 'tsx', '--import', './scripts/register-raw.mjs', 'src/cli/bin.ts', '--data', 'file', '--train', file, ...flags, '--out', out], { cwd: repo });
  return JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
}

/** Trains one epoch on the page on a picked file with the roles above; the run's first epoch. */
async function trainOnPage(name: string, bytes: Uint8Array) {
  await page.check('input[name="source"][value="file"]');
  await page.setInputFiles('#data-file', { name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
  await page.waitForSelector('select[data-column="conversion"]');
  // A Parquet file's metadata gives its row count; an Arrow file's is only known by reading it.
  const kind = name.endsWith('.parquet') ? `Parquet, ${ROWS} rows` : 'Arrow IPC';
  await expect(page.getByTestId('file-summary').textContent()).resolves.toMatch(`${name}: ${kind}, 8 columns, streamed in chunks in this tab (never read whole). The roles' examples and checks come from its first 1000 rows. Pick`);
  await expect(page.locator('#shuffle-buffer').isVisible()).resolves.toBe(true);
  for (const task of ['click', 'conversion']) {
    await page.selectOption(`select[data-column="${task}"]`, 'label-threshold');
    await page.fill(`input[data-param="${task}"]`, '0.5');
  }
  for (const f of ['f0', 'f1', 'f2', 'f3']) await page.selectOption(`select[data-column="${f}"]`, 'numeric');
  for (const [id, buckets] of [['user_id', '256'], ['item_id', '64']]) {
    await page.selectOption(`select[data-column="${id}"]`, 'categorical-hash');
    await page.fill(`input[data-param="${id}"]`, buckets);
  }
  await page.selectOption('#family', fields.family);
  for (const [id, value] of Object.entries(fields)) if (id !== 'family') await page.fill(`#${id}`, value);
  await page.getByTestId('start').click();
  await h.finished();
  expect(await h.demo((d) => d.errors)).toEqual([]);
  expect(await h.demo((d) => d.state)).toBe('done');
  const run = (await h.demo((d) => d.runs())).at(-1)!;
  expect(run.tasks.map((t) => `${t.name}:${t.type}`)).toEqual(['click:binary', 'conversion:binary']);
  return run.epochs[0];
}

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b)));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ple-data-files-'));
  await writeClicklogParquet(log, join(dir, 'clicks.parquet'));
  writeFileSync(join(dir, 'clicks.arrow'), clicklogArrowBytes(log));
  site = await serve('dev');
  ({ browser } = await launch());
  page = await browser.newPage();
  record(page, seen, /DataError|could not be read/);
  h = helpers(page);
  await page.goto(`${site.origin}/?device=gpu`, { waitUntil: 'load' });
  await h.waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the page on Parquet and Arrow files', () => {
  for (const name of ['clicks.parquet', 'clicks.arrow']) {
    test(`trains on ${name} as npm start does on the same file`, async () => {
      const [pageEpoch, nodeMetrics] = await Promise.all([trainOnPage(name, readFileSync(join(dir, name))), node(join(dir, name), join(dir, `out-${name}`))]);
      const nodeEpoch = nodeMetrics.epochs[0];
      expect(pageEpoch.trainTaskLoss).toHaveLength(2);
      pageEpoch.trainTaskLoss.forEach((l, k) => close(l, nodeEpoch.train.taskLoss[k]));
      close(pageEpoch.metric[0]!, nodeEpoch.validation.tasks.click.auc);
      close(pageEpoch.metric[1]!, nodeEpoch.validation.tasks.conversion.auc);
      // The click task learns something in one epoch (the generating model gives it an AUC well above 0.5).
      expect(pageEpoch.metric[0]!).toBeGreaterThan(0.55);
    });
  }

  test('a checkpoint of the Arrow run keeps its encoder and shuffle buffer; in a new tab, with its file picked again, it trains on', async () => {
    const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-checkpoint').click()]);
    const ckpt = join(dir, d.suggestedFilename());
    await d.saveAs(ckpt);
    const data = JSON.parse(decodeSafetensors(new Uint8Array(readFileSync(ckpt)), ckpt).metadata.data);
    expect([data.kind, data.source, data.shuffleBuffer, data.validationFraction, data.seed]).toEqual(['file', 'clicks.arrow', 700, 0.1, 3]);
    expect(data.encoder.categorical.map((c: { column: string; hashBuckets: number }) => [c.column, c.hashBuckets])).toEqual([['user_id', 256], ['item_id', 64]]);
    const p = await browser.newPage();
    record(p, seen, /DataError|could not be read/);
    const ph = helpers(p);
    await p.goto(`${site.origin}/?device=gpu`, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
    await p.setInputFiles('#checkpoint-file', ckpt);
    await ph.waitFor(`document.getElementById('status').textContent.startsWith('Loaded')`, 120_000);
    await expect(p.getByTestId('status').textContent()).resolves.toMatch(/Pick its data file clicks\.arrow/);
    await expect(p.inputValue('#shuffle-buffer')).resolves.toBe('700');
    await p.setInputFiles('#data-file', join(dir, 'clicks.arrow'));
    await ph.waitFor(`document.querySelectorAll('#heatmaps tbody tr').length > 0`, 60_000);
    expect(await p.inputValue('select[data-column="user_id"]')).toBe('categorical-hash');
    expect(await p.inputValue('input[data-param="user_id"]')).toBe('256');
    await expect(p.getByTestId('continue').isChecked()).resolves.toBe(true);
    await p.fill('#epochs', '1');
    await p.getByTestId('start').click();
    await ph.finished();
    expect(await ph.demo((x) => [x.state, x.errors])).toEqual(['done', []]);
    expect((await ph.demo((x) => x.runs())).at(-1)!.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    await p.close();
  });

  test('a truncated Parquet file is refused with its name; nothing is left to train on', async () => {
    const whole = readFileSync(join(dir, 'clicks.parquet'));
    await page.setInputFiles('#data-file', { name: 'cut.parquet', mimeType: 'application/octet-stream', buffer: whole.subarray(0, whole.length >> 1) });
    await h.waitFor(`window.__demo.errors.length > 0`, 30_000);
    expect((await h.demo((d) => d.errors)).at(-1)).toMatch(/cut\.parquet.*not a readable Parquet file/);
    await expect(page.getByTestId('file-summary').textContent()).resolves.toBe('cut.parquet could not be read.');
    await expect(page.locator('#roles select').count()).resolves.toBe(0);
  });

  test('no request carries the data anywhere', () => {
    expect(seen.problems).toEqual([]);
    const foreign = seen.requests.filter((r) => !r.url.startsWith(site.origin) && !r.url.startsWith('data:') && !r.url.startsWith('blob:'));
    expect(foreign).toEqual([]);
    expect(seen.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });
});
