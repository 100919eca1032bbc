/**
 * Serving from the page: "Download ONNX" exports the current model (src/export/onnx.ts) with its
 * input encoder in the model's metadata, and "Predict on a CSV" scores a file picked from disk a
 * chunk at a time with the model and the encoder it was trained with, then offers the predictions
 * as a CSV download. The file is read in this tab and never leaves it.
 */
import Papa from 'papaparse';
import { exportOnnx, ONNX_ENCODER_KEY } from '../src/export/onnx.js';
import { readCsvChunks } from '../src/serving/csv-chunks.js';
import { CsvEncoding, formatMetrics, Predictor } from '../src/serving/predict.js';
import type { TabularEncoder, Trainer } from '../src/index.js';
import type { TargetScaling } from '../src/data/targets.js';
import { download } from './controls.js';

/** The model the page holds: its trainer, a name for file names, its regression target scaling, and the encoder of its CSV, Parquet or Arrow data (null for synthetic data). */
export interface ServingModel {
  trainer: Trainer;
  name: string;
  targets: TargetScaling;
  encoder(): TabularEncoder | null;
}

export interface ServingHooks {
  model(): ServingModel | null;
  /** The controls are enabled exactly when this button is (the checkpoint download). */
  follow: HTMLButtonElement;
  showError(e: unknown): void;
}

const CHUNK_ROWS = 4096;

/** Wires the two controls. */
export function mountServing(hooks: ServingHooks): void {
  const button = document.getElementById('download-onnx') as HTMLButtonElement;
  const file = document.getElementById('predict-file') as HTMLInputElement;
  const status = document.getElementById('predict-status') as HTMLElement;
  let busy = false;
  const sync = () => {
    button.disabled = hooks.follow.disabled || busy;
    file.disabled = hooks.follow.disabled || busy;
  };
  new MutationObserver(sync).observe(hooks.follow, { attributes: true, attributeFilter: ['disabled'] });

  button.addEventListener('click', async () => {
    const m = hooks.model();
    if (!m) return;
    try {
      const params = await m.trainer.readParams();
      const encoder = m.encoder();
      const metadata = encoder ? { [ONNX_ENCODER_KEY]: JSON.stringify(encoder.toJSON()) } : undefined;
      const bytes = exportOnnx({ config: m.trainer.spec.config, params }, { targets: m.targets, description: `exported from the ple-webgpu demo (${m.name}, step ${m.trainer.steps})`, metadata });
      download(bytes as BlobPart, `${m.name}.onnx`, 'application/octet-stream');
    } catch (e) {
      hooks.showError(e);
    }
  });

  file.addEventListener('change', async () => {
    const m = hooks.model();
    const picked = file.files?.[0];
    if (!m || !picked) return;
    busy = true;
    sync();
    status.textContent = `Scoring ${picked.name}…`;
    try {
      const encoder = m.encoder();
      if (!encoder) throw new Error(`${picked.name} cannot be scored: this model has no data encoder here (it was trained on the synthetic benchmark, or its training file is not picked). Train on a data file first.`);
      const parts: string[] = [];
      let encoding: CsvEncoding | null = null;
      let predictor: Predictor | null = null;
      let rows = 0;
      await readCsvChunks(
        picked,
        picked.name,
        CHUNK_ROWS,
        (header) => {
          encoding = new CsvEncoding(encoder, m.trainer.spec.config, header, picked.name);
          predictor = new Predictor(m.trainer, { gates: true, targets: m.targets });
          parts.push(Papa.unparse([predictor.columns], { newline: '\n' }) + '\n');
        },
        async (chunk) => {
          parts.push(Papa.unparse(await predictor!.score(encoding!.encode(chunk)), { newline: '\n' }) + '\n');
          rows += chunk.rows.length;
          status.textContent = `Scoring ${picked.name}: ${rows} rows…`;
        },
      );
      const metrics = predictor!.metrics();
      const summary = metrics ? ` ${Object.entries(metrics).map(([t, x]) => `${t}: ${formatMetrics(x)} (${x.count} labelled)`).join('; ')}.` : '';
      status.textContent = `Scored ${rows} rows of ${picked.name}; the predictions were offered as a download.${summary}`;
      download(parts.join(''), `${picked.name.replace(/\.csv$/i, '')}-predictions.csv`, 'text/csv');
    } catch (e) {
      status.textContent = `${picked.name} could not be scored.`;
      hooks.showError(e);
    } finally {
      file.value = '';
      busy = false;
      sync();
    }
  });
}
