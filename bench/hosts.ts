/**
 * `npm run bench:hosts`: the same bench-small training step in headless Chromium (the bench page)
 * and in Node (Dawn's binding, src/node.ts) on the same adapter, with each setting that could make
 * them differ varied on its own: Dawn's robustness transform (Node: the `robustness` option;
 * Chromium: its --enable-dawn-features flag), how the Node binding checks for finished work
 * (`pollIntervalMs`: 0 = the binding's own continuous loop), and awaiting every step against one
 * await at the end. The variants run in turn, round after round, so load from other processes
 * falls on all of them alike; the table gives the median over rounds and the CPU time per step by
 * thread (the software adapter's worker threads against the rest). Then a per-kernel profile of a
 * step in each host (timestamp queries). Same GEMM tuning everywhere (the adapter's default).
 * Writes the `hosts` section of results/bench.md and results/bench-hosts.json.
 *
 * Flags: --rounds N (default 3), --steps N timed steps per round (default 20), --warmup N (default 2),
 * --no-profile, --no-write.
 */
import { loadavg } from 'node:os';
import { acquireNodeDevice, formatAdapter } from '../src/node.js';
import { setDawnPollInterval } from '../src/gpu/dawn-polling.js';
import type { GpuContext } from '../src/gpu/context.js';
import { benchConfigs, describeConfig, fmt, mdTable, profileStep, timeRuntime, type StepProfile } from './common.js';
import { commandLine, commit, writeResults } from './results.js';
import { cpuMsByThread, openBenchPage, startBenchServer, type BenchPage } from './page.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const rounds = value('--rounds', 3);
const steps = value('--steps', 20);
const warmup = value('--warmup', 2);
const log = (s: string) => console.log(s);
const config = benchConfigs['bench-small'];
const started = new Date();
const loadStart = loadavg()[0];

interface Variant {
  name: string;
  host: 'page' | 'node';
  robustness: boolean;
  /** Node only: ms between the binding's checks for finished work (0: its own continuous loop). */
  pollMs?: number;
  /** Steps per synchronised window (default: one await after all timed steps). */
  window?: number;
  profile?: boolean;
}

const variants: Variant[] = [
  { name: 'page', host: 'page', robustness: true, profile: true },
  { name: 'page, robustness off', host: 'page', robustness: false, profile: true },
  { name: 'Node, continuous polling, robustness on (before)', host: 'node', robustness: true, pollMs: 0, profile: true },
  { name: 'Node, 1 ms polling, robustness on', host: 'node', robustness: true, pollMs: 1, profile: true },
  { name: 'Node, continuous polling, robustness off', host: 'node', robustness: false, pollMs: 0 },
  { name: 'Node, 1 ms polling, robustness off (after: CLI, benches)', host: 'node', robustness: false, pollMs: 1, profile: true },
  { name: 'Node, 1 ms polling, robustness off, every step awaited', host: 'node', robustness: false, pollMs: 1, window: 1 },
  { name: 'page, every step awaited', host: 'page', robustness: true, window: 1 },
];

// ---- Hosts: one browser per Chromium flag set, one Node device per robustness setting.

const { server, url } = await startBenchServer();
const pages = new Map<boolean, BenchPage>();
const devices = new Map<boolean, GpuContext>();
for (const robustness of [true, false]) {
  pages.set(robustness, await openBenchPage(url, robustness ? [] : ['--enable-dawn-features=disable_robustness'], () => {}));
  devices.set(robustness, await acquireNodeDevice({ robustness }));
}
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

interface Sample {
  msPerStep: number;
  cpu: Record<string, number>;
}

async function measure(v: Variant, profile: boolean): Promise<{ sample: Sample; profile?: StepProfile }> {
  const before = cpuMsByThread(process.pid);
  let msPerStep: number;
  let prof: StepProfile | undefined;
  if (v.host === 'page') {
    const r = await pages.get(v.robustness)!.run({ runs: [{ config: config.name, system: 'ple-webgpu', warmup, steps, window: v.window }], profile, tune: false });
    if (r.errors.length) throw new Error(`${v.name}: ${r.errors.join('; ')}`);
    msPerStep = r.timings[0].msPerStep;
    prof = r.profiles[config.name];
  } else {
    setDawnPollInterval(v.pollMs ?? 1);
    const ctx = devices.get(v.robustness)!;
    const { timing, trainer } = await timeRuntime(ctx, config, { warmup, steps, window: v.window });
    msPerStep = timing.msPerStep;
    if (profile) prof = await profileStep(ctx, trainer, 3);
    trainer.destroy();
  }
  // CPU per step over the whole run (plan, warm-up and timed steps alike): comparable between hosts, not an exact per-step figure.
  const cpu = cpuGroups(before, cpuMsByThread(process.pid), v.host);
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
const pageMedian = median(samples.get(variants[0])!.map((s) => s.msPerStep));
const rows = variants.map((v) => {
  const ss = samples.get(v)!;
  const ms = ss.map((s) => s.msPerStep);
  const cpu = (k: string) => median(ss.map((s) => s.cpu[k]));
  const total = median(ss.map((s) => Object.values(s.cpu).reduce((a, b) => a + b, 0)));
  return { v, median: median(ms), all: ms, cpu: { total, workers: cpu('adapter workers'), main: cpu('main threads'), other: cpu('other') } };
});
const md: string[] = [];
md.push(`## Node against the page: the same step on the same adapter`);
md.push('');
md.push(`- Date: ${started.toISOString()}; command: \`${commandLine()}\` (commit ${commit()}, Node ${process.version})`);
md.push(`- Adapter: Node ${nodeAdapter}; page ${pageAdapter} (headless Chromium, the bench page)`);
md.push(`- ${config.name} (${describeConfig(config)}), the adapter's default GEMM tuning in both hosts; per round and variant: plan, ${warmup} warm-up steps, ${steps} timed steps (one await at the end unless "every step awaited"); ${rounds} rounds, the variants in turn (order reversed every other round).`);
md.push(`- Host 1-min load average ${loadStart.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end, on 2 CPUs shared with other processes: absolute times are inflated and noisy; compare the variants within this table.`);
md.push('');
md.push(
  mdTable(
    ['variant', 'ms / step (median)', 'rounds', 'vs page', 'CPU ms / step', 'adapter workers', 'main threads', 'other threads'],
    rows.map((r) => [r.v.name, `**${fmt(r.median)}**`, r.all.map((x) => fmt(x)).join(', '), `${fmt(r.median / pageMedian, 2)}×`, fmt(r.cpu.total), fmt(r.cpu.workers), fmt(r.cpu.main), fmt(r.cpu.other)]),
  ),
);
md.push('');
md.push(`CPU time is read from /proc per thread (Node: this process; page: the browser's processes) over a whole round (plan, warm-up and timed steps) and divided by its steps. "adapter workers" are SwiftShader's worker threads, where the shaders run; "main threads" are each process's first thread (Node: the JS thread, where Dawn's binding polls; Chromium: the browser, renderer and GPU processes' main threads); "other" is every other thread (Chromium's GPU-process thread pool among them).`);
md.push('');
if (profiles.size) {
  const profiled = [...profiles];
  const kernels = [...new Set(profiled.flatMap(([, p]) => p.byKernel.map((k) => k.kernel)))];
  const msOf = (p: StepProfile, k: string) => p.byKernel.find((x) => x.kernel === k)?.ms ?? 0;
  kernels.sort((a, b) => msOf(profiled[0][1], b) - msOf(profiled[0][1], a));
  md.push(`### Where the step goes in each host (ms per step by kernel, ${profiled[0][1].method}, each dispatch in its own pass, best of 3)`);
  md.push('');
  md.push(mdTable(['kernel', ...profiled.map(([v]) => v.name)], [...kernels.map((k) => [k, ...profiled.map(([, p]) => fmt(msOf(p, k), 2))]), ['**sum**', ...profiled.map(([, p]) => `**${fmt(p.totalMs)}**`)]]));
  md.push('');
}
const text = md.join('\n');
console.log(`\n${text}`);
if (!flag('--no-write')) {
  const json = { date: started.toISOString(), command: commandLine(), commit: commit(), loadavg: { start: loadStart, end: loadavg()[0] }, config, rounds, steps, warmup, rows: rows.map((r) => ({ variant: r.v, median: r.median, all: r.all, cpu: r.cpu })), samples: variants.map((v) => ({ variant: v.name, samples: samples.get(v) })), profiles: Object.fromEntries([...profiles].map(([v, p]) => [v.name, p])) };
  console.log(`wrote ${writeResults('hosts', text, 'bench-hosts.json', json)}`);
}
process.exit(0);
