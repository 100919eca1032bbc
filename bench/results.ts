/** Writes the benchmarks' results: a section of results/bench.md per benchmark, and JSON beside it. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execSync } from 'node:child_process';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = join(repoRoot, 'results');

const header = `# Benchmarks

Training-step throughput of ple-webgpu against TensorFlow.js on the same adapter, the batched GEMM's
GFLOP/s against a naive kernel, where a step's time goes, and GPU memory over many steps. Each section
below is rewritten by the command named in it; \`npm run bench:all\` runs the first two in one go.
`;

const order = ['browser', 'node', 'compare', 'hosts', 'ceiling'];

/** Replaces (or adds) the section `name` of results/bench.md and writes `json` to results/<jsonName>. */
export function writeResults(name: 'browser' | 'node' | 'compare' | 'hosts' | 'ceiling', markdown: string, jsonName: string, json: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, 'bench.md');
  const sections = new Map<string, string>();
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/<!-- bench:(\w+):start -->\n([\s\S]*?)<!-- bench:\1:end -->/g)) sections.set(m[1], m[2]);
  }
  sections.set(name, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  const body = order.filter((n) => sections.has(n)).map((n) => `<!-- bench:${n}:start -->\n${sections.get(n)}<!-- bench:${n}:end -->\n`);
  writeFileSync(file, `${header}\n${body.join('\n')}`);
  writeFileSync(join(resultsDir, jsonName), `${JSON.stringify(json, null, 2)}\n`);
  return file;
}

export function commit(): string {
  try {
    const sha = execSync('git rev-parse --short HEAD', { cwd: repoRoot }).toString().trim();
    // The results files are the benches' output, not their input: rewriting them leaves the code clean.
    const dirty = execSync("git status --porcelain --untracked-files=no -- . ':(exclude)results'", { cwd: repoRoot }).toString().trim() !== '';
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

/** The command line as typed (npm sets npm_lifecycle_script for scripts). */
export function commandLine(): string {
  const npm = process.env.npm_lifecycle_event;
  const extra = process.argv.slice(2).join(' ');
  return npm ? `npm run ${npm}${extra ? ` -- ${extra}` : ''}` : `node --import tsx --import ./scripts/register-raw.mjs ${process.argv.slice(1).map((a) => a.replace(`${repoRoot}/`, '')).join(' ')}`;
}
