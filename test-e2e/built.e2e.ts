/**
 * The built site (`npm run build`, served as `npm run preview` serves dist/demo): the page loads
 * from the bundle, opens its device, trains, round-trips a checkpoint, reads a CSV file, fits 420 px,
 * and sends no request anywhere but its server; no page errors. The dev server gets the full
 * suite in demo.e2e.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright';
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeSafetensors } from '../src/checkpoint/safetensors.js';
import { helpers, launch, peopleCsv, record, repo, serve, type PageRecord } from './site.js';

const artifacts = resolve(repo, 'test-results/e2e-built');
let site: Awaited<ReturnType<typeof serve>>;
let browser: Browser;
let page: Page;
let h: ReturnType<typeof helpers>;
const seen: PageRecord = { requests: [], sockets: [], problems: [] };

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  site = await serve('built');
  let context;
  ({ browser, context } = await launch());
  page = await context.newPage();
  record(page, seen);
  h = helpers(page);
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

describe('the built site', () => {
  test('loads from the bundle and opens its device (WebGPU, or the CPU device on a software adapter)', async () => {
    await page.goto(site.origin, { waitUntil: 'load' });
    await h.waitFor(`window.__demo && window.__demo.state !== 'loading'`, 60_000);
    expect(await h.demo((d) => d.state)).toBe('ready');
    await expect(page.getByTestId('adapter').textContent()).resolves.toMatch(/^(Adapter: |Device: CPU \(WebAssembly SIMD\) on \d+ threads? )/);
    // `vite preview` serves the built site cross-origin isolated too, so the CPU device may run threads.
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(seen.requests.some(({ url: u }) => /\/assets\/index-[\w-]+\.js$/.test(u))).toBe(true);
  });

  test('trains, and a downloaded checkpoint loads back and continues', async () => {
    await page.fill('#train-rows', '512');
    await page.fill('#epochs', '1');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    expect(await page.$$eval('#heatmaps tbody tr', (trs) => trs.length)).toBe(5);
    const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-checkpoint').click()]);
    const path = resolve(artifacts, d.suggestedFilename());
    await d.saveAs(path);
    expect(JSON.parse(decodeSafetensors(new Uint8Array(readFileSync(path)), path).metadata.training).epoch).toBe(1);
    await page.setInputFiles('#checkpoint-file', path);
    await h.waitFor(`document.getElementById('status').textContent.startsWith('Loaded')`, 120_000);
    await page.getByTestId('start').click();
    await h.finished();
    expect((await h.demo((d) => d.runs())).at(-1)!.epochs.map((e) => e.epoch)).toEqual([1, 2]);
  });

  test('reads a CSV file and trains on it', async () => {
    await page.check('input[name="source"][value="file"]');
    await page.setInputFiles('#data-file', { name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(peopleCsv(200)) });
    await page.waitForSelector('select[data-column="income"]');
    await page.uncheck('#continue');
    await page.getByTestId('start').click();
    await h.finished();
    expect(await h.demo((d) => d.state)).toBe('done');
    expect((await h.demo((d) => d.runs())).at(-1)!.label).toMatch(/^PLE #\d · people\.csv$/);
  });

  test('fits 420 px without sideways scrolling; no page errors; no request leaves the server', async () => {
    await page.setViewportSize({ width: 420, height: 860 });
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    await page.screenshot({ path: resolve(artifacts, 'phone.png'), fullPage: true });
    expect(seen.problems).toEqual([]);
    expect(seen.requests.map((r) => r.url).filter((u) => !(u.startsWith(`${site.origin}/`) || u.startsWith('blob:') || u.startsWith('data:')))).toEqual([]);
  });
});
