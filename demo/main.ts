/**
 * The interactive demo: configure a PLE-family model and its data, train it in this tab (on
 * WebGPU, or on the CPU device where the only adapter is a software one or there is no WebGPU;
 * `?device=gpu|cpu|auto` overrides) with live charts and gate views, and save or load
 * checkpoints. This file only wires the page: the session (session.ts) holds the state; the
 * form, controls, charts and gates are views. Everything goes through the library's public API;
 * user files are read locally and never sent.
 */
import { Charts } from './charts.js';
import { Controls } from './controls.js';
import { RolePicker } from './csv-roles.js';
import { SetupForm } from './form.js';
import { GatesView } from './gates.js';
import { Session } from './session.js';
import type { DeviceChoice } from '../src/index.js';
import { mountServing } from './serving.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const picker = new RolePicker($('roles'), $('file-summary'), () => controls.clearError());
const form = new SetupForm(picker);
const controls = new Controls();
const charts = new Charts({ loss: $<HTMLCanvasElement>('chart-loss'), metric: $<HTMLCanvasElement>('chart-metric'), seesaw: $<HTMLCanvasElement>('chart-seesaw') });
const gates = new GatesView({
  section: $('gates'),
  heatmaps: $('heatmaps'),
  picker: $<HTMLSelectElement>('simplex-gate'),
  simplexBox: $('simplex-box'),
  canvas: $<HTMLCanvasElement>('simplex'),
  note: $('gates-note'),
});
const session = new Session({ form, controls, charts, gates, picker }, (new URLSearchParams(location.search).get('device') ?? 'auto') as DeviceChoice);
session.onDevice = (line) => ($('adapter').textContent = line);

// The seesaw's axes: two of the current run's tasks; with one task there is nothing to compare.
const seesawX = $<HTMLSelectElement>('seesaw-x');
const seesawY = $<HTMLSelectElement>('seesaw-y');
function syncSeesaw(): void {
  charts.seesawTasks = seesawX.value && seesawY.value && seesawX.value !== seesawY.value ? [seesawX.value, seesawY.value] : null;
  charts.request();
}
session.onSeesawTasks = (taskNames) => {
  for (const [select, index] of [[seesawX, 0], [seesawY, 1]] as const) {
    const previous = select.value;
    select.replaceChildren(...taskNames.map((n) => new Option(n, n)));
    select.value = taskNames.includes(previous) && taskNames.length > 2 ? previous : taskNames[Math.min(index, taskNames.length - 1)];
  }
  const two = taskNames.length >= 2;
  $('seesaw-pick').hidden = !two;
  $('seesaw-empty').textContent = two ? '' : `This run has one task (${taskNames[0]}): the seesaw needs two.`;
  $('seesaw-empty').hidden = two;
  $('seesaw-box').hidden = !two;
  syncSeesaw();
};
seesawX.addEventListener('change', syncSeesaw);
seesawY.addEventListener('change', syncSeesaw);

controls.start.addEventListener('click', () => {
  // A new model replaces a loaded one: its summary no longer describes the model in the tab.
  if (!form.continueBox.checked) $('checkpoint-summary').textContent = '';
  $('charts-empty').hidden = true;
  $('charts').hidden = false;
  void session.start();
});
controls.pause.addEventListener('click', () => session.togglePause());
controls.stop.addEventListener('click', () => session.stop());
controls.downloadCheckpoint.addEventListener('click', () => void session.downloadCheckpoint());
controls.downloadMetrics.addEventListener('click', () => session.downloadMetrics());
mountServing({ model: () => session.servingModel(), follow: controls.downloadCheckpoint, showError: (e) => session.showError(e) });
controls.clearRuns.addEventListener('click', () => session.clearRuns());
form.continueBox.addEventListener('change', () => form.lock(false, session.canContinue));

const dataFile = $<HTMLInputElement>('data-file');
dataFile.addEventListener('change', () => void session.pickFile(dataFile.files?.[0]));
const checkpointFile = $<HTMLInputElement>('checkpoint-file');
checkpointFile.addEventListener('change', async () => {
  $('checkpoint-summary').textContent = '';
  const summary = await session.loadCheckpoint(checkpointFile.files?.[0]);
  $('checkpoint-summary').textContent = summary;
  if (summary) {
    $('charts-empty').hidden = true;
    $('charts').hidden = false;
    charts.flush();
  }
});

/** What the end-to-end test reads. */
const demo = {
  get state() {
    return session.phase;
  },
  get adapter() {
    return $('adapter').textContent;
  },
  get progress() {
    return { ...session.progress };
  },
  get errors() {
    return [...session.errors];
  },
  get gateUpdates() {
    return session.gateUpdates;
  },
  get redraws() {
    return charts.redraws;
  },
  get epochsDone() {
    return charts.current?.epochs.length ?? 0;
  },
  get position() {
    return session.position;
  },
  /** Destroys the GPU device, as a driver reset would lose it (for the test of the device-lost path). */
  loseDevice: () => session.loseDeviceForTest(),
  runs: () => charts.runs.map((r) => ({ label: r.label, tasks: r.tasks, epochs: r.epochs, finished: r.finished })),
  plotted: () => {
    charts.flush();
    return charts.plotted();
  },
};
(window as unknown as { __demo: typeof demo }).__demo = demo;

/** Says that WebGPU is missing and how to get it: a note where the page trains on the CPU device instead, an error where WebGPU was asked for. */
function showNoWebGpu(reason: string, fallback: boolean): void {
  $('no-webgpu').className = `notice ${fallback ? 'note' : 'error'}`;
  $('no-webgpu-title').textContent = fallback ? 'WebGPU is not available here: training runs on the CPU' : 'WebGPU is not available here';
  $('no-webgpu-reason').textContent = reason;
  $('no-webgpu-next').textContent = fallback
    ? 'This page trains on the CPU device (WebAssembly SIMD) instead: everything works, more slowly than on a GPU. To train on the GPU:'
    : 'Training on WebGPU (?device=gpu) is disabled. Open the page without ?device=gpu to train on the CPU device instead, or get WebGPU:';
  $('no-webgpu').hidden = false;
}

void session.init().then((r) => {
  $('adapter').textContent = session.adapter;
  if (r.ok && r.noWebGpu) showNoWebGpu(r.noWebGpu, true);
  if (!r.ok && r.noAdapter) showNoWebGpu(r.noAdapter, false);
});
