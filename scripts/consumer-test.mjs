// The package as a user meets it: `npm pack`, install the tarball into a fresh project, then
//   - ple-webgpu/node without its optional peer `webgpu` names the install command,
//   - strict `tsc` over the examples (module/moduleResolution nodenext, then bundler),
//   - run the Node examples (train on a CSV and save a checkpoint, predict, read gate weights)
//     compiled by that tsc run, with plain `node`,
//   - build the browser example with Vite and train in it in headless Chromium,
//   - build a page importing the whole entry, to report what tree-shaking leaves out.
// Prints one line per check and writes out/consumer-results.json ({ passed, failed, checks, sizes }).
//   node scripts/consumer-test.mjs [--keep]   (--keep leaves the temporary project for a look)
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const project = mkdtempSync(join(tmpdir(), 'ple-webgpu-consumer-'));

const checks = [];
const sizes = {};

/** Runs one check; one whose prerequisite (a check id in `needs`) failed fails too, never skips. */
async function check(id, name, needs, body) {
  const started = Date.now();
  try {
    const missing = needs.filter((n) => !checks.find((c) => c.id === n)?.ok);
    if (missing.length) throw new Error(`not run: ${missing.join(', ')} failed`);
    await body();
    checks.push({ id, name, ok: true });
    console.log(`ok    ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    checks.push({ id, name, ok: false, error: String(e.message ?? e) });
    console.log(`FAIL  ${name}: ${e.message ?? e}`);
  }
}

function run(command, args, cwd = project) {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    throw new Error(`${[command, ...args].join(' ')} exited with ${e.status}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const strict = { strict: true, target: 'ES2022', lib: ['ES2022', 'DOM'], types: ['node'], skipLibCheck: false, noUnusedLocals: true };
const sources = ['examples/*.ts', 'examples/browser/main.ts'];

await check('install', 'npm pack, then install the tarball into a fresh project', [], async () => {
  // prepack builds dist/ first and prints its log on stdout ahead of npm's JSON.
  const packed = { filename: /"filename": "([^"]+)"/.exec(run('npm', ['pack', '--json', '--pack-destination', project], repo))?.[1] };
  if (!packed.filename) throw new Error('npm pack named no tarball');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2));
  // What a user installs: the package and Node's types; a Node user adds Dawn's binding below.
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `./${packed.filename}`, `@types/node@${pkg.devDependencies['@types/node']}`]);
  mkdirSync(join(project, 'examples/browser'), { recursive: true });
  for (const f of readdirSync(join(repo, 'examples'))) if (f.endsWith('.ts')) cpSync(join(repo, 'examples', f), join(project, 'examples', f));
  cpSync(join(repo, 'examples/data'), join(project, 'examples/data'), { recursive: true });
  for (const f of ['index.html', 'main.ts']) cpSync(join(repo, 'examples/browser', f), join(project, 'examples/browser', f));
});

await check('webgpu', 'without its optional peer "webgpu", ple-webgpu/node says what to install; then install it', ['install'], async () => {
  const script = "const m = await import('ple-webgpu/node'); await m.acquireNodeDevice().then(() => console.log('acquired'), (e) => console.log(e.message));";
  const output = run(process.execPath, ['--input-type=module', '-e', script]);
  if (!output.includes('npm install webgpu')) throw new Error(`the message does not name the install command: ${output}`);
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `webgpu@${pkg.peerDependencies.webgpu}`]);
});

await check('tsc-bundler', 'strict tsc, module and moduleResolution bundler', ['install'], async () => {
  const compilerOptions = { ...strict, module: 'preserve', moduleResolution: 'bundler', noEmit: true };
  writeFileSync(join(project, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions, include: sources }, null, 2));
  run(process.execPath, [tsc, '-p', 'tsconfig.bundler.json']);
});

// This run also emits the JavaScript that the Node examples run as.
await check('tsc-nodenext', 'strict tsc, module and moduleResolution nodenext (emits the examples)', ['install'], async () => {
  const compilerOptions = { ...strict, module: 'nodenext', moduleResolution: 'nodenext' };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: sources }, null, 2));
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
});

const nodeExample = (file, ...args) => run(process.execPath, [`examples/${file}`, ...args]);
await check('train', 'examples/train-csv.ts: trains on a CSV, saves a checkpoint', ['webgpu', 'tsc-nodenext'], async () => {
  const output = nodeExample('train-csv.js', 'examples/data/shop.csv', 'out/shop.safetensors');
  if (!/wrote out\/shop\.safetensors/.test(output)) throw new Error(`no checkpoint written:\n${output}`);
});
await check('predict', 'examples/predict.ts: loads the checkpoint and predicts', ['train'], async () => {
  const output = nodeExample('predict.js', 'out/shop.safetensors');
  if (output.trim().split('\n').length !== 6) throw new Error(`expected a header and 5 rows of predictions:\n${output}`);
});
await check('gates', 'examples/gates.ts: reads gate weights', ['train'], async () => {
  const output = nodeExample('gates.js', 'out/shop.safetensors');
  if (!/level 1 gate/.test(output)) throw new Error(`no gate report for level 1:\n${output}`);
});

// Vite builds the page as a user's project would: `ple-webgpu` resolved from node_modules, no config.
const { build } = await import(join(repo, 'node_modules/vite/dist/node/index.js'));
async function buildPage(root, outDir) {
  await build({ root, base: './', configFile: false, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  const js = readdirSync(join(outDir, 'assets')).filter((f) => f.endsWith('.js'));
  const bytes = js.map((f) => readFileSync(join(outDir, 'assets', f)));
  return { raw: bytes.reduce((a, b) => a + b.length, 0), gzip: bytes.reduce((a, b) => a + gzipSync(b, { level: 9 }).length, 0), text: bytes.join('\n') };
}

const site = join(project, 'site');
await check('vite', 'vite build of examples/browser', ['install'], async () => {
  sizes.browserExample = await buildPage(join(project, 'examples/browser'), site);
});

await check('tree-shaking', 'tree-shaking: the browser example leaves out CSV parsing and the CPU reference', ['vite'], async () => {
  mkdirSync(join(project, 'full'), { recursive: true });
  writeFileSync(join(project, 'full/index.html'), '<!doctype html><script type="module" src="./main.ts"></script>\n');
  writeFileSync(join(project, 'full/main.ts'), "import * as all from 'ple-webgpu';\nconsole.log(all);\n");
  sizes.fullEntry = await buildPage(join(project, 'full'), join(project, 'full-site'));
  // Strings only the unused parts carry (minifying keeps string literals): papaparse's error codes,
  // the CPU reference's and the CSV reader's error messages.
  for (const marker of ['UndetectableDelimiter', 'reference: missing parameter', 'CSV syntax error']) {
    if (!sizes.fullEntry.text.includes(marker)) throw new Error(`marker "${marker}" is not in the full entry either: pick another`);
    if (sizes.browserExample.text.includes(marker)) throw new Error(`the browser example's bundle contains "${marker}"`);
  }
});

await check('browser', 'examples/browser trains in headless Chromium (WebGPU)', ['vite'], async () => {
  const server = createServer((req, res) => {
    const path = join(site, decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/\/$/, '/index.html'));
    if (!path.startsWith(site)) return void res.writeHead(403).end();
    let body;
    try {
      body = readFileSync(path);
    } catch {
      return void res.writeHead(404).end();
    }
    const type = { '.html': 'text/html', '.js': 'text/javascript' }[extname(path)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { chromium } = await import(join(repo, 'node_modules/playwright/index.mjs'));
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--enable-unsafe-webgpu', '--no-sandbox', '--headless=new', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForSelector('body[data-status]', { timeout: 240_000 });
    const result = JSON.parse(await page.getAttribute('body', 'data-result'));
    if (result.error || errors.length) throw new Error(result.error ?? errors.join('\n'));
    const { losses } = result;
    if (!(losses.length === 20 && losses.every(Number.isFinite) && losses.at(-1) < losses[0])) throw new Error(`losses do not fall: ${losses}`);
  } finally {
    await browser.close();
    server.close();
  }
});

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
for (const [name, s] of Object.entries(sizes)) if (s) console.log(`size  ${name}: ${kb(s.raw)} JavaScript, ${kb(s.gzip)} gzip -9`);
const passed = checks.filter((c) => c.ok).length;
const failed = checks.length - passed;
mkdirSync(join(repo, 'out'), { recursive: true });
const sizeReport = Object.fromEntries(Object.entries(sizes).map(([k, s]) => [k, { bytes: s.raw, gzipBytes: s.gzip }]));
writeFileSync(join(repo, 'out/consumer-results.json'), JSON.stringify({ passed, failed, checks, sizes: sizeReport }, null, 2));
console.log(`consumer test: ${passed} passed, ${failed} failed`);
if (keep) console.log(`project kept in ${project}`);
else rmSync(project, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
