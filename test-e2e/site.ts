/**
 * What the end-to-end tests share: serving the page (the Vite dev server, or the built site in
 * dist/demo through `vite preview`), headless Chromium with WebGPU (SwiftShader where there is no
 * GPU), the page's test handle, and small CSV files generated here.
 */
import { build, createServer, preview, type PreviewServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright';
import { createServer as createNetServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--no-sandbox', '--headless=new', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** What the page exposes for the tests (demo/main.ts). */
export interface DemoHandle {
  state: string;
  adapter: string;
  progress: { epoch: number; step: number; stepsPerEpoch: number; loss: number };
  errors: string[];
  gateUpdates: number;
  redraws: number;
  epochsDone: number;
  position: { epoch: number; step: number; stepsPerEpoch: number } | null;
  loseDevice(): void;
  runs(): { label: string; tasks: { name: string; type: string }[]; epochs: { epoch: number; trainTaskLoss: number[]; validationTaskLoss?: number[]; metric: (number | null)[] }[]; finished: boolean }[];
  plotted(): Record<'loss' | 'metric' | 'seesaw', { label: string; data: { x: number; y: number }[] }[]>;
}
declare global {
  interface Window {
    __demo: DemoHandle;
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export type SiteKind = 'dev' | 'built';

/** Serves the page on 127.0.0.1 (WebGPU needs a secure context): the dev server, or `vite build` then `vite preview`. */
export async function serve(kind: SiteKind): Promise<{ origin: string; close(): Promise<void> }> {
  const port = await freePort();
  const configFile = resolve(repo, 'vite.config.ts');
  if (kind === 'dev') {
    const server: ViteDevServer = await createServer({ configFile, mode: 'development', logLevel: 'warn', server: { host: '127.0.0.1', port, strictPort: true, open: false } });
    await server.listen();
    return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
  }
  await build({ configFile, mode: 'production', logLevel: 'error' }); // no bundle-size or timing notes in the test log
  const server: PreviewServer = await preview({ configFile, mode: 'production', logLevel: 'warn', preview: { host: '127.0.0.1', port, strictPort: true, open: false } });
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** Chromium and a desktop-sized context (1440 x 1000) that accepts downloads. */
export async function launch(): Promise<{ browser: Browser; context: BrowserContext }> {
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  return { browser, context };
}

/** What pages sent and said: every request, WebSocket and page error or console error (but those `expected`). */
export interface PageRecord {
  requests: { url: string; method: string; body: string | null }[];
  sockets: string[];
  problems: string[];
}

export function record(p: Page, into: PageRecord, expected?: RegExp): void {
  p.on('request', (r) => into.requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  p.on('websocket', (ws) => into.sockets.push(ws.url()));
  p.on('pageerror', (e) => into.problems.push(`pageerror: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && !expected?.test(m.text())) into.problems.push(`console: ${m.text()}`);
  });
}

export function helpers(page: Page) {
  return {
    // A wait that times out says where the page was: its phase, progress and errors.
    waitFor: async (fn: string, timeout = 120_000) => {
      try {
        return await page.waitForFunction(fn, undefined, { timeout, polling: 250 });
      } catch (e) {
        const at = await page.evaluate('JSON.stringify({ state: window.__demo?.state, progress: window.__demo?.progress, errors: window.__demo?.errors })').catch(() => 'unreadable');
        throw new Error(`waiting for ${fn}: ${(e as Error).message.split('\n')[0]}; the demo was at ${at}`);
      }
    },
    demo: <T>(fn: (d: DemoHandle) => T): Promise<T> => page.evaluate(`(${fn.toString()})(window.__demo)`) as Promise<T>,
    finished: () => page.waitForFunction(`['done', 'error', 'stopped'].includes(window.__demo.state)`, undefined, { timeout: 180_000, polling: 250 }),
  };
}

/**
 * A census-like CSV: numeric age and hours-per-week (in the tens), categorical city and device,
 * marital-status and income (two binary tasks). Deterministic; hours depends on age and device.
 */
export function peopleCsv(rows: number, seed = 7): string {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const cities = ['north', 'south', 'east', 'west', 'centre'];
  const devices = ['phone', 'tablet', 'desktop'];
  const lines = ['age,city,device,hours-per-week,marital-status,income'];
  for (let r = 0; r < rows; r++) {
    const age = 18 + Math.floor(rnd() * 50);
    const city = cities[Math.floor(rnd() * cities.length)];
    const device = devices[Math.floor(rnd() * devices.length)];
    const married = rnd() < 0.2 + (age > 35 ? 0.5 : 0);
    const hours = Math.round(15 + 0.6 * age + 20 * rnd() + (device === 'desktop' ? 10 : 0));
    const income = age / 60 + hours / 80 + (married ? 0.3 : 0) + 0.5 * rnd() > 1.4;
    lines.push(`${age},${city},${device},${hours},${married ? 'Married' : 'Never-married'},${income ? '>50K' : '<=50K'}`);
  }
  return lines.join('\n') + '\n';
}
