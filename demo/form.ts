/**
 * The setup form: model family and sizes, data source, training options. Reads itself into the
 * library's options (checking each field's limits, with errors that use the field's label),
 * shows only the fields the chosen family and source use, is filled from a loaded checkpoint,
 * and locks while a run trains.
 */
import { ConfigError, isModelFamily, type FamilyOptions, type SyntheticDatasetOptions } from '../src/index.js';
import type { DataDescriptor, DataFile } from './data.js';
import type { RolePicker } from './csv-roles.js';

export interface TrainingOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The text of a field's label, e.g. "Levels" or "Bottom widths". */
function labelOf(input: HTMLElement): string {
  const label = input.closest('label');
  if (!label) return input.id;
  const span = label.querySelector('span');
  return (span?.textContent ?? label.childNodes[0]?.textContent ?? input.id).trim();
}

export class SetupForm {
  readonly form = $<HTMLFormElement>('setup');
  readonly family = $<HTMLSelectElement>('family');
  readonly continueBox = $<HTMLInputElement>('continue');
  private readonly correlation = $<HTMLInputElement>('correlation');

  constructor(private readonly picker: RolePicker) {
    this.family.addEventListener('change', () => this.syncFamily());
    for (const r of this.sourceRadios()) r.addEventListener('change', () => this.syncSource());
    this.correlation.addEventListener('input', () => ($<HTMLOutputElement>('correlation-value').value = Number(this.correlation.value).toFixed(2)));
    this.syncFamily();
    this.syncSource();
  }

  private sourceRadios(): HTMLInputElement[] {
    return Array.from(document.querySelectorAll<HTMLInputElement>('input[name="source"]'));
  }

  source(): 'synthetic' | 'file' {
    return this.sourceRadios().find((r) => r.checked)!.value as 'synthetic' | 'file';
  }

  private syncFamily(): void {
    const family = this.family.value;
    for (const label of Array.from(document.querySelectorAll<HTMLElement>('label[data-for]'))) label.hidden = !label.dataset.for!.split(' ').includes(family);
    $('shared-label').textContent = family === 'mmoe' ? 'Experts' : 'Shared experts';
    $('widths-label').textContent = family === 'shared-bottom' || family === 'single-task' ? 'Bottom widths' : 'Expert widths';
  }

  private syncSource(): void {
    const s = this.source();
    $('synthetic-options').hidden = s !== 'synthetic';
    $('file-options').hidden = s !== 'file';
  }

  /** The shuffle buffer applies to a streamed (Parquet or Arrow) file only. */
  showStreamOptions(streamed: boolean): void {
    $('shuffle-buffer-label').hidden = !streamed;
  }

  /** A number field within its min/max (and an integer where its step is 1); the error names the field. */
  private number(id: string): number {
    const input = $<HTMLInputElement>(id);
    const v = Number(input.value);
    const min = input.min === '' ? -Infinity : Number(input.min);
    const max = input.max === '' ? Infinity : Number(input.max);
    const integer = input.step !== 'any' && !input.step.includes('.');
    if (input.value.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      const range = Number.isFinite(max) ? `from ${input.min} to ${input.max}` : `at least ${input.min}`;
      throw new Error(`${labelOf(input)}: write ${integer ? 'a whole number' : 'a number'} ${range}, got "${input.value}"`);
    }
    return v;
  }

  private widths(id: string, allowEmpty: boolean): number[] {
    const input = $<HTMLInputElement>(id);
    const text = input.value.trim();
    if (text === '' && allowEmpty) return [];
    const w = text.split(',').map((s) => Number(s.trim()));
    if (!w.length || w.some((x) => !Number.isInteger(x) || x < 1 || x > 4096)) {
      throw new Error(`${labelOf(input)}: write layer widths from 1 to 4096 separated by commas, e.g. 32,16${allowEmpty ? ' (or leave it empty)' : ''}`);
    }
    return w;
  }

  familyOptions(): FamilyOptions {
    const family = this.family.value;
    if (!isModelFamily(family)) throw new Error(`Family: unknown family "${family}"`);
    const common = { family, expertWidths: this.widths('expert-widths', false), towerWidths: this.widths('tower-widths', true) };
    switch (family) {
      case 'ple':
        return { ...common, levels: this.number('levels'), taskExperts: this.number('task-experts'), sharedExperts: this.number('shared-experts') };
      case 'cgc':
        return { ...common, taskExperts: this.number('task-experts'), sharedExperts: this.number('shared-experts') };
      case 'mmoe':
        return { ...common, experts: this.number('shared-experts') };
      case 'single-task': {
        const task = $<HTMLInputElement>('single-task').value.trim();
        return task ? { ...common, task } : common;
      }
      default:
        return common;
    }
  }

  /** Per-task loss weights (empty: all 1). */
  taskWeights(taskNames: string[]): number[] {
    const input = $<HTMLInputElement>('task-weights');
    const text = input.value.trim();
    if (text === '') return taskNames.map(() => 1);
    const w = text.split(',').map((s) => Number(s.trim()));
    if (w.length !== taskNames.length || w.some((x) => !Number.isFinite(x) || x < 0)) {
      throw new Error(`${labelOf(input)}: write ${taskNames.length} numbers >= 0 separated by commas, one per task (${taskNames.join(', ')}), or leave it empty for all 1`);
    }
    return w;
  }

  standardiseTargets(): boolean {
    return $<HTMLInputElement>('standardise').checked;
  }

  training(): TrainingOptions {
    return { epochs: this.number('epochs'), batchSize: this.number('batch-size'), learningRate: this.number('lr'), seed: this.number('seed') };
  }

  data(file: DataFile | null): DataDescriptor {
    if (this.source() === 'synthetic') {
      const options: SyntheticDatasetOptions = {
        inputDim: this.number('input-dim'),
        correlation: Number(this.correlation.value),
        trainRows: this.number('train-rows'),
        validationRows: this.number('validation-rows'),
        testRows: this.number('validation-rows'),
        seed: this.number('seed'),
        binary: $<HTMLInputElement>('binary').checked,
      };
      return { kind: 'synthetic', options };
    }
    if (!file) throw new Error('Data file: pick a CSV, Parquet or Arrow file first (it is read in this tab, not uploaded)');
    const common = { source: file.source, schema: this.picker.schema(), validationFraction: this.number('validation-fraction'), seed: this.number('seed') };
    return file.format === 'csv' ? { kind: 'csv', ...common } : { kind: 'file', ...common, shuffleBuffer: this.number('shuffle-buffer') };
  }

  /** A configuration error in the words of the form: the field's label, not the config's key. */
  explain(e: unknown): unknown {
    if (!(e instanceof ConfigError)) return e;
    const key = e.field.replace(/^levels\[\d+\]\./, '').replace(/\[.*$/, '');
    const id = ({ expertWidths: 'expert-widths', towerWidths: 'tower-widths', taskExperts: 'task-experts', sharedExperts: 'shared-experts', levels: 'levels', experts: 'shared-experts', task: 'single-task' } as Record<string, string>)[key];
    const problem = e.message.slice(e.field.length + 2);
    if (id) return new Error(`${labelOf($(id))}: ${problem}`);
    if (key === 'inputDim') return new Error(`The data has no input columns: ${problem} (choose at least one numeric or category column)`);
    if (key === 'tasks') return new Error(`Tasks: ${problem}`);
    return e;
  }

  /** Fills the model fields from a family's options (a loaded checkpoint's). */
  applyModel(o: FamilyOptions): void {
    this.family.value = o.family;
    const set = (id: string, v: number | string | undefined) => {
      if (v !== undefined) $<HTMLInputElement>(id).value = String(v);
    };
    set('levels', o.levels);
    set('task-experts', o.taskExperts);
    set('shared-experts', o.family === 'mmoe' ? o.experts : o.sharedExperts);
    set('expert-widths', o.expertWidths.join(','));
    set('tower-widths', o.towerWidths.join(','));
    set('single-task', o.task);
    this.syncFamily();
  }

  applyTaskWeights(weights: number[]): void {
    $<HTMLInputElement>('task-weights').value = weights.every((w) => w === 1) ? '' : weights.join(', ');
  }

  applyTraining(o: Partial<TrainingOptions>, standardise?: boolean): void {
    if (o.batchSize !== undefined) $<HTMLInputElement>('batch-size').value = String(o.batchSize);
    if (o.learningRate !== undefined) $<HTMLInputElement>('lr').value = String(o.learningRate);
    if (o.seed !== undefined) $<HTMLInputElement>('seed').value = String(o.seed);
    if (standardise !== undefined) $<HTMLInputElement>('standardise').checked = standardise;
  }

  applyData(d: DataDescriptor, file: DataFile | null): void {
    for (const r of this.sourceRadios()) r.checked = r.value === (d.kind === 'synthetic' ? 'synthetic' : 'file');
    this.syncSource();
    if (d.kind === 'synthetic') {
      const o = d.options;
      $<HTMLInputElement>('input-dim').value = String(o.inputDim);
      this.correlation.value = String(o.correlation);
      $<HTMLOutputElement>('correlation-value').value = o.correlation.toFixed(2);
      $<HTMLInputElement>('train-rows').value = String(o.trainRows);
      $<HTMLInputElement>('validation-rows').value = String(o.validationRows);
      $<HTMLInputElement>('seed').value = String(o.seed);
      $<HTMLInputElement>('binary').checked = Boolean(o.binary);
    } else {
      $<HTMLInputElement>('validation-fraction').value = String(d.validationFraction);
      $<HTMLInputElement>('seed').value = String(d.seed);
      if (d.kind === 'file') $<HTMLInputElement>('shuffle-buffer').value = String(d.shuffleBuffer);
      if (file?.source === d.source) this.picker.apply(d.schema);
    }
  }

  /**
   * While a run trains, the whole form is locked (its edits would do nothing). Continuing a model
   * keeps its architecture, task weights, target scaling and batch size: those fields lock too.
   */
  lock(running: boolean, canContinue: boolean): void {
    this.continueBox.disabled = running || !canContinue;
    if (!canContinue) this.continueBox.checked = false;
    const continuing = this.continueBox.checked;
    for (const fs of Array.from(this.form.querySelectorAll('fieldset'))) fs.disabled = running;
    $<HTMLFieldSetElement>('model-fields').disabled = running || continuing;
    for (const id of ['batch-size', 'seed', 'standardise']) $<HTMLInputElement>(id).disabled = continuing;
    $('continue-note').hidden = !continuing;
  }
}
