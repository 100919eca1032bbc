// The documentation derived from the code, kept from drifting:
//   - README.md's API examples are copies of files in examples/, between
//     `<!-- example: PATH -->` and `<!-- end example -->` markers;
//   - docs/api/ is the TypeDoc reference (typedoc.json), and every export has a doc comment.
//   node scripts/docs.mjs           rewrites both (`npm run docs`)
//   node scripts/docs.mjs --check   changes nothing; checks both, prints one line per check and writes
//                                   out/docs-results.json ({ passed, failed, checks }) for .ci/run
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const checkOnly = process.argv.includes('--check');
const readmePath = join(repo, 'README.md');
const marker = /(<!-- example: (\S+) -->\n```ts\n)([\s\S]*?)(```\n<!-- end example -->)/g;

/** README.md with every example block replaced by its file's text. */
function readmeWithExamples() {
  return readFileSync(readmePath, 'utf8').replace(marker, (_, open, path, _old, close) => `${open}${readFileSync(join(repo, path), 'utf8')}${close}`);
}

/** Runs TypeDoc into `out`; strict: fails on a missing doc comment, a broken link or any other warning. */
function typedoc(out, strict) {
  try {
    const args = ['--out', out, '--logLevel', 'Warn', ...(strict ? ['--treatWarningsAsErrors'] : [])];
    execFileSync(process.execPath, [join(repo, 'node_modules/typedoc/bin/typedoc'), ...args], {
      cwd: repo,
      encoding: 'utf8',
      stdio: ['ignore', strict ? 'pipe' : 'inherit', strict ? 'pipe' : 'inherit'],
    });
  } catch (e) {
    throw new Error(`${e.stdout ?? ''}${e.stderr ?? ''}`.trim());
  }
}

function filesUnder(dir) {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)) : [join(dir, f)]));
}

if (!checkOnly) {
  writeFileSync(readmePath, readmeWithExamples());
  rmSync(join(repo, 'docs/api'), { recursive: true, force: true });
  typedoc(join(repo, 'docs/api'), false); // warnings (a missing doc comment) are printed; --check fails on them
  console.log('README.md examples and docs/api written');
  process.exit(0);
}

const checks = [];
function check(name, body) {
  try {
    body();
    checks.push({ name, ok: true });
    console.log(`ok    ${name}`);
  } catch (e) {
    checks.push({ name, ok: false, error: e.message });
    console.log(`FAIL  ${name}\n${e.message}`);
  }
}

check('README.md API examples are the files in examples/', () => {
  const readme = readFileSync(readmePath, 'utf8');
  const blocks = [...readme.matchAll(marker)];
  if (blocks.length === 0) throw new Error('README.md has no <!-- example: PATH --> blocks');
  const stale = blocks.filter(([, , path, text]) => text !== readFileSync(join(repo, path), 'utf8')).map(([, , path]) => path);
  if (stale.length) throw new Error(`README.md's copies of ${stale.join(', ')} differ from the files: run npm run docs`);
});

const generated = mkdtempSync(join(tmpdir(), 'ple-webgpu-docs-'));
let built = false;
check('every export has a doc comment (TypeDoc validation)', () => {
  typedoc(generated, true);
  built = true;
});
check('docs/api is generated from the current doc comments', () => {
  if (!built) throw new Error('not run: TypeDoc failed');
  const list = (dir) => filesUnder(dir).map((f) => relative(dir, f)).sort();
  const want = list(generated);
  const have = list(join(repo, 'docs/api'));
  const differ = [...new Set([...want, ...have])].filter(
    (f) => !want.includes(f) || !have.includes(f) || readFileSync(join(generated, f), 'utf8') !== readFileSync(join(repo, 'docs/api', f), 'utf8'),
  );
  if (differ.length) throw new Error(`docs/api differs from the doc comments in ${differ.length} files (${differ.slice(0, 5).join(', ')}${differ.length > 5 ? ', ...' : ''}): run npm run docs`);
});
rmSync(generated, { recursive: true, force: true });

const passed = checks.filter((c) => c.ok).length;
mkdirSync(join(repo, 'out'), { recursive: true });
writeFileSync(join(repo, 'out/docs-results.json'), JSON.stringify({ passed, failed: checks.length - passed, checks }, null, 2));
console.log(`docs check: ${passed} passed, ${checks.length - passed} failed`);
process.exit(passed === checks.length ? 0 : 1);
