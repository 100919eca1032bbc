/**
 * The demo page in a real browser, on the Vite dev server: trains synthetic runs with pause,
 * resume and a stop mid-epoch, checks the plotted values, round-trips checkpoints (also one taken
 * mid-epoch, and one loaded before its CSV file), trains on generated CSV files with chosen roles
 * (standardised regression targets, task weights), shows clear errors for bad fields and files,
 * chooses its device as `--device auto` does (the CPU device where the only WebGPU adapter is a
 * software one, as SwiftShader on a GPU-less host) and as `?device=` names it, survives a lost GPU
 * device, trains without WebGPU, is usable 420 px wide, and sends no request anywhere but the server.
 * Screenshots go to test-results/e2e/ (and, with E2E_DOCS=1, the documentation ones to docs/).
 * The built site gets the same first steps in built.e2e.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeSafetensors } from '../src/checkpoint/safetensors.js';
import { formatAdapter } from '../src/gpu/context.js';
import { helpers, launch, peopleCsv, record, repo, serve, type PageRecord } from './site.js';

const artifacts = resolve(repo, 'test-results/e2e');
const docs = process.env.E2E_DOCS === '1' ? resolve(repo, 'docs') : null;

let site: Awaited<ReturnType<typeof serve>>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let origin: string;
const seen: PageRecord = { requests: [], sockets: [], problems: [] };
const { requests, sockets, problems: pageProblems } = seen;
const people = peopleCsv(400);
let h: ReturnType<typeof helpers>;
/** Whether the browser's WebGPU adapter is a software one (then `?device=auto` trains on the CPU device); set by the first test. */
let software: boolean;

const shot = async (name: string, target?: { screenshot(o: { path: string }): Promise<unknown> }) => {
  await (target ?? page).screenshot({ path: resolve(artifacts, name), ...(target ? {} : { fullPage: true }) });
};
const status = () => page.getByTestId('status').textContent();
const errorText = () => page.getByTestId('error').textContent();

/** Errors the page shows on purpose are also logged; anything else is a problem. */
const watch = (p: Page) => record(p, seen, /DataError|not a text file|semicolons|safetensors|Levels:|Bottom widths:|not one of its values|GPU device was lost|WebGPU error|Could not open a device/);

async function download(click: () => Promise<void>, on: Page = page): Promise<string> {
  const [d] = await Promise.all([on.waitForEvent('download'), click()]);
  const path = resolve(artifacts, d.suggestedFilename());
  await d.saveAs(path);
  return path;
}

const metadataOf = (path: string) => decodeSafetensors(new Uint8Array(readFileSync(path)), path).metadata;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  if (docs) mkdirSync(docs, { recursive: true });
  site = await serve('dev');
  origin = site.origin;
  ({ browser, context } = await launch());
  page = await context.newPage();
  watch(page);
  h = helpers(page);
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

describe('demo page', () => {
  test('chooses its device as auto does and says which and why, explains itself and shows no empty charts', async () => {
    await page.goto(origin, { waitUntil: 'load' });
    await h.waitFor(`window.__demo && window.__demo.state !== 'loading'`, 60_000);
    expect(await h.demo((d) => d.state)).toBe('ready');
    // The adapter the browser gives, asked here apart from the page: auto passes over a software one.
    const info = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
      return a ? { isFallback: Boolean((a.info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter), architecture: a.info.architecture } : null;
    });
    expect(info, 'this browser gives a WebGPU adapter').not.toBeNull();
    software = info!.isFallback || info!.architecture === 'swiftshader';
    const line = await page.getByTestId('adapter').textContent();
    if (software) expect(line).toMatch(/^Device: CPU \(WebAssembly SIMD\) on \d+ threads? \(\d+ cores?(, at most 16)?\) — the only WebGPU adapter, .+, is a software one; \?device=gpu trains on it$/);
    else expect(line).toMatch(/^Adapter: /);
    await expect(page.getByTestId('privacy').textContent()).resolves.toMatch(/no network request carries your data/);
    await expect(page.getByTestId('no-webgpu').isHidden()).resolves.toBe(true);
    // A first visit: an explanation (collapsed) with the architecture; no empty charts or dropdowns.
    await page.locator('#about summary').click();
    await expect(page.locator('#about svg.arch').isVisible()).resolves.toBe(true);
    await expect(page.getByTestId('about').textContent()).resolves.toMatch(/MMoE[\s\S]*CGC[\s\S]*PLE[\s\S]*task correlation[\s\S]*seesaw[\s\S]*gate/);
    await page.locator('#about summary').click();
    await expect(page.getByTestId('charts-empty').isVisible()).resolves.toBe(true);
    await expect(page.locator('#seesaw-x').isVisible()).resolves.toBe(false);
    await expect(page.getByTestId('simplex').isVisible()).resolves.toBe(false);
  });

  test('a field outside its limits, or a bad width list, is an error naming the field; the progress bar is reset', async () => {
    await page.fill('#levels', '9');
    await page.getByTestId('start').click();
    await h.waitFor(`window.__demo.state === 'error'`, 30_000);
    await expect(errorText()).resolves.toBe('Levels: write a whole number from 1 to 4, got "9"');
    expect(await page.getByTestId('progress').evaluate((p) => (p as HTMLProgressElement).value)).toBe(0);
    await page.fill('#levels', '2');
    await page.selectOption('#family', 'shared-bottom');
    await page.fill('#expert-widths', '16,x');
    await page.getByTestId('start').click();
    await h.waitFor(`window.__demo.state === 'error'`, 30_000);
    await expect(errorText()).resolves.toMatch(/^Bottom widths: write layer widths/);
    await page.fill('#expert-widths', '16');
  });

  test('trains an MMoE baseline on the synthetic benchmark and reports its test metrics', async () => {
    await page.selectOption('#family', 'mmoe');
    await page.fill('#shared-experts', '4');
    await page.fill('#train-rows', '2048');
    await page.fill('#epochs', '2');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.errors)).toEqual(['Levels: write a whole number from 1 to 4, got "9"', 'Bottom widths: write layer widths from 1 to 4096 separated by commas, e.g. 32,16']);
    expect(await h.demo((d) => d.state)).toBe('done');
    const runs = await h.demo((d) => d.runs());
    expect(runs).toHaveLength(1);
    expect(runs[0].epochs).toHaveLength(2);
    await expect(status()).resolves.toMatch(/^Done after epoch 2\. Validation after epoch 2: task1 MSE \d\.\d{4}, task2 MSE \d\.\d{4}\. Test: task1 MSE \d\.\d{4}, task2 MSE \d\.\d{4}\.$/);
  });

  test('trains a PLE run with pause and resume (form locked, checkpoint downloadable while paused), plotting finite values while the loss falls', async () => {
    await page.selectOption('#family', 'ple');
    await page.fill('#shared-experts', '2');
    // 1536 steps per epoch at the page's batch of 128 (near the form's 200000 rows): seconds of training on the CPU device, so
    // the pause lands mid-run even when the click takes seconds on a loaded host (with 256, a fresh-clone
    // CI run once finished all 3 epochs before the pause did).
    const steps = 1536;
    await page.fill('#train-rows', String(steps * 128));
    await page.fill('#epochs', '3');
    const redrawsBefore = await h.demo((d) => d.redraws);
    const started = performance.now();
    await page.getByTestId('start').click();
    await h.waitFor(`window.__demo.state === 'training' && window.__demo.progress.step >= 3`, 180_000);
    // Edits during a run would do nothing: the form is locked.
    await expect(page.locator('#levels').isDisabled()).resolves.toBe(true);
    await expect(page.locator('#epochs').isDisabled()).resolves.toBe(true);
    await expect(page.getByTestId('checkpoint-file').isDisabled()).resolves.toBe(true);

    await page.getByTestId('pause').click();
    await h.waitFor(`window.__demo.state === 'paused'`, 60_000);
    await page.waitForTimeout(500); // the step submitted before the pause may still report
    const atPause = await h.demo((d) => d.progress);
    await page.waitForTimeout(1500);
    expect(await h.demo((d) => d.progress)).toEqual(atPause);
    await expect(page.getByTestId('pause').textContent()).resolves.toBe('Resume');
    await expect(page.getByTestId('download-checkpoint').isEnabled()).resolves.toBe(true);
    const pausedPath = await download(() => page.getByTestId('download-checkpoint').click());
    const paused = JSON.parse(metadataOf(pausedPath).training);
    // The position is the steps submitted, at or past the last reported one (possibly the next epoch's step 0).
    expect(paused.position).toEqual({ epoch: expect.any(Number), step: expect.any(Number), stepsPerEpoch: steps });
    expect(paused.epoch).toBe(paused.position.epoch - 1);
    expect((paused.position.epoch - 1) * steps + paused.position.step).toBeGreaterThanOrEqual((atPause.epoch - 1) * steps + atPause.step);
    await page.getByTestId('pause').click();
    await h.waitFor(`window.__demo.state === 'training'`, 30_000);
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      expect(performance.now() - t, 'a frame and a task while training').toBeLessThan(1000);
    }

    await h.waitFor(`window.__demo.epochsDone >= 2`, 180_000);
    const plotted = await h.demo((d) => d.plotted()); // also redraws the charts now, for the screenshots
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
      // The running loss is per task (not the weighted sum): the latest epoch's running mean is below epoch 1's.
      const running = plotted.loss.find((s) => s.label === `${task} running`)!.data;
      const endOfFirst = running.filter((p) => p.x <= 1).at(-1)!;
      expect(running[running.length - 1].x).toBeGreaterThan(1);
      expect(running[running.length - 1].y).toBeLessThan(endOfFirst.y);
    }
    // The seesaw keeps the finished MMoE run beside the PLE run: same data, named.
    expect(plotted.seesaw.map((s) => s.label)).toEqual(['MMoE #1 · synthetic, correlation 0.5', 'PLE #2 · synthetic, correlation 0.5']);
    expect(plotted.seesaw[0].data).toHaveLength(2);
    expect(plotted.seesaw[1].data.length).toBeGreaterThanOrEqual(2);

    // Gates: a heat map per level with weights in [0, 1] summing to 1 per gate, and the simplex.
    expect(await h.demo((d) => d.gateUpdates)).toBeGreaterThan(0);
    const rows = await page.$$eval('#heatmaps tbody tr', (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll('td[data-weight]')).map((td) => Number((td as HTMLElement).dataset.weight))),
    );
    expect(rows.length).toBe(3 + 2); // PLE, 2 levels: 2 task gates + the shared gate, then 2 task gates
    for (const r of rows) {
      expect(r.every((w) => w >= 0 && w <= 1)).toBe(true);
      expect(r.reduce((a, w) => a + w, 0)).toBeCloseTo(1, 4);
    }
    await expect(page.getByTestId('simplex').isVisible()).resolves.toBe(true);
    await shot('gates-triangle.png', page.getByTestId('gates'));
    if (docs) await page.getByTestId('gates').screenshot({ path: resolve(docs, 'demo-gates.png') });
    await page.selectOption('#simplex-gate', '0:2'); // the shared gate of level 1 mixes 4 experts: the tetrahedron
    await shot('gates-tetrahedron.png', page.getByTestId('gates'));
    if (docs) await page.getByTestId('gates').screenshot({ path: resolve(docs, 'demo-gates-tetrahedron.png') });

    await h.waitFor(`window.__demo.state === 'done'`, 180_000);
    const elapsed = performance.now() - started;
    const runs = await h.demo((d) => d.runs());
    expect(runs[runs.length - 1].epochs.map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect((await h.demo((d) => d.redraws)) - redrawsBefore).toBeLessThanOrEqual(Math.ceil(elapsed / 300) + 8);
    await expect(page.getByTestId('error').isHidden()).resolves.toBe(true);
    await expect(page.locator('#levels').isDisabled()).resolves.toBe(false);
  });

  test('downloads the checkpoint and the metrics, loads it back (the form follows it) and continues', async () => {
    const ckptPath = await download(() => page.getByTestId('download-checkpoint').click());
    const { tensors, metadata } = decodeSafetensors(new Uint8Array(readFileSync(ckptPath)), ckptPath);
    expect(metadata.format).toBe('ple-webgpu-checkpoint/1');
    const training = JSON.parse(metadata.training);
    expect(training.epoch).toBe(3);
    expect(training.position).toBeUndefined();
    expect(training.model).toEqual({ family: 'ple', levels: 2, taskExperts: 1, sharedExperts: 2, expertWidths: [16], towerWidths: [8] });
    expect(tensors.size).toBeGreaterThan(10);
    for (const t of tensors.values()) expect(t.data.every(Number.isFinite)).toBe(true);

    const metrics = JSON.parse(readFileSync(await download(() => page.getByTestId('download-metrics').click()), 'utf8'));
    if (software) expect(metrics.device).toEqual({ kind: 'cpu', threads: expect.any(Number) });
    else expect(metrics.device).toMatchObject({ kind: 'webgpu', adapter: { isFallback: false } });
    expect(metrics.epochs).toHaveLength(3);
    expect(metrics.epochs[2].validation.tasks.task1.mse).toBeGreaterThan(0);
    expect(metrics.test.tasks.task1.mse).toBeGreaterThan(0);

    // Another family in the form: loading the checkpoint puts its model back.
    await page.selectOption('#family', 'mmoe');
    await page.fill('#shared-experts', '5');
    await page.setInputFiles('#checkpoint-file', ckptPath);
    await h.waitFor(`document.getElementById('status').textContent.startsWith('Loaded')`, 120_000);
    expect(await page.inputValue('#family')).toBe('ple');
    expect(await page.inputValue('#levels')).toBe('2');
    expect(await page.inputValue('#shared-experts')).toBe('2');
    expect(await page.isChecked('#continue')).toBe(true);
    await page.fill('#epochs', '1');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    const runs = await h.demo((d) => d.runs());
    expect(runs[runs.length - 1].epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4]);
  });

  test('Stop mid-epoch says so, plots no partial epoch, and both the tab and a checkpoint continue from there', async () => {
    // 1024 steps per epoch at the page's batch of 128: a wide window for Stop to land mid-epoch on a fast device (the CPU device takes a few ms a step).
    const steps = 1536;
    await page.fill('#train-rows', String(steps * 128));
    await page.fill('#epochs', '1');
    await page.getByTestId('start').click();
    await h.waitFor(`window.__demo.state === 'training' && window.__demo.progress.step >= 3`, 180_000);
    await page.getByTestId('stop').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('stopped');
    const position = (await h.demo((d) => d.position))!;
    expect(position.epoch).toBe(1);
    expect(position.step).toBeGreaterThanOrEqual(3);
    expect(position.step).toBeLessThan(steps);
    await expect(status()).resolves.toMatch(new RegExp(`^Stopped during epoch 1 \\(${Math.round((100 * position.step) / steps)}%: ${position.step} of ${steps} steps\\)`));
    expect((await h.demo((d) => d.runs())).at(-1)!.epochs).toEqual([]);
    const ckpt = await download(() => page.getByTestId('download-checkpoint').click());
    expect(JSON.parse(metadataOf(ckpt).training)).toMatchObject({ epoch: 0, position, history: [] });

    // In the tab: Continue finishes epoch 1.
    await page.check('#continue');
    await expect(page.locator('#levels').isDisabled()).resolves.toBe(true); // the model's own architecture
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    expect((await h.demo((d) => d.runs())).at(-1)!.epochs.map((e) => e.epoch)).toEqual([1]);
    // Exactly one epoch of optimizer steps in all: the stopped part was not repeated.
    expect(metadataOf(await download(() => page.getByTestId('download-checkpoint').click())).step).toBe(String(steps));

    // From the checkpoint: loading it says where it stopped, and continuing finishes the same epoch.
    await page.setInputFiles('#checkpoint-file', ckpt);
    await h.waitFor(`document.getElementById('status').textContent.startsWith('Loaded')`, 120_000);
    await expect(status()).resolves.toMatch(`stopped during epoch 1 (${position.step} of ${steps} steps)`);
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    expect((await h.demo((d) => d.runs())).at(-1)!.epochs.map((e) => e.epoch)).toEqual([1]);
    expect(metadataOf(await download(() => page.getByTestId('download-checkpoint').click())).step).toBe(String(steps));
  });

  test('Clear earlier runs keeps the current run, its gates and its status', async () => {
    const before = await status();
    await page.getByTestId('clear-runs').click();
    const runs = await h.demo((d) => d.runs());
    expect(runs).toHaveLength(1);
    expect(runs[0].label).toMatch(/\(loaded\)/);
    expect(await page.$$eval('#heatmaps tbody tr', (trs) => trs.length)).toBe(5);
    await expect(status()).resolves.toBe(before);
  });

  test('trains on a CSV file with two suggested tasks, checked positive values, a standardised regression target and task weights', async () => {
    await page.check('input[name="source"][value="file"]');
    await page.setInputFiles('#data-file', { name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(people) });
    await page.waitForSelector('select[data-column="income"]');
    // Two tasks suggested: the last column and the other two-valued one.
    expect(await page.inputValue('select[data-column="income"]')).toBe('label-value');
    expect(await page.inputValue('select[data-column="marital-status"]')).toBe('label-value');
    // The column's own values are offered; a value it does not have is flagged at once and refused at Start.
    expect(await page.$$eval('input[data-param="marital-status"]', ([i]) => Array.from((i as HTMLInputElement).list!.options).map((o) => o.value).sort())).toEqual(['Married', 'Never-married']);
    await page.fill('input[data-param="marital-status"]', 'never married');
    await expect(page.locator('[data-warn="marital-status"]').textContent()).resolves.toBe('not a value of this column: never married');
    await page.selectOption('#family', 'mmoe');
    await page.fill('#shared-experts', '3');
    await page.fill('#epochs', '2');
    await page.fill('#batch-size', '64');
    await page.getByTestId('start').click();
    await h.waitFor(`window.__demo.state === 'error'`, 60_000);
    await expect(errorText()).resolves.toMatch(/^column "marital-status": "never married" is not one of its values \((Married, Never-married|Never-married, Married)\)$/);
    await page.fill('input[data-param="marital-status"]', 'Never-married');

    // hours-per-week (tens of hours) becomes a regression task beside income, weighted 1 and 0.5.
    await page.selectOption('select[data-column="marital-status"]', 'ignore');
    await page.selectOption('select[data-column="hours-per-week"]', 'label-regression');
    await page.fill('input[data-param="income"]', '>50K');
    await page.selectOption('select[data-column="city"]', 'categorical-embedding');
    await page.fill('#task-weights', '1, 0.5');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    const run = (await h.demo((d) => d.runs())).at(-1)!;
    expect(run.label).toBe('MMoE #2 · people.csv');
    expect(run.tasks.map((t) => `${t.name}:${t.type}`)).toEqual(['hours-per-week:regression', 'income:binary']);
    expect(run.epochs).toHaveLength(2);
    // Trained on standardised hours (loss ~1), reported in hours² (the variance is ~150).
    const last = run.epochs[1];
    expect(last.validationTaskLoss![0]).toBeLessThan(3);
    expect(last.metric[0]).toBeGreaterThan(20);
    expect(last.metric[1]).toBeGreaterThanOrEqual(0);
    expect(last.metric[1]).toBeLessThanOrEqual(1);
    await shot('csv.png');
    const ckpt = await download(() => page.getByTestId('download-checkpoint').click());
    const meta = metadataOf(ckpt);
    const targets = JSON.parse(meta.training).targets;
    expect(targets.tasks.map((t: { name: string }) => t.name)).toEqual(['hours-per-week']);
    expect(targets.tasks[0].mean).toBeGreaterThan(30);
    expect(targets.tasks[0].std).toBeGreaterThan(5);
    expect(JSON.parse(meta.config).tasks.map((t: { weight: number }) => t.weight)).toEqual([1, 0.5]);
    expect(JSON.parse(meta.data).kind).toBe('csv');
  });

  test('a checkpoint loaded before its CSV file shows the gates once the file is picked; a file that is not a checkpoint says so', async () => {
    const ckpt = await download(() => page.getByTestId('download-checkpoint').click());
    const p = await context.newPage();
    watch(p);
    const ph = helpers(p);
    await p.goto(origin, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
    await p.setInputFiles('#checkpoint-file', ckpt);
    await ph.waitFor(`document.getElementById('status').textContent.startsWith('Loaded')`, 120_000);
    await expect(p.getByTestId('status').textContent()).resolves.toMatch(/Pick its CSV file people\.csv/);
    expect(await p.inputValue('#family')).toBe('mmoe');
    expect(await p.inputValue('#shared-experts')).toBe('3');
    expect(await p.inputValue('#task-weights')).toBe('1, 0.5');
    expect(await p.$$eval('#heatmaps tbody tr', (trs) => trs.length)).toBe(0);
    await p.setInputFiles('#data-file', { name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(people) });
    await ph.waitFor(`document.querySelectorAll('#heatmaps tbody tr').length === 2`, 60_000);
    expect(await p.inputValue('select[data-column="hours-per-week"]')).toBe('label-regression');

    // Not a checkpoint: said plainly, and nothing claims it was loaded.
    await p.setInputFiles('#checkpoint-file', { name: 'notes.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('just some text, not a checkpoint at all') });
    await ph.waitFor(`!document.getElementById('error').hidden`, 30_000);
    await expect(p.getByTestId('error').textContent()).resolves.toMatch(/^CheckpointError: notes\.safetensors: not a safetensors file/);
    await expect(p.getByTestId('status').textContent()).resolves.toMatch(/^notes\.safetensors was not loaded .* The model in the tab is unchanged\.$/);
    await expect(p.getByTestId('start').isEnabled()).resolves.toBe(true);
    await p.close();
  });

  test('bad CSV files say what is wrong: a ragged row, binary data, semicolons', async () => {
    const error = page.getByTestId('error');
    await page.setInputFiles('#data-file', { name: 'ragged.csv', mimeType: 'text/csv', buffer: Buffer.from('a,b,c\n1,2,3\n4,5\n') });
    await error.waitFor({ state: 'visible', timeout: 30_000 });
    await expect(error.textContent()).resolves.toMatch(/DataError: ragged\.csv line 3: expected 3 fields, got 2/);
    await shot('bad-csv.png');
    await page.setInputFiles('#data-file', { name: 'photo.csv', mimeType: 'text/csv', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x2c, 0x0a, 0x2c, 0x2c]) });
    await h.waitFor(`document.getElementById('error').textContent.includes('photo.csv')`, 30_000);
    await expect(error.textContent()).resolves.toMatch(/^DataError: photo\.csv is not a text file \(it holds binary data\)/);
    await page.setInputFiles('#data-file', { name: 'excel.csv', mimeType: 'text/csv', buffer: Buffer.from('a;b;c\n1;2;3\n') });
    await h.waitFor(`document.getElementById('error').textContent.includes('excel.csv')`, 30_000);
    await expect(error.textContent()).resolves.toMatch(/^DataError: excel\.csv separates its values with semicolons, not commas/);
    await expect(page.getByTestId('roles').textContent()).resolves.toBe('');
  });

  test('single-task has no seesaw and shared-bottom no gates, and the page says so', async () => {
    await page.check('input[name="source"][value="synthetic"]');
    await page.fill('#task-weights', '');
    await page.fill('#train-rows', '256');
    await page.fill('#epochs', '1');
    await page.selectOption('#family', 'single-task');
    await page.fill('#single-task', 'task2');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    await expect(page.getByTestId('seesaw-empty').textContent()).resolves.toBe('This run has one task (task2): the seesaw needs two.');
    await expect(page.locator('#seesaw-x').isVisible()).resolves.toBe(false);
    // Other data (another task correlation), same task names: the seesaw shows only runs on this data.
    await page.fill('#correlation', '0.9');
    await page.selectOption('#family', 'shared-bottom');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    expect((await h.demo((d) => d.runs())).filter((r) => r.tasks.length === 2 && r.tasks[0].name === 'task1').length).toBeGreaterThan(1);
    expect((await h.demo((d) => d.plotted())).seesaw.map((s) => s.label)).toEqual([expect.stringMatching(/^Shared-bottom #\d · synthetic, correlation 0\.9$/)]);
    await expect(page.getByTestId('gates-note').textContent()).resolves.toMatch(/no gates/);
    expect(await page.$$eval('#heatmaps tbody tr', (trs) => trs.length)).toBe(0);
    await expect(page.getByTestId('simplex').isVisible()).resolves.toBe(false);
  });

  test('?device=gpu trains on WebGPU and shows the adapter; a lost GPU device stops training with a message; Start trains again on a new device', async () => {
    const p = await context.newPage();
    watch(p);
    const ph = helpers(p);
    await p.goto(`${origin}/?device=gpu`, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
    await expect(p.getByTestId('adapter').textContent()).resolves.toMatch(/^Adapter: .+/);
    await p.selectOption('#family', 'cgc');
    await p.fill('#train-rows', '2048');
    await p.fill('#epochs', '20');
    await p.getByTestId('start').click();
    await ph.waitFor(`window.__demo.state === 'training' && window.__demo.progress.step >= 2`, 180_000);
    await ph.demo((d) => d.loseDevice());
    await ph.waitFor(`window.__demo.state === 'error'`, 60_000);
    await expect(p.getByTestId('error').textContent()).resolves.toMatch(/GPU device was lost/);
    await p.screenshot({ path: resolve(artifacts, 'device-lost.png'), fullPage: true });
    await expect(p.locator('#continue').isDisabled()).resolves.toBe(true);
    await p.fill('#epochs', '1');
    await p.getByTestId('start').click();
    await ph.finished();
    expect(await ph.demo((d) => [d.state, d.errors.filter((e) => !/GPU device was lost/.test(e))])).toEqual(['done', []]);
    await expect(p.getByTestId('error').isHidden()).resolves.toBe(true);
    await expect(p.getByTestId('adapter').textContent()).resolves.toMatch(/^Adapter: .+/);
    const metrics = JSON.parse(readFileSync(await download(() => p.getByTestId('download-metrics').click(), p), 'utf8'));
    expect(metrics.device.kind).toBe('webgpu');
    expect(`Adapter: ${formatAdapter(metrics.device.adapter)}`).toBe(await p.getByTestId('adapter').textContent());
    await p.close();
  });

  test('?device=cpu trains on the CPU device (no GPU pipelines); an unknown ?device= is an error naming the choices', async () => {
    const p = await context.newPage();
    watch(p);
    const ph = helpers(p);
    // Every status line the page shows, to see that none speaks of GPU pipelines.
    await p.addInitScript(() => {
      const seen: string[] = ((window as unknown as { __statuses: string[] }).__statuses = []);
      document.addEventListener('DOMContentLoaded', () => {
        const status = document.getElementById('status')!;
        new MutationObserver(() => seen.push(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
      });
    });
    await p.goto(`${origin}/?device=cpu`, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
    // Served cross-origin isolated, the page's CPU device runs a thread per core (at most 16): more than one where the browser has more cores.
    const { isolated, cores } = await p.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
    expect(isolated).toBe(true);
    const threads = Math.min(cores, 16);
    await expect(p.getByTestId('adapter').textContent()).resolves.toBe(
      `Device: CPU (WebAssembly SIMD) on ${threads} thread${threads > 1 ? 's' : ''} (${cores > 16 ? `${cores} cores, at most 16` : `${cores} core${cores > 1 ? 's' : ''}`}) — as ?device=cpu asks`,
    );
    if (cores > 1) expect(threads).toBeGreaterThan(1);
    await p.fill('#train-rows', '512');
    await p.fill('#epochs', '2');
    await p.getByTestId('start').click();
    await ph.finished();
    expect(await ph.demo((d) => [d.state, d.errors])).toEqual(['done', []]);
    expect((await ph.demo((d) => d.runs())).at(-1)!.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(await p.$$eval('#heatmaps tbody tr', (trs) => trs.length)).toBe(5);
    const statuses = await p.evaluate(() => (window as unknown as { __statuses: string[] }).__statuses);
    expect(statuses).toContain('Preparing the model on the CPU device…');
    expect(statuses.filter((t) => /GPU/.test(t))).toEqual([]);
    const metrics = JSON.parse(readFileSync(await download(() => p.getByTestId('download-metrics').click(), p), 'utf8'));
    expect(metrics.device).toEqual({ kind: 'cpu', threads: Math.min(cores, 16) });
    // The CPU device is never lost: the test hook says so rather than pretending.
    await expect(ph.demo((d) => d.loseDevice())).rejects.toThrow(/no GPU device to lose: training on the CPU device/);

    await p.goto(`${origin}/?device=tpu`, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state !== 'loading'`, 60_000);
    expect(await ph.demo((d) => d.state)).toBe('no-device');
    await expect(p.getByTestId('error').textContent()).resolves.toBe('Could not open a device to train on (?device=tpu): the device must be one of auto, gpu, cpu, got "tpu"');
    await expect(p.getByTestId('start').isDisabled()).resolves.toBe(true);
    await p.close();
  });

  test('420 px wide: no sideways scroll, the controls stay on screen above the charts, canvases fit', async () => {
    const p = await context.newPage();
    watch(p);
    const ph = helpers(p);
    await p.setViewportSize({ width: 420, height: 860 });
    await p.goto(origin, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
    const start = await p.getByTestId('start').boundingBox();
    expect(start!.y + start!.height).toBeLessThan(860);
    await p.fill('#train-rows', '512');
    await p.fill('#epochs', '2');
    await p.getByTestId('start').click();
    await p.waitForFunction(`window.__demo.state === 'done'`, undefined, { timeout: 180_000, polling: 250 });
    await ph.waitFor(`window.__demo.gateUpdates > 0`, 30_000);
    await ph.demo((d) => d.plotted());
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    for (const id of ['simplex', 'chart-loss', 'chart-seesaw']) {
      const box = await p.getByTestId(id).boundingBox();
      expect(box!.x, id).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width, id).toBeLessThanOrEqual(420);
    }
    // Scrolled down to the gates, the control bar is still at the top of the screen.
    await p.getByTestId('gates').scrollIntoViewIfNeeded();
    const stop = await p.getByTestId('stop').boundingBox();
    expect(stop!.y).toBeGreaterThanOrEqual(0);
    expect(stop!.y).toBeLessThan(200);
    await p.evaluate(() => window.scrollTo(0, 0));
    await p.screenshot({ path: resolve(artifacts, 'phone.png'), fullPage: true });
    if (docs) await p.screenshot({ path: resolve(docs, 'demo-phone.png'), fullPage: true });
    await p.close();
  });

  test('without WebGPU the page notes it, says how to get it, and trains on the CPU device; ?device=gpu there is an error', async () => {
    const p = await context.newPage();
    watch(p);
    const ph = helpers(p);
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await p.goto(origin, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state !== 'loading'`, 60_000);
    const notice = p.getByTestId('no-webgpu');
    await expect(notice.isVisible()).resolves.toBe(true);
    await expect(notice.getAttribute('class')).resolves.toBe('notice note');
    await expect(notice.textContent()).resolves.toMatch(/^\s*WebGPU is not available here: training runs on the CPU\s*WebGPU is not available in this browser \(navigator\.gpu is missing\)\.[\s\S]*enable-unsafe-webgpu/);
    await expect(p.getByTestId('adapter').textContent()).resolves.toMatch(/^Device: CPU \(WebAssembly SIMD\) on \d+ threads? \(.+\) — no WebGPU adapter: WebGPU is not available in this browser \(navigator\.gpu is missing\)\.$/);
    await expect(p.getByTestId('error').isHidden()).resolves.toBe(true);
    await expect(p.getByTestId('start').isEnabled()).resolves.toBe(true);
    await p.fill('#train-rows', '256');
    await p.fill('#epochs', '1');
    await p.getByTestId('start').click();
    await ph.finished();
    expect(await ph.demo((d) => [d.state, d.errors])).toEqual(['done', []]);
    expect((await ph.demo((d) => d.runs())).at(-1)!.epochs).toHaveLength(1);
    await p.screenshot({ path: resolve(artifacts, 'no-webgpu.png') });

    // WebGPU asked for by name: the notice is an error and Start stays disabled.
    await p.goto(`${origin}/?device=gpu`, { waitUntil: 'load' });
    await ph.waitFor(`window.__demo && window.__demo.state !== 'loading'`, 60_000);
    expect(await ph.demo((d) => d.state)).toBe('no-device');
    await expect(notice.getAttribute('class')).resolves.toBe('notice error');
    await expect(notice.textContent()).resolves.toMatch(/Open the page without \?device=gpu to train on the CPU device[\s\S]*enable-unsafe-webgpu/);
    await expect(p.getByTestId('adapter').textContent()).resolves.toBe('No WebGPU adapter');
    await expect(p.getByTestId('start').isDisabled()).resolves.toBe(true);
    await p.close();
  });

  test('no page errors; no request leaves the dev server, and none carries the CSV data', () => {
    expect(pageProblems).toEqual([]);
    expect(requests.length).toBeGreaterThan(0);
    const foreign = requests.filter((r) => !(r.url.startsWith(`${origin}/`) || r.url.startsWith('blob:') || r.url.startsWith('data:')));
    expect(foreign.map((r) => r.url)).toEqual([]);
    expect(sockets.every((u) => u.startsWith(`ws://127.0.0.1:${new URL(origin).port}`))).toBe(true);
    const csvLines = people.split('\n').slice(1, 20).filter(Boolean);
    for (const r of requests) {
      expect(r.method === 'GET' || r.method === 'HEAD', `${r.method} ${r.url}`).toBe(true);
      if (r.body) for (const line of [...csvLines, '4,5']) expect(r.body.includes(line)).toBe(false);
      for (const line of csvLines.slice(0, 5)) expect(decodeURIComponent(r.url).includes(line)).toBe(false);
    }
  });
});
