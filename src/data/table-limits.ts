/**
 * Embedding tables against the device's buffer limits: every parameter,
 * embedding tables included, lives in one storage buffer, so the tables must
 * fit beside the rest of the model. The error names the table that does not fit
 * and the most rows it could have.
 */
import { LimitError } from '../limits.js';
import { buildSpec, parameterCount } from '../spec.js';
import type { ModelConfig } from '../config.js';

export function checkEmbeddingTables(config: ModelConfig, limits: { maxStorageBufferBindingSize: number; maxBufferSize: number }): void {
  const tables = config.embeddings ?? [];
  if (tables.length === 0) return;
  const maxBytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const limit = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const tableBytes = tables.map((t) => t.vocabulary * t.dim * 4);
  const totalBytes = parameterCount(buildSpec(config)) * 4;
  if (totalBytes <= maxBytes) return;
  const largest = tableBytes.indexOf(Math.max(...tableBytes));
  const t = tables[largest];
  const room = maxBytes - (totalBytes - tableBytes[largest]);
  const rows = Math.floor(room / (t.dim * 4));
  throw new LimitError(
    limit,
    `the parameters need ${totalBytes} bytes, over the device's ${limit} of ${maxBytes} bytes; the largest embedding table, "${t.name}" ` +
      `(${t.vocabulary} rows x ${t.dim}), is the one to shrink: ` +
      (rows >= 2 ? `the largest table of width ${t.dim} that fits beside the rest has ${rows} rows (e.g. --hash ${t.name}:${rows}, or --max-vocab ${rows - 1})` : 'the rest of the model alone does not fit'),
  );
}
