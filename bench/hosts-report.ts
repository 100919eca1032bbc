/** The `hosts` section of results/bench.md from a run of bench/hosts.ts (kept as results/bench-hosts.json). */
import { describeConfig, fmt, mdTable, type BenchConfig, type StepProfile } from './common.js';

export interface Variant {
  name: string;
  host: 'page' | 'node';
  robustness: boolean;
  /** Node only: ms between the binding's checks for finished work (0: its own continuous loop). */
  pollMs?: number;
  /** Steps per synchronised window (default: one await after all timed steps). */
  window?: number;
  profile?: boolean;
  /** The runtime's CPU device instead of WebGPU (robustness and polling do not apply). */
  cpu?: boolean;
}

export interface HostsRow {
  variant: Variant;
  /** ms/step: median over rounds, and each round's. */
  median: number;
  all: number[];
  /** CPU ms per step (medians over rounds) by thread group. */
  cpu: { total: number; workers: number; main: number; other: number };
}

export interface HostsRun {
  date: string;
  command: string;
  commit: string;
  node: string;
  adapters: { node: string; page: string };
  loadavg: { start: number; end: number };
  /** 'matched': Chromium's raised threads were set back to the bench's priority before each page run. */
  chromiumPriority: 'matched' | 'left';
  reniced?: number;
  config: BenchConfig;
  rounds: number;
  steps: number;
  warmup: number;
  /** The CPU device's variants ran this many times the warm-up and timed steps (absent: 1). */
  cpuStepsFactor?: number;
  rows: HostsRow[];
  samples: { variant: string; samples: { msPerStep: number; cpu: Record<string, number> }[] }[];
  profiles: Record<string, StepProfile>;
}

export function renderHostsReport(run: HostsRun): string {
  const rows = run.rows;
  const find = (host: 'page' | 'node', robustness: boolean, pollMs?: number, window?: number) =>
    rows.find((r) => !r.variant.cpu && r.variant.host === host && r.variant.robustness === robustness && (host === 'page' || r.variant.pollMs === pollMs) && r.variant.window === window);
  const page = find('page', true);
  const pageFast = find('page', false);
  const before = find('node', true, 0);
  const same = find('node', true, 1);
  const after = find('node', false, 1);
  const busyFast = find('node', false, 0);
  const awaited = find('node', false, 1, 1);
  const pageMs = page?.median ?? NaN;
  const x = (a?: HostsRow, b?: HostsRow) => fmt((a?.median ?? NaN) / (b?.median ?? NaN), 2);
  const saved = (slow?: HostsRow, fast?: HostsRow) => fmt(100 * (1 - (fast?.median ?? NaN) / (slow?.median ?? NaN)), 0);

  const md: string[] = [];
  md.push(`## Node against the page: the same step on the same adapter`);
  md.push('');
  md.push(`- Date: ${run.date}; command: \`${run.command}\` (commit ${run.commit}, Node ${run.node})`);
  md.push(`- Adapter: Node ${run.adapters.node}; page ${run.adapters.page} (headless Chromium, the bench page)`);
  md.push(`- ${run.config.name} (${describeConfig(run.config)}), the adapter's default GEMM tuning in both hosts; per round and variant: plan, ${run.warmup} warm-up steps, ${run.steps} timed steps (one await at the end unless "every step awaited")${(run.cpuStepsFactor ?? 1) > 1 ? `, ${run.cpuStepsFactor}× both for the CPU device's variants, whose steps are some 15× shorter` : ''}; ${run.rounds} rounds, the variants in turn (order reversed every other round).`);
  md.push(
    `- Chromium's threads at a higher priority than the bench process: ${run.chromiumPriority === 'left' ? 'left so (--chromium-priority)' : `set back to the bench's nice before each page run${run.reniced === undefined ? '' : ` (${run.reniced} thread changes)`}; Chromium raises its GPU process's main threads to nice -8 where it may (here it runs as root), which on a loaded host decides who gets the CPU`}.`,
  );
  md.push(`- Host 1-min load average ${run.loadavg.start.toFixed(2)} at start, ${run.loadavg.end.toFixed(2)} at end, on 2 CPUs shared with other processes: absolute times are inflated and noisy; compare the variants within this table.`);
  md.push('');
  md.push(
    mdTable(
      ['variant', 'ms / step (median)', 'rounds', 'vs page', 'CPU ms / step', 'adapter workers', 'main threads', 'other threads'],
      rows.map((r) => [r.variant.name, `**${fmt(r.median)}**`, r.all.map((v) => fmt(v)).join(', '), `${fmt(r.median / pageMs, 2)}×`, fmt(r.cpu.total), fmt(r.cpu.workers), fmt(r.cpu.main), fmt(r.cpu.other)]),
    ),
  );
  md.push('');
  md.push(
    `CPU time is read from /proc per thread (Node: the bench process; page: the browser's processes) over a whole round (plan, warm-up and timed steps) and divided by its steps. The CPU device's worker threads end with their trainer: Node's row reads them before, the page's cannot (the page destroys its trainer before it returns), so there they are missing. "adapter workers" are SwiftShader's worker threads, where the shaders run; "main threads" are each process's first thread (Node: the JS thread, where Dawn's binding polls; Chromium: the browser, renderer and GPU processes' main threads); "other" is every other thread.`,
  );
  md.push('');
  if (page && before && same && after) {
    md.push(`What the rows say (ratios of the medians above):`);
    md.push('');
    md.push(
      `- **Before** (Dawn's binding polling continuously, robustness on as in the page): Node ${fmt(before.median)} ms/step, ${x(before, page)}× the page's ${fmt(pageMs)} ms. ` +
        `The binding re-queues its check with setImmediate for as long as a promise waits, and a training step always has a loss readback pending: its JS thread burned ${fmt(before.cpu.main)} CPU ms per step, against ${fmt(same.cpu.main)} ms when it checks every 1 ms; on 2 cores that is CPU taken from SwiftShader's workers.`,
    );
    md.push(`- **Same settings as the page** (1 ms polling, robustness on): Node ${fmt(same.median)} ms/step, ${x(same, page)}× the page's; ${x(before, same)}× faster than before.`);
    md.push(
      `- **After** (1 ms polling, robustness off: the CLI's and the benches' device): Node ${fmt(after.median)} ms/step, ${x(after, page)}× the page's, ${x(before, after)}× faster than before.` +
        (pageFast ? ` Robustness off saves ${saved(same, after)}% of a Node step and ${saved(page, pageFast)}% of a page step (Chromium's --enable-dawn-features=disable_robustness, which a page cannot ask for).` : ''),
    );
    if (busyFast) md.push(`- Polling alone, robustness off in both: continuous ${fmt(busyFast.median)} against 1 ms ${fmt(after.median)} ms/step (${x(busyFast, after)}×).`);
    if (awaited) {
      const overlap = Math.min(...awaited.all) <= Math.max(...after.all) && Math.min(...after.all) <= Math.max(...awaited.all);
      md.push(
        `- Every step awaited before the next (1 ms polling, robustness off): ${fmt(awaited.median)} ms/step against ${fmt(after.median)} with one await after all steps (${x(awaited, after)}×; the rounds' ranges ${overlap ? 'overlap' : 'do not overlap'}): how soon the binding notices a finished step ${overlap ? 'is not what limits Node here' : 'matters here'}.`,
      );
    }
    const cpuPage = rows.find((r) => r.variant.cpu && r.variant.host === 'page');
    const cpuNode = rows.find((r) => r.variant.cpu && r.variant.host === 'node');
    if (cpuPage && cpuNode) {
      md.push(`- **The CPU device** (WebAssembly SIMD, the same V8 engine in both hosts): Node ${fmt(cpuNode.median)} ms/step, ${x(cpuNode, cpuPage)}× the page's ${fmt(cpuPage.median)} ms; ${x(after, cpuNode)}× faster than WebGPU in Node after, ${x(page, cpuPage)}× faster than WebGPU in the page.`);
    }
    const cpuSaved = (slow?: HostsRow, fast?: HostsRow) => fmt(100 * (1 - (fast?.cpu.workers ?? NaN) / (slow?.cpu.workers ?? NaN)), 0);
    md.push(
      `- CPU time of SwiftShader's workers per step, less exposed to the host's load than wall time: page ${fmt(page.cpu.workers)} ms, Node with the page's settings ${fmt(same.cpu.workers)} ms, Node after ${fmt(after.cpu.workers)} ms; robustness off cuts it by ${cpuSaved(same, after)}% in Node` +
        (pageFast ? ` and ${cpuSaved(page, pageFast)}% in the page.` : '.'),
    );
    md.push('');
  }
  const profiled = Object.entries(run.profiles);
  if (profiled.length) {
    const kernels = [...new Set(profiled.flatMap(([, p]) => p.byKernel.map((k) => k.kernel)))];
    const msOf = (p: StepProfile, k: string) => p.byKernel.find((v) => v.kernel === k)?.ms ?? 0;
    kernels.sort((a, b) => msOf(profiled[0][1], b) - msOf(profiled[0][1], a));
    md.push(`### Where the step goes in each host (ms per step by kernel; ${profiled[0][1].method}, each dispatch in its own pass, best of 3; one profile per variant, after the timed rounds)`);
    md.push('');
    md.push(mdTable(['kernel', ...profiled.map(([name]) => name)], [...kernels.map((k) => [k, ...profiled.map(([, p]) => fmt(msOf(p, k), 2))]), ['**sum**', ...profiled.map(([, p]) => `**${fmt(p.totalMs)}**`)]]));
    md.push('');
  }
  return md.join('\n');
}
