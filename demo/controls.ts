/**
 * The control bar: Start / Pause / Stop, downloads, Clear runs, the progress bar, the status line
 * and the error box. Renders what the session says; holds no state of its own.
 */
export type Phase = 'loading' | 'no-device' | 'ready' | 'preparing' | 'training' | 'paused' | 'stopping' | 'done' | 'stopped' | 'error';

export const RUNNING: readonly Phase[] = ['preparing', 'training', 'paused', 'stopping'];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class Controls {
  readonly start = $<HTMLButtonElement>('start');
  readonly pause = $<HTMLButtonElement>('pause');
  readonly stop = $<HTMLButtonElement>('stop');
  readonly downloadCheckpoint = $<HTMLButtonElement>('download-checkpoint');
  readonly downloadMetrics = $<HTMLButtonElement>('download-metrics');
  readonly clearRuns = $<HTMLButtonElement>('clear-runs');
  private readonly bar = $<HTMLProgressElement>('progress');
  private readonly statusLine = $('status');
  private readonly error = $('error');

  /** Enables what the phase allows: downloads need a model (a checkpoint also while paused), metrics a finished epoch. */
  render(phase: Phase, model: { exists: boolean; epochs: number }, text?: string): void {
    this.statusLine.dataset.state = phase;
    if (text !== undefined) this.statusLine.textContent = text;
    const running = RUNNING.includes(phase);
    this.start.disabled = running || phase === 'no-device' || phase === 'loading';
    this.pause.disabled = !(phase === 'training' || phase === 'paused');
    this.pause.textContent = phase === 'paused' ? 'Resume' : 'Pause';
    this.stop.disabled = !(phase === 'training' || phase === 'paused');
    this.downloadCheckpoint.disabled = !model.exists || (running && phase !== 'paused');
    this.downloadMetrics.disabled = !model.exists || running || model.epochs === 0;
    this.clearRuns.disabled = running;
  }

  status(text: string): void {
    this.statusLine.textContent = text;
  }

  progress(fraction: number): void {
    this.bar.value = fraction;
  }

  get progressValue(): number {
    return this.bar.value;
  }

  showError(message: string): void {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  clearError(): void {
    this.error.hidden = true;
    this.error.textContent = '';
  }
}

/** Saves bytes as a file through a temporary link (nothing leaves the machine). */
export function download(bytes: BlobPart, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
