/**
 * The demo page in a real browser: a Vite dev server on 127.0.0.1 and headless Chromium with
 * WebGPU (SwiftShader where there is no GPU). Trains a small synthetic run with pause/resume,
 * checks the plotted values, downloads and reloads a checkpoint, trains on a CSV file picked
 * through the file input, shows a bad CSV's error, and checks that no request leaves the dev
 * server or carries the CSV data. Screenshots go to test-results/e2e/ (and, with E2E_DOCS=1,
 * the documentation screenshots to docs/).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeSafetensors } from '../src/checkpoint/safetensors.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = resolve(repo, 'test-results/e2e');
const docs = process.env.E2E_DOCS === '1' ? resolve(repo, 'docs') : null;
const adultPath = resolve(repo, '../shared/data/adult/adult.data.csv');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--headless=new', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** What the page exposes for this test (demo/main.ts). */
interface DemoHandle {
  state: string;
  adapter: string;
  progress: { epoch: number; step: number; stepsPerEpoch: number; loss: number };
  errors: string[];
  gateUpdates: number;
  redraws: number;
  epochsDone: number;
  loseDevice(): void;
  runs(): { label: string; epochs: { epoch: number; trainTaskLoss: number[]; validationTaskLoss?: number[]; metric: (number | null)[] }[]; finished: boolean }[];
  plotted(): Record<'loss' | 'metric' | 'seesaw', { label: string; data: { x: number; y: number }[] }[]>;
}
declare global {
  interface Window {
    __demo: DemoHandle;
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

let server: ViteDevServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let origin: string;
const requests: { url: string; method: string; body: string | null }[] = [];
const sockets: string[] = [];
const pageProblems: string[] = [];
let adultText = '';

const waitFor = (fn: string, timeout = 120_000) => page.waitForFunction(fn, undefined, { timeout, polling: 250 });
const demo = <T>(fn: (d: DemoHandle) => T): Promise<T> => page.evaluate(`(${fn.toString()})(window.__demo)`) as Promise<T>;
const shot = async (name: string, target?: { screenshot(o: { path: string }): Promise<unknown> }) => {
  await (target ?? page).screenshot({ path: resolve(artifacts, name), ...(target ? {} : { fullPage: true }) });
};

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  if (docs) mkdirSync(docs, { recursive: true });
  adultText = readFileSync(adultPath, 'utf8').split('\n').slice(0, 300).join('\n') + '\n';
  const port = await freePort();
  server = await createServer({
    configFile: resolve(repo, 'vite.config.ts'),
    mode: 'development',
    logLevel: 'warn',
    server: { host: '127.0.0.1', port, strictPort: true, open: false },
  });
  await server.listen();
  origin = `http://127.0.0.1:${port}`;
  browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  page.on('pageerror', (e) => pageProblems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageProblems.push(`console: ${m.text()}`);
  });
});

afterAll(async () => {
  if (pageProblems.length) console.log(`page console errors:\n${pageProblems.join('\n')}`);
  await browser?.close();
  await server?.close();
});

describe('demo page', () => {
  test('finds WebGPU and shows the adapter', async () => {
    await page.goto(origin, { waitUntil: 'load' });
    await waitFor(`window.__demo && window.__demo.state !== 'loading'`, 60_000);
    expect(await demo((d) => d.state)).toBe('ready');
    const adapter = await page.getByTestId('adapter').textContent();
    expect(adapter).toMatch(/^Adapter: /);
    await expect(page.getByTestId('privacy').textContent()).resolves.toMatch(/no network request carries your data/);
    await expect(page.getByTestId('no-webgpu').isHidden()).resolves.toBe(true);
  });

  test('trains an MMoE baseline on the synthetic benchmark', async () => {
    await page.selectOption('#family', 'mmoe');
    await page.fill('#shared-experts', '4');
    await page.fill('#train-rows', '2048');
    await page.fill('#epochs', '2');
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'done' || window.__demo.state === 'error'`, 180_000);
    expect(await demo((d) => d.errors)).toEqual([]);
    const runs = await demo((d) => d.runs());
    expect(runs).toHaveLength(1);
    expect(runs[0].epochs).toHaveLength(2);
  });

  test('trains a PLE run with pause and resume, plotting finite values while the loss falls', async () => {
    await page.selectOption('#family', 'ple');
    await page.fill('#shared-experts', '2');
    await page.fill('#epochs', '3');
    const redrawsBefore = await demo((d) => d.redraws);
    const started = performance.now();
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'training' && window.__demo.progress.step >= 3`, 180_000);

    await page.getByTestId('pause').click();
    await waitFor(`window.__demo.state === 'paused'`, 60_000);
    await page.waitForTimeout(500); // the step submitted before the pause may still report
    const atPause = await demo((d) => d.progress);
    await page.waitForTimeout(1500);
    expect(await demo((d) => d.progress)).toEqual(atPause);
    // The page stays responsive while paused (and while training: the charts redraw).
    await expect(page.getByTestId('pause').textContent()).resolves.toBe('Resume');
    await page.getByTestId('pause').click();
    await waitFor(`window.__demo.state === 'training'`, 30_000);
    // The page keeps painting and answering while it trains.
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      expect(performance.now() - t, 'a frame and a task while training').toBeLessThan(1000);
    }

    await waitFor(`window.__demo.epochsDone >= 2`, 180_000);
    const plotted = await demo((d) => d.plotted()); // also redraws the charts now, for the screenshots
    await shot('training.png');
    if (docs) await page.screenshot({ path: resolve(docs, 'demo-training.png'), fullPage: true });
    const values = (sets: { data: { x: number; y: number }[] }[]) => sets.flatMap((s) => s.data.flatMap((p) => [p.x, p.y]));
    for (const key of ['loss', 'metric', 'seesaw'] as const) {
      expect(values(plotted[key]).length, `${key} chart has points`).toBeGreaterThan(0);
      expect(values(plotted[key]).every(Number.isFinite), `${key} chart values are finite`).toBe(true);
    }
    for (const task of ['task1', 'task2']) {
      const train = plotted.loss.find((s) => s.label === `${task} train`)!;
      expect(train.data.length).toBeGreaterThanOrEqual(2);
      expect(train.data[train.data.length - 1].y, `${task} training loss fell`).toBeLessThan(train.data[0].y);
      expect(plotted.loss.find((s) => s.label === `${task} validation`)!.data.length).toBeGreaterThanOrEqual(2);
      expect(plotted.metric.find((s) => s.label === `${task} MSE`)!.data.length).toBeGreaterThanOrEqual(2);
    }
    const running = plotted.loss.find((s) => s.label === 'running train loss')!.data;
    expect(running[running.length - 1].y).toBeLessThan(running[0].y);
    // The seesaw keeps the finished MMoE run beside the PLE run.
    expect(plotted.seesaw.map((s) => s.label)).toEqual(['MMoE #1 (p=0.5)', 'PLE #2 (p=0.5)']);
    expect(plotted.seesaw[0].data).toHaveLength(2);
    expect(plotted.seesaw[1].data.length).toBeGreaterThanOrEqual(2);

    // Gates: a heat map per level with weights in [0, 1] summing to 1 per gate, and the simplex.
    expect(await demo((d) => d.gateUpdates)).toBeGreaterThan(0);
    const rows = await page.$$eval('#heatmaps tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td[data-weight]')).map((td) => Number((td as HTMLElement).dataset.weight))),
    );
    expect(rows.length).toBe(3 + 2); // PLE, 2 levels: 2 task gates + the shared gate, then 2 task gates
    for (const r of rows) {
      expect(r.every((w) => w >= 0 && w <= 1)).toBe(true);
      expect(r.reduce((a, w) => a + w, 0)).toBeCloseTo(1, 4);
    }
    await shot('gates-triangle.png', page.getByTestId('gates'));
    if (docs) await page.getByTestId('gates').screenshot({ path: resolve(docs, 'demo-gates.png') });
    // The shared gate of level 1 mixes 4 experts: the tetrahedron.
    await page.selectOption('#simplex-gate', '0:2');
    await shot('gates-tetrahedron.png', page.getByTestId('gates'));
    if (docs) await page.getByTestId('gates').screenshot({ path: resolve(docs, 'demo-gates-tetrahedron.png') });

    await waitFor(`window.__demo.state === 'done'`, 180_000);
    const elapsed = performance.now() - started;
    const runs = await demo((d) => d.runs());
    expect(runs[runs.length - 1].epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    // Redraws happen at a bounded rate (at most one per 300 ms, plus the explicit flushes), not once per step.
    expect((await demo((d) => d.redraws)) - redrawsBefore).toBeLessThanOrEqual(Math.ceil(elapsed / 300) + 8);
    await expect(page.getByTestId('error').isHidden()).resolves.toBe(true);
  });

  test('downloads the checkpoint (safetensors) and the metrics, loads it back and continues', async () => {
    const [ckptDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-checkpoint').click()]);
    const ckptPath = resolve(artifacts, ckptDownload.suggestedFilename());
    await ckptDownload.saveAs(ckptPath);
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(ckptPath)), ckptPath);
    expect(metadata.format).toBe('ple-webgpu-checkpoint/1');
    expect(JSON.parse(metadata.training).epoch).toBe(3);
    expect(tensors.size).toBeGreaterThan(10);
    for (const t of tensors.values()) expect(t.data.every(Number.isFinite)).toBe(true);

    const [metricsDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-metrics').click()]);
    const metricsPath = resolve(artifacts, metricsDownload.suggestedFilename());
    await metricsDownload.saveAs(metricsPath);
    const metrics = JSON.parse(readFileSync(metricsPath, 'utf8'));
    expect(metrics.epochs).toHaveLength(3);
    expect(metrics.epochs[2].validation.tasks.task1.mse).toBeGreaterThan(0);

    await page.setInputFiles('#checkpoint-file', ckptPath);
    await waitFor(`document.getElementById('status').textContent.startsWith('Loaded')`, 120_000);
    expect(await page.isChecked('#continue')).toBe(true);
    await page.fill('#epochs', '1');
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'done' || window.__demo.state === 'error'`, 180_000);
    expect(await demo((d) => d.errors)).toEqual([]);
    const runs = await demo((d) => d.runs());
    expect(runs[runs.length - 1].epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
  });

  test('trains one epoch on a CSV file picked from disk, with chosen column roles', async () => {
    await page.check('input[name="source"][value="csv"]');
    await page.setInputFiles('#csv-file', { name: 'adult-300.csv', mimeType: 'text/csv', buffer: Buffer.from(adultText) });
    await page.waitForSelector('select[data-column="class"]');
    await page.selectOption('select[data-column="class"]', 'label-value');
    await page.fill('input[data-param="class"]', '>50K');
    await page.selectOption('select[data-column="marital-status"]', 'label-value');
    await page.fill('input[data-param="marital-status"]', 'Never-married');
    await page.selectOption('select[data-column="fnlwgt"]', 'numeric-log1p');
    await page.selectOption('select[data-column="native-country"]', 'categorical-embedding');
    await page.selectOption('select[data-column="education"]', 'ignore');
    await page.selectOption('#family', 'mmoe');
    await page.fill('#shared-experts', '3');
    await page.fill('#epochs', '1');
    await page.fill('#batch-size', '64');
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'done' || window.__demo.state === 'error'`, 180_000);
    expect(await demo((d) => d.errors)).toEqual([]);
    const runs = await demo((d) => d.runs());
    const run = runs[runs.length - 1];
    expect(run.label).toMatch(/^MMoE/);
    expect(run.epochs).toHaveLength(1);
    expect(run.epochs[0].trainTaskLoss.every(Number.isFinite)).toBe(true);
    expect(run.epochs[0].metric.every((m) => m !== null && Number.isFinite(m) && m >= 0 && m <= 1)).toBe(true);
    await shot('csv.png');
  });

  test('a ragged CSV row shows the DataError on the page', async () => {
    await page.setInputFiles('#csv-file', { name: 'ragged.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b,c\n1,2,3\n4,5\n') });
    const error = page.getByTestId('error');
    await error.waitFor({ state: 'visible', timeout: 30_000 });
    await expect(error.textContent()).resolves.toMatch(/DataError: ragged\.csv line 3: expected 3 fields, got 2/);
    await shot('bad-csv.png');
  });

  test('a lost GPU device stops training with a message; Start trains again on a new device', async () => {
    await page.check('input[name="source"][value="synthetic"]');
    await page.selectOption('#family', 'cgc');
    await page.fill('#epochs', '20');
    await page.fill('#batch-size', '128');
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'training' && window.__demo.progress.step >= 2`, 180_000);
    await demo((d) => d.loseDevice());
    await waitFor(`window.__demo.state === 'error'`, 60_000);
    await expect(page.getByTestId('error').textContent()).resolves.toMatch(/GPU device was lost/);
    await shot('device-lost.png');
    await page.fill('#epochs', '1');
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'done' || window.__demo.state === 'error'`, 180_000);
    expect(await demo((d) => d.state)).toBe('done');
    await expect(page.getByTestId('error').isHidden()).resolves.toBe(true);
  });

  test('without WebGPU the page says so and how to get it', async () => {
    const p = await context.newPage();
    p.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await p.goto(origin, { waitUntil: 'load' });
    const notice = p.getByTestId('no-webgpu');
    await notice.waitFor({ state: 'visible', timeout: 30_000 });
    await expect(notice.textContent()).resolves.toMatch(/enable-unsafe-webgpu/);
    await expect(p.getByTestId('start').isDisabled()).resolves.toBe(true);
    await p.screenshot({ path: resolve(artifacts, 'no-webgpu.png') });
    await p.close();
  });

  test('no request leaves the dev server, and none carries the CSV data', () => {
    expect(requests.length).toBeGreaterThan(0);
    const foreign = requests.filter((r) => !(r.url.startsWith(`${origin}/`) || r.url.startsWith('blob:') || r.url.startsWith('data:')));
    expect(foreign.map((r) => r.url)).toEqual([]);
    expect(sockets.every((u) => u.startsWith(`ws://127.0.0.1:${new URL(origin).port}`))).toBe(true);
    const csvLines = adultText.split('\n').slice(1, 20).filter(Boolean);
    for (const r of requests) {
      expect(r.method === 'GET' || r.method === 'HEAD', `${r.method} ${r.url}`).toBe(true);
      if (r.body) for (const line of [...csvLines, '4,5']) expect(r.body.includes(line)).toBe(false);
      for (const line of csvLines.slice(0, 5)) expect(decodeURIComponent(r.url).includes(line)).toBe(false);
    }
  });
});
