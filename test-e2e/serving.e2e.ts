/**
 * Serving from the demo page in headless Chromium: trains a small model on a CSV file picked from
 * disk, downloads the model as ONNX and checks it in ONNX Runtime (in Node), then scores another
 * CSV file with "Predict on a CSV" and checks the downloaded predictions against ONNX Runtime's on
 * the same rows (encoded with the encoder the ONNX file carries in its metadata).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright';
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { runOnnx } from '../test/onnx-runtime.js';
import { ONNX_ENCODER_KEY } from '../src/export/onnx.js';
import { TabularEncoder } from '../src/data/tabular.js';
import { parseCsv } from '../src/data/csv.js';
import { launch, serve } from './site.js';


/** Rows with an id, a numeric, a one-hot and an embedded category, a binary and a regression label. */
function csvText(rows: number, offset: number): string {
  const lines = ['id,age,city,device,clicked,spend'];
  for (let i = offset; i < offset + rows; i++) {
    const age = 18 + ((i * 37) % 60);
    lines.push(`u${i},${age},${['north', 'south', 'east'][i % 3]},${['ios', 'android', 'web', 'tv'][(i * 7) % 4]},${(age + (i % 11)) > 50 ? 'yes' : 'no'},${((i * 13) % 40) / 2}`);
  }
  return lines.join('\n') + '\n';
}

let site: { origin: string; close(): Promise<void> };
let browser: Browser;
let page: Page;
const problems: string[] = [];
const waitFor = (fn: string, timeout = 180_000) => page.waitForFunction(fn, undefined, { timeout, polling: 250 });

beforeAll(async () => {
  site = await serve('dev');
  let context;
  ({ browser, context } = await launch());
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(site.origin, { waitUntil: 'load' });
  await waitFor(`window.__demo && window.__demo.state === 'ready'`, 60_000);
});

afterAll(async () => {
  if (problems.length) console.log(`page errors:\n${problems.join('\n')}`);
  await browser?.close();
  await site?.close();
});

describe('serving from the demo page', () => {
  let onnxBytes: Uint8Array;

  test('trains on a CSV file, then downloads an ONNX model that ONNX Runtime loads and runs', async () => {
    await expect(page.getByTestId('download-onnx').isDisabled()).resolves.toBe(true);
    await page.check('input[name="source"][value="file"]');
    await page.setInputFiles('#data-file', { name: 'clicks.csv', mimeType: 'text/csv', buffer: Buffer.from(csvText(400, 0)) });
    await page.waitForSelector('select[data-column="clicked"]');
    await page.selectOption('select[data-column="id"]', 'ignore');
    await page.selectOption('select[data-column="age"]', 'numeric');
    await page.selectOption('select[data-column="city"]', 'categorical-onehot');
    await page.selectOption('select[data-column="device"]', 'categorical-embedding');
    await page.selectOption('select[data-column="clicked"]', 'label-value');
    await page.fill('input[data-param="clicked"]', 'yes');
    await page.selectOption('select[data-column="spend"]', 'label-regression');
    await page.selectOption('#family', 'mmoe');
    await page.fill('#epochs', '1');
    await page.fill('#batch-size', '64');
    await page.getByTestId('start').click();
    await waitFor(`window.__demo.state === 'done' || window.__demo.state === 'error'`);
    expect(await page.evaluate(() => window.__demo.errors)).toEqual([]);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-onnx').click()]);
    expect(download.suggestedFilename()).toMatch(/\.onnx$/);
    onnxBytes = new Uint8Array(readFileSync((await download.path())!));
    const model = onnxProto.onnx.ModelProto.decode(onnxBytes);
    expect(Number(model.opsetImport[0].version)).toBeGreaterThanOrEqual(17);
    expect(model.graph!.input!.map((i) => i.name)).toEqual(['x', 'index.device']);
    expect(model.graph!.output!.map((o) => o.name)).toEqual(['clicked', 'spend']);
    expect(model.metadataProps.map((p) => p.key)).toContain(ONNX_ENCODER_KEY);
  });

  test('"Predict on a CSV" offers predictions that match ONNX Runtime on the same rows', async () => {
    const text = csvText(150, 1000);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 120_000 }),
      page.setInputFiles('#predict-file', { name: 'new-rows.csv', mimeType: 'text/csv', buffer: Buffer.from(text) }),
    ]);
    expect(download.suggestedFilename()).toBe('new-rows-predictions.csv');
    const preds = parseCsv(readFileSync((await download.path())!, 'utf8'), 'predictions');
    expect(preds.header.slice(0, 2)).toEqual(['clicked', 'spend']);
    expect(preds.header.slice(2).every((c) => /^level0\.task[01]\.gate\.expert\d+$/.test(c))).toBe(true);
    expect(preds.rows.length).toBe(150);
    await expect(page.getByTestId('predict-status').textContent()).resolves.toMatch(/Scored 150 rows of new-rows\.csv.*clicked: AUC \d\.\d{4}, log loss .*spend: MSE/);

    // A serving stack's view: the encoder from the model's metadata, then ONNX Runtime.
    const model = onnxProto.onnx.ModelProto.decode(onnxBytes);
    const encoder = TabularEncoder.fromJSON(JSON.parse(model.metadataProps.find((p) => p.key === ONNX_ENCODER_KEY)!.value!));
    const data = encoder.transform(parseCsv(text, 'new-rows.csv'));
    const got = await runOnnx(onnxBytes, { x: data.dense, inputDim: data.denseDim, indices: { device: data.categorical }, rows: data.rows });
    for (const [k, task] of ['clicked', 'spend'].entries()) {
      preds.rows.forEach((row, r) => {
        const want = Number(row[k]);
        expect(Math.abs(got[task][r] - want), `${task} row ${r}: ONNX ${got[task][r]} vs page ${want}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
      });
    }
  });

  test('a CSV missing an input column shows an error naming it', async () => {
    await page.setInputFiles('#predict-file', { name: 'no-age.csv', mimeType: 'text/csv', buffer: Buffer.from('id,city,device\nu1,north,ios\n') });
    await waitFor(`document.querySelector('[data-testid="predict-status"]').textContent.includes('could not be scored')`, 30_000);
    await expect(page.locator('#error').textContent()).resolves.toMatch(/no-age\.csv has no column "age", a numeric input of the model/);
  });
});
