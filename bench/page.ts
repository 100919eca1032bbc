/**
 * The benchmark page (bench/browser/) in headless Chromium: served by Vite from its own root, opened
 * with Playwright. `runPage` calls the page's runBench and reloads the page if it navigated or its
 * renderer died. `cpuMsByThread` reads the CPU time of the browser's processes from /proc, for the
 * host comparison (bench/hosts.ts), and `matchPriority` lowers the browser's threads to this
 * process's scheduling priority.
 */
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright';
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './results.js';
import { CROSS_ORIGIN_ISOLATION_HEADERS } from '../src/cpu/threads.js';
import type { PageOptions, PageResult } from './browser/main.js';

export const chromiumArgs = ['--enable-unsafe-webgpu', '--no-sandbox', '--headless=new', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function startBenchServer(): Promise<{ server: ViteDevServer; url: string }> {
  const server = await createServer({
    configFile: false,
    root: join(repoRoot, 'bench/browser'),
    cacheDir: join(repoRoot, 'node_modules/.vite-bench'),
    logLevel: 'warn',
    // No HMR and no file watching: edits elsewhere in the repo must not reload the page mid-run.
    // Cross-origin isolated, as the demo: the CPU device may run threads.
    server: { host: '127.0.0.1', port: 0, strictPort: false, fs: { allow: [repoRoot] }, hmr: false, watch: { ignored: ['**/*'] }, headers: { ...CROSS_ORIGIN_ISOLATION_HEADERS } },
    optimizeDeps: { include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'] },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite: no local URL');
  return { server, url };
}

export interface BenchPage {
  browser: Browser;
  page: Page;
  args: string[];
  /** Runs the page's runBench; throws if the page failed (after reloading it). */
  run(options: PageOptions): Promise<PageResult>;
}

export async function openBenchPage(url: string, extraArgs: string[] = [], log: (s: string) => void = console.log): Promise<BenchPage> {
  const args = [...chromiumArgs, ...extraArgs];
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args, headless: true });
  const page = await browser.newPage();
  page.on('console', (m) => log(`[page] ${m.text()}`));
  page.on('pageerror', (e) => log(`[page error] ${e.message}`));
  page.on('crash', () => log('[page crashed]'));
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) log(`[page navigated] ${f.url()}`);
  });
  const load = async () => {
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { benchReady?: boolean }).benchReady === true, undefined, { timeout: 180_000 });
  };
  await load();
  return {
    browser,
    page,
    args,
    async run(options) {
      try {
        return await page.evaluate((o) => (window as unknown as { runBench: (o: PageOptions) => Promise<PageResult> }).runBench(o), options);
      } catch (e) {
        await load();
        throw e;
      }
    },
  };
}

/** Thread ids of `pid` and of its descendants, by process id. */
function threadsOf(pid: number): Map<number, string[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended meanwhile.
    }
  }
  const out = new Map<number, string[]>();
  const visit = (p: number) => {
    try {
      out.set(p, readdirSync(`/proc/${p}/task`));
    } catch {
      // The process ended meanwhile.
    }
    for (const c of children.get(p) ?? []) visit(c);
  };
  visit(pid);
  return out;
}

/** CPU time (user + system, ms) of every thread of `pid` and of its descendants, keyed "pid/tid name". */
export function cpuMsByThread(pid: number): Map<string, number> {
  const ticks = 100; // USER_HZ on Linux
  const out = new Map<string, number>();
  for (const [p, tids] of threadsOf(pid)) {
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(`${p}/${tid} ${name}`, ((Number(fields[11]) + Number(fields[12])) * 1000) / ticks);
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return out;
}

/**
 * Chromium raises its GPU process's main threads (among them the one that feeds the software
 * adapter its work) to nice -8 where it may, e.g. when run as root; a Node process stays at its
 * nice. On a loaded host that alone decides who gets the CPU. This sets every thread of the
 * browser (`pid`'s descendants other than `pid`) that runs at a higher priority than `pid` back to
 * `pid`'s nice, and returns how many it changed.
 */
export function matchPriority(pid: number): number {
  const nice = getPriority(pid);
  let changed = 0;
  for (const [p, tids] of threadsOf(pid)) {
    if (p === pid) continue;
    for (const tid of tids.map(Number)) {
      try {
        // On Linux a thread id addresses that one thread.
        if (getPriority(tid) < nice) {
          setPriority(tid, nice);
          changed++;
        }
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return changed;
}
