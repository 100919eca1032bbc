/**
 * `npm run bench:hosts`: the same bench-small training step in headless Chromium (the bench page)
 * and in Node (Dawn's binding, src/node.ts) on the same adapter, with each setting that could make
 * them differ varied on its own: Dawn's robustness transform (Node: the `robustness` option;
 * Chromium: its --enable-dawn-features flag), how the Node binding checks for finished work
 * (`pollIntervalMs`: 0 = the binding's own continuous loop), and awaiting every step against one
 * await at the end; and the runtime's CPU device in both hosts. The variants run in turn, round after round, so load from other processes
 * falls on all of them alike; the table gives the median over rounds and the CPU time per step by
 * thread (the software adapter's worker threads against the rest). Then a per-kernel profile of a
 * step in each host (timestamp queries). Same GEMM tuning everywhere (the adapter's default).
 * Writes the `hosts` section of results/bench.md and results/bench-hosts.json.
 *
 * Chromium raises some of its threads' priority where it may (as root, say); the bench sets them
 * back to this process's before each page run, so both hosts compete for the CPU on equal terms
 * (--chromium-priority leaves them raised).
 *
 * The CPU device's variants run --cpu-steps-factor times the warm-up and timed steps (default 10):
 * its steps are some 15x shorter than WebGPU's, and 20 of them would be a fraction of a second of a
 * noisy host (and of a freshly started thread pool).
 *
 * Flags: --rounds N (default 3), --steps N timed steps per round (default 20), --warmup N (default 2), --cpu-steps-factor N (default 10),
 * --chromium-priority, --no-profile, --no-write; --report-only re-renders the section from
 * results/bench-hosts.json.
 */
import { loadavg } from 'node:os';
import { acquireNodeDevice, CpuDevice, formatAdapter, isCpuDevice } from '../src/node.js';
import { setDawnPollInterval } from '../src/gpu/dawn-polling.js';
import type { GpuContext } from '../src/gpu/context.js';
import { benchConfigs, CPU_SYSTEM, fmt, profileStep, timeRuntime, type StepProfile } from './common.js';
import { commandLine, commit, repoRoot, writeResults } from './results.js';
import { renderHostsReport, type HostsRun, type Variant } from './hosts-report.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuMsByThread, matchPriority, openBenchPage, startBenchServer, type BenchPage } from './page.js';

const args = process.argv.slice(2);
if (args.includes('--report-only')) {
  // Re-renders the section from the last run's JSON, measuring nothing.
  const run = JSON.parse(readFileSync(join(repoRoot, 'results/bench-hosts.json'), 'utf8')) as HostsRun;
  console.log(`wrote ${writeResults('hosts', renderHostsReport(run), 'bench-hosts.json', run)}`);
  process.exit(0);
}
const flag = (name: string) => args.includes(name);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const rounds = value('--rounds', 3);
const baseSteps = value('--steps', 20);
const baseWarmup = value('--warmup', 2);
const cpuStepsFactor = value('--cpu-steps-factor', 10);
const log = (s: string) => console.log(s);
const config = benchConfigs['bench-small'];
const started = new Date();
const loadStart = loadavg()[0];

const variants: Variant[] = [
  { name: 'page', host: 'page', robustness: true, profile: true },
  { name: 'page, robustness off', host: 'page', robustness: false, profile: true },
  { name: 'Node, continuous polling, robustness on (before)', host: 'node', robustness: true, pollMs: 0, profile: true },
  { name: 'Node, 1 ms polling, robustness on', host: 'node', robustness: true, pollMs: 1, profile: true },
  { name: 'Node, continuous polling, robustness off', host: 'node', robustness: false, pollMs: 0 },
  { name: 'Node, 1 ms polling, robustness off (after: CLI, benches)', host: 'node', robustness: false, pollMs: 1, profile: true },
  { name: 'Node, 1 ms polling, robustness off, every step awaited', host: 'node', robustness: false, pollMs: 1, window: 1 },
  { name: 'page, CPU device', host: 'page', robustness: true, cpu: true },
  { name: 'Node, CPU device', host: 'node', robustness: false, cpu: true },
];

// ---- Hosts: one browser per Chromium flag set, one Node device per robustness setting.

const { server, url } = await startBenchServer();
const pages = new Map<boolean, BenchPage>();
const devices = new Map<boolean, GpuContext>();
for (const robustness of [true, false]) {
  pages.set(robustness, await openBenchPage(url, robustness ? [] : ['--enable-dawn-features=disable_robustness'], () => {}));
  devices.set(robustness, await acquireNodeDevice({ robustness }));
}
const cpuDevice = await CpuDevice.create();
const nodeAdapter = formatAdapter(devices.get(true)!.adapter);
const pageAdapter = (await pages.get(true)!.run({ runs: [], profile: false, tune: false })).adapter;
log(`adapter: Node ${nodeAdapter}; page ${pageAdapter}`);

/** CPU ms by thread group, from per-thread counters before and after. */
function cpuGroups(before: Map<string, number>, after: Map<string, number>, host: 'page' | 'node'): Record<string, number> {
  const groups: Record<string, number> = { 'adapter workers': 0, 'main threads': 0, other: 0 };
  const self = `${process.pid}/`;
  for (const [key, ms] of after) {
    if ((host === 'node') !== key.startsWith(self)) continue;
    const [ids, ...name] = key.split(' ');
    const [pid, tid] = ids.split('/');
    // SwiftShader's scheduler names its workers Thread<NN>; a process's main thread has its pid as thread id.
    const group = /^Thread<\d+>$/.test(name.join(' ')) ? 'adapter workers' : pid === tid ? 'main threads' : 'other';
    groups[group] += ms - (before.get(key) ?? 0);
  }
  return groups;
}

let reniced = 0;

interface Sample {
  msPerStep: number;
  cpu: Record<string, number>;
}

async function measure(v: Variant, profile: boolean): Promise<{ sample: Sample; profile?: StepProfile }> {
  const before = cpuMsByThread(process.pid);
  const scale = v.cpu ? cpuStepsFactor : 1;
  const [warmup, steps] = [baseWarmup * scale, baseSteps * scale];
  let msPerStep: number;
  let prof: StepProfile | undefined;
  let after: Map<string, number> | undefined;
  if (v.host === 'page') {
    if (!flag('--chromium-priority')) reniced += matchPriority(process.pid);
    const system = v.cpu ? CPU_SYSTEM : 'ple-webgpu';
    const r = await pages.get(v.robustness)!.run({ runs: [{ config: config.name, system, warmup, steps, window: v.window }], profile, tune: false });
    if (r.errors.length) throw new Error(`${v.name}: ${r.errors.join('; ')}`);
    msPerStep = r.timings[0].msPerStep;
    prof = r.profiles[config.name];
  } else {
    setDawnPollInterval(v.pollMs ?? 1);
    const ctx = v.cpu ? cpuDevice : devices.get(v.robustness)!;
    const { timing, trainer } = await timeRuntime(ctx, config, { warmup, steps, window: v.window });
    msPerStep = timing.msPerStep;
    if (profile && !isCpuDevice(ctx)) prof = await profileStep(ctx, trainer, 3);
    // Read before destroy(): the CPU device's worker threads end with their trainer, and a thread that has ended is no longer in /proc.
    after = cpuMsByThread(process.pid);
    trainer.destroy();
  }
  // CPU per step over the whole run (plan, warm-up and timed steps alike): comparable between hosts, not an exact per-step figure.
  const cpu = cpuGroups(before, after ?? cpuMsByThread(process.pid), v.host);
  const perStep = Object.fromEntries(Object.entries(cpu).map(([k, ms]) => [k, ms / (warmup + steps)]));
  return { sample: { msPerStep, cpu: perStep }, profile: prof };
}

const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
for (let r = 0; r < rounds; r++) {
  // Alternate the order each round, so neither end of a round is always the same variant.
  const order = r % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    const { sample } = await measure(v, false);
    samples.get(v)!.push(sample);
    log(`round ${r + 1}/${rounds}: ${v.name}: ${fmt(sample.msPerStep)} ms/step; CPU ms/step ${Object.entries(sample.cpu).map(([k, ms]) => `${k} ${fmt(ms)}`).join(', ')}; load ${loadavg()[0].toFixed(1)}`);
  }
}
const profiles = new Map<Variant, StepProfile>();
if (!flag('--no-profile')) {
  for (const v of variants.filter((x) => x.profile)) {
    const { profile } = await measure(v, true);
    if (profile) profiles.set(v, profile);
    log(`profiled ${v.name}: sum of ops ${fmt(profile?.totalMs ?? NaN)} ms`);
  }
}
setDawnPollInterval(1);
for (const p of pages.values()) await p.browser.close();
await server.close();

// ---- Report.

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const run: HostsRun = {
  date: started.toISOString(),
  command: commandLine(),
  commit: commit(),
  node: process.version,
  adapters: { node: nodeAdapter, page: pageAdapter },
  loadavg: { start: loadStart, end: loadavg()[0] },
  chromiumPriority: flag('--chromium-priority') ? 'left' : 'matched',
  reniced,
  config,
  rounds,
  steps: baseSteps,
  warmup: baseWarmup,
  cpuStepsFactor,
  rows: variants.map((v) => {
    const ss = samples.get(v)!;
    const cpu = (k: string) => median(ss.map((s) => s.cpu[k]));
    const total = median(ss.map((s) => Object.values(s.cpu).reduce((a, b) => a + b, 0)));
    return { variant: v, median: median(ss.map((s) => s.msPerStep)), all: ss.map((s) => s.msPerStep), cpu: { total, workers: cpu('adapter workers'), main: cpu('main threads'), other: cpu('other') } };
  }),
  samples: variants.map((v) => ({ variant: v.name, samples: samples.get(v)! })),
  profiles: Object.fromEntries([...profiles].map(([v, p]) => [v.name, p])),
};
const text = renderHostsReport(run);
console.log(`\n${text}`);
if (!flag('--no-write')) console.log(`wrote ${writeResults('hosts', text, 'bench-hosts.json', run)}`);
process.exit(0);
