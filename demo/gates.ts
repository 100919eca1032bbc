/**
 * Gate views: a heat map per level of each gate's mean expert weights, and the gate simplex
 * (every sample's weights of one gate as a point in the segment / triangle / tetrahedron whose
 * corners are the gate's experts). The tetrahedron is projected with wgpu-matrix.
 */
import { mat4, vec4 } from 'wgpu-matrix';
import type { GateReport, ModelSpec } from '../src/index.js';

export interface GateSample {
  /** Per level, rows x gateColumns (Trainer.infer's gates). */
  gates: Float32Array[];
  rows: number;
  /** Per task, 0/1 per row: the colour of each point (label, or regression label above its median). */
  classes: Uint8Array[];
}

/** Expert names of a level, e.g. "task1·0", "shared·1". */
export function expertNames(spec: ModelSpec, level: number, taskNames: string[]): string[] {
  const names: string[] = [];
  for (const g of spec.levels[level].groups) {
    const owner = g.task === null ? 'shared' : taskNames[g.task];
    for (let e = 0; e < g.experts; e++) names.push(`${owner}·${e}`);
  }
  return names;
}

export function gateTitle(spec: ModelSpec, level: number, gateIndex: number, taskNames: string[]): string {
  const gate = spec.levels[level].gates[gateIndex];
  const owner = gate.group < taskNames.length ? taskNames[gate.group] : 'shared';
  return `level ${level + 1} · ${owner} gate`;
}

/** White → blue for weights in [0, 1]. */
function weightColor(w: number): string {
  const t = Math.max(0, Math.min(1, w));
  const mix = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${mix(247, 24)}, ${mix(250, 82)}, ${mix(255, 196)})`;
}

/** One table per level: rows are gates, columns the level's experts, cells the mean weight. */
export function renderHeatmaps(host: HTMLElement, spec: ModelSpec, reports: GateReport[], taskNames: string[], caption: string): void {
  host.replaceChildren();
  spec.levels.forEach((level, j) => {
    const names = expertNames(spec, j, taskNames);
    const table = document.createElement('table');
    const cap = table.createCaption();
    cap.textContent = `Level ${j + 1}`;
    const head = table.createTHead().insertRow();
    head.appendChild(document.createElement('th'));
    for (const n of names) {
      const th = document.createElement('th');
      th.textContent = n;
      head.appendChild(th);
    }
    const body = table.createTBody();
    level.gates.forEach((gate, g) => {
      const report = reports.find((r) => r.level === j && r.gate === gate.name);
      const row = body.insertRow();
      const th = document.createElement('th');
      th.textContent = gateTitle(spec, j, g, taskNames).replace(/^level \d+ · /, '');
      row.appendChild(th);
      for (let e = 0; e < names.length; e++) {
        const cell = row.insertCell();
        const m = gate.members.indexOf(e);
        if (m < 0 || !report) {
          cell.className = 'none';
          cell.title = `${names[e]} is not mixed by this gate`;
          continue;
        }
        const w = report.meanWeights[m];
        cell.style.background = weightColor(w);
        cell.style.color = w > 0.55 ? '#fff' : '#1d232b';
        cell.textContent = w.toFixed(2);
        cell.dataset.weight = String(w);
        cell.title = `${names[e]}: mean weight ${w.toFixed(3)} · entropy ${report.normalisedEntropy.toFixed(2)} · mean max ${report.meanMax.toFixed(2)}`;
      }
    });
    const wrap = document.createElement('div');
    wrap.className = 'heatmap';
    wrap.dataset.level = String(j);
    wrap.appendChild(table);
    host.appendChild(wrap);
  });
  const note = document.createElement('p');
  note.className = 'hint';
  note.style.flexBasis = '100%';
  note.textContent = caption;
  host.appendChild(note);
}

const POINT_COLORS = ['rgba(47,111,219,0.55)', 'rgba(232,89,12,0.6)'];

/** The simplex view of one gate, redrawn on new samples and when dragged (tetrahedron rotation). */
export class SimplexView {
  private yaw = 0.6;
  private pitch = 0.35;
  private state: { spec: ModelSpec; sample: GateSample; level: number; gate: number; taskNames: string[] } | null = null;

  constructor(private readonly canvas: HTMLCanvasElement) {
    new ResizeObserver(() => this.draw()).observe(canvas);
    let dragging: { x: number; y: number } | null = null;
    canvas.addEventListener('pointerdown', (e) => {
      dragging = { x: e.clientX, y: e.clientY };
      canvas.setPointerCapture(e.pointerId);
    });
    canvas.addEventListener('pointerup', () => (dragging = null));
    canvas.addEventListener('pointermove', (e) => {
      if (!dragging) return;
      this.yaw += (e.clientX - dragging.x) * 0.01;
      this.pitch = Math.max(-1.4, Math.min(1.4, this.pitch + (e.clientY - dragging.y) * 0.01));
      dragging = { x: e.clientX, y: e.clientY };
      this.draw();
    });
  }

  show(spec: ModelSpec, sample: GateSample, level: number, gate: number, taskNames: string[]): void {
    this.state = { spec, sample, level, gate, taskNames };
    this.draw();
  }

  clear(message: string): void {
    this.state = null;
    const { ctx, W, H } = this.fitCanvas();
    ctx.fillStyle = '#66707c';
    ctx.font = '13px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(message, W / 2, H / 2);
  }

  /** Sizes the canvas to its box (CSS pixels, sharp on high-density screens) and clears it. */
  private fitCanvas(): { ctx: CanvasRenderingContext2D; W: number; H: number } {
    const W = this.canvas.clientWidth || 420;
    const H = Math.round((W * 380) / 420);
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(W * dpr)) this.canvas.width = Math.round(W * dpr);
    if (this.canvas.height !== Math.round(H * dpr)) this.canvas.height = Math.round(H * dpr);
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    return { ctx, W, H };
  }

  private draw(): void {
    if (!this.state) return;
    const { spec, sample, level, gate: g, taskNames } = this.state;
    const L = spec.levels[level];
    const gate = L.gates[g];
    const n = gate.members.length;
    const names = expertNames(spec, level, taskNames);
    const { ctx, W, H } = this.fitCanvas();

    // Corners in 3D (z = 0 for the planar cases), then one projection for all.
    let corners: number[][];
    if (n === 2) corners = [[-1, 0, 0], [1, 0, 0]];
    else if (n === 3) corners = [[0, 1, 0], [-Math.sqrt(3) / 2, -0.5, 0], [Math.sqrt(3) / 2, -0.5, 0]];
    else corners = [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]].map((v) => v.map((c) => c / Math.sqrt(3)));
    const project = this.projection(n === 4, W, H);
    const screenCorners = corners.map(project);

    // Edges.
    ctx.strokeStyle = '#9aa3ad';
    ctx.lineWidth = 1;
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        ctx.beginPath();
        ctx.moveTo(screenCorners[a][0], screenCorners[a][1]);
        ctx.lineTo(screenCorners[b][0], screenCorners[b][1]);
        ctx.stroke();
      }
    }
    // Points, far to near.
    const classes = sample.classes[gate.group < taskNames.length ? gate.group : 0];
    const pts: { x: number; y: number; depth: number; c: number }[] = [];
    const cols = L.gateColumns;
    const weights = sample.gates[level];
    for (let r = 0; r < sample.rows; r++) {
      const p = [0, 0, 0];
      for (let m = 0; m < n; m++) {
        const w = weights[r * cols + gate.column + m];
        for (let d = 0; d < 3; d++) p[d] += w * corners[m][d];
      }
      const s = project(p);
      pts.push({ x: s[0], y: s[1], depth: s[2], c: classes ? classes[r] : 0 });
    }
    pts.sort((a, b) => b.depth - a.depth);
    for (const p of pts) {
      ctx.fillStyle = POINT_COLORS[p.c];
      ctx.beginPath();
      ctx.arc(p.x, p.y, 2.2, 0, Math.PI * 2);
      ctx.fill();
    }
    // Corner labels.
    ctx.font = '12px system-ui, sans-serif';
    ctx.fillStyle = '#1d232b';
    const cx = screenCorners.reduce((a, c) => a + c[0], 0) / n;
    const cy = screenCorners.reduce((a, c) => a + c[1], 0) / n;
    screenCorners.forEach((c, m) => {
      const dx = c[0] - cx;
      const dy = c[1] - cy;
      const len = Math.hypot(dx, dy) || 1;
      ctx.textAlign = dx > 5 ? 'left' : dx < -5 ? 'right' : 'center';
      ctx.fillText(names[gate.members[m]], c[0] + (dx / len) * 10, c[1] + (dy / len) * 14 + 4);
    });
    // Legend.
    const colourTask = taskNames[gate.group < taskNames.length ? gate.group : 0];
    ctx.textAlign = 'left';
    ctx.fillStyle = '#66707c';
    ctx.fillText(`${gateTitle(spec, level, g, taskNames)} · ${sample.rows} samples${n === 4 ? ' · drag to rotate' : ''}`, 8, 16);
    ['label 0 / low', 'label 1 / high'].forEach((text, c) => {
      ctx.fillStyle = POINT_COLORS[c].replace(/0\.\d+\)/, '1)');
      ctx.fillRect(8, H - 34 + c * 16, 9, 9);
      ctx.fillStyle = '#66707c';
      ctx.fillText(`${colourTask} ${text}`, 22, H - 26 + c * 16);
    });
  }

  /** Maps a 3D point to [canvasX, canvasY, depth]. */
  private projection(perspective: boolean, W: number, H: number): (p: number[]) => number[] {
    if (!perspective) {
      const scale = Math.min(W, H) * 0.38;
      return (p) => [W / 2 + p[0] * scale, H / 2 + 12 - p[1] * scale, 0];
    }
    const eye = [3.2 * Math.cos(this.pitch) * Math.sin(this.yaw), 3.2 * Math.sin(this.pitch), 3.2 * Math.cos(this.pitch) * Math.cos(this.yaw)];
    const view = mat4.lookAt(eye, [0, 0, 0], [0, 1, 0]);
    const proj = mat4.perspective((40 * Math.PI) / 180, W / H, 0.1, 20);
    const m = mat4.multiply(proj, view);
    const v = vec4.create();
    return (p) => {
      vec4.transformMat4([p[0], p[1], p[2], 1], m, v);
      const w = v[3];
      return [W / 2 + ((v[0] / w) * W) / 2, H / 2 + 8 - ((v[1] / w) * H) / 2, v[2] / w];
    };
  }
}

/**
 * The page's Gates panel: the heat maps, the gate picker and the simplex of one model. Says so
 * instead of drawing when a model has no gates (shared-bottom) or there are no weights yet.
 */
export class GatesView {
  private readonly simplex: SimplexView;
  private spec: ModelSpec | null = null;
  private taskNames: string[] = [];
  private sample: GateSample | null = null;

  constructor(
    private readonly el: { section: HTMLElement; heatmaps: HTMLElement; picker: HTMLSelectElement; simplexBox: HTMLElement; canvas: HTMLCanvasElement; note: HTMLElement },
  ) {
    this.simplex = new SimplexView(el.canvas);
    el.picker.addEventListener('change', () => this.drawSimplex());
    this.reset();
  }

  /** Before any model: what the panel will show. */
  reset(): void {
    this.spec = null;
    this.sample = null;
    this.el.note.textContent = 'Train a model with gates (PLE, CGC or MMoE) to see how they use the experts.';
    this.el.heatmaps.replaceChildren();
    this.el.simplexBox.hidden = true;
  }

  /** A new model: its gate choices for the simplex (gates over 2 to 4 experts). */
  setModel(spec: ModelSpec, taskNames: string[]): void {
    this.spec = spec;
    this.taskNames = taskNames;
    this.sample = null;
    const picker = this.el.picker;
    const previous = picker.value;
    picker.replaceChildren();
    const choices: { value: string; n: number }[] = [];
    let mixing = 0;
    spec.levels.forEach((level, j) =>
      level.gates.forEach((gate, g) => {
        const n = gate.members.length;
        if (n >= 2) mixing++;
        if (n < 2 || n > 4) return;
        choices.push({ value: `${j}:${g}`, n });
        picker.add(new Option(`${gateTitle(spec, j, g, taskNames)} (${n} experts)`, `${j}:${g}`));
      }),
    );
    if (choices.some((c) => c.value === previous)) picker.value = previous;
    else {
      const pick = choices.find((c) => c.n === 3) ?? choices.find((c) => c.n === 4) ?? choices[0];
      if (pick) picker.value = pick.value;
    }
    picker.disabled = choices.length === 0;
    this.el.heatmaps.replaceChildren();
    this.el.simplexBox.hidden = true;
    this.el.note.textContent = mixing
      ? 'Gate weights appear after the first second of training.'
      : 'This model has no gates: one shared bottom feeds every task tower, so there is nothing to mix.';
  }

  get hasGates(): boolean {
    return Boolean(this.spec?.levels.some((l) => l.gates.some((g) => g.members.length >= 2)));
  }

  /** New gate statistics (heat maps) and per-sample weights (simplex). */
  show(reports: GateReport[], caption: string, sample: GateSample | null): void {
    if (!this.spec || !this.hasGates) return;
    this.el.note.textContent = 'Mean weight each gate gives each expert, and each sample\'s weights in the simplex.';
    renderHeatmaps(this.el.heatmaps, this.spec, reports, this.taskNames, caption);
    if (sample) this.sample = sample;
    this.el.simplexBox.hidden = !this.sample || this.el.picker.disabled;
    this.drawSimplex();
  }

  private drawSimplex(): void {
    if (!this.spec || !this.sample) return;
    if (!this.el.picker.value) return this.simplex.clear('no gate mixes 2 to 4 experts in this model');
    const [j, g] = this.el.picker.value.split(':').map(Number);
    this.simplex.show(this.spec, this.sample, j, g, this.taskNames);
  }
}
