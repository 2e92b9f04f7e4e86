// The npm package as a consumer meets it: a fresh Vite app in a temp dir installs the packed
// tarball, imports `univid-web`, is built by Vite, and in headless Chromium loads the shipped model
// from a local server and runs describe + generate (CPU, in the package's Web Worker): plainly, on a
// cross-origin isolated page (the thread pool), and with the engine served from another origin
// (a CDN). Node imports the package (server rendering) and gets a typed refusal to load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { launch } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const VITE = '7.3.8';
let app, context;

before(() => {
  execFileSync('bash', [`${ROOT}scripts/build-npm`], { stdio: 'inherit' });
  const tgz = fs.readdirSync(`${ROOT}out/npm`).find((f) => f.endsWith('.tgz'));
  app = fs.mkdtempSync(path.join(os.tmpdir(), 'univid-consumer-'));
  fs.writeFileSync(`${app}/package.json`, JSON.stringify({
    name: 'consumer', private: true, type: 'module',
    dependencies: { 'univid-web': `file:${ROOT}out/npm/${tgz}` }, devDependencies: { vite: VITE },
  }));
  fs.writeFileSync(`${app}/index.html`, '<!doctype html><p id="out">pending</p><script type="module" src="/main.js"></script>');
  fs.writeFileSync(`${app}/main.js`, `
import { UniVid, Clip } from 'univid-web';
const out = document.getElementById('out');
const engineBase = new URLSearchParams(location.search).get('engine') ?? undefined;
try {
  const model = await UniVid.load('/models/univid-small-int8', { backend: 'cpu', engineBase });
  const pixels = new Uint8Array(20 * 64 * 64);
  for (let f = 0; f < 20; f++) for (let y = 20; y < 40; y++) for (let x = 10 + f; x < 20 + f; x++) pixels[f * 4096 + y * 64 + x] = 255;
  const caption = (await model.describe(Clip.fromPixels(pixels, { frames: 20, size: 64 }))).text;
  const generated = await model.generate('digit 3 moves left', { steps: 2 });
  out.textContent = JSON.stringify({ caption, frames: generated.frames, inWorker: model.inWorker, threads: model.threads, threadsReason: model.threadsReason, isolated: crossOriginIsolated });
} catch (e) {
  out.textContent = 'error: ' + (e.code ?? '') + ' ' + e.message;
}
`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, stdio: 'inherit' });
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' });
});

const servers = [];
after(async () => {
  await context?.close();
  for (const s of servers) s.close();
});

/** Serves `file(rel)` (null: 404) with `headers`; records each path asked for in `seen`. */
function serveFiles(file, headers = {}, seen = []) {
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      seen.push(rel);
      const found = file(rel);
      if (!found || !fs.existsSync(found) || !fs.statSync(found).isFile()) { res.writeHead(404, headers); res.end(); return; }
      const type = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' }[path.extname(found)];
      res.writeHead(200, { 'content-type': type ?? 'application/octet-stream', ...headers });
      fs.createReadStream(found).pipe(res);
    });
    servers.push(s);
    s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${s.address().port}`));
  });
}

/** dist/ from the Vite build at /, the shipped model at /models/. */
const serveApp = (headers) => serveFiles((rel) => (rel.startsWith('/models/') ? path.join(ROOT, rel) : path.join(app, 'dist', rel === '/' ? 'index.html' : rel)), headers);

/** Opens the app at `url` and returns what its page reports. */
async function runApp(url) {
  context ??= await launch();
  const page = await context.newPage();
  try {
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('out').textContent !== 'pending', null, { timeout: 240_000 });
    const text = await page.textContent('#out');
    assert.doesNotMatch(text, /^error/, text);
    const result = JSON.parse(text);
    assert.equal(result.frames, 20);
    assert.equal(result.inWorker, true);
    assert.match(result.caption, /^digit \d/);
    return result;
  } finally {
    await page.close();
  }
}

test('a Vite app built against the packed tarball describes and generates', { timeout: 300_000 }, async () => {
  const packed = JSON.parse(fs.readFileSync(`${app}/node_modules/univid-web/package.json`, 'utf8'));
  assert.equal(packed.name, 'univid-web');
  assert.ok(fs.existsSync(`${app}/node_modules/univid-web/univid/index.d.ts`), 'types ship');
  const result = await runApp(`${await serveApp()}/`);
  assert.equal(result.threads, 1, 'not cross-origin isolated: one thread');
  // The page's entry chunk holds the API only: the engine glue is in the worker (and in a chunk
  // loaded for in-thread mode alone).
  const assets = `${app}/dist/assets`;
  const entry = fs.readdirSync(assets).find((f) => /^index-.*\.js$/.test(f));
  const text = fs.readFileSync(`${assets}/${entry}`, 'utf8');
  console.log(`[npm] entry chunk ${entry}: ${text.length} bytes`);
  assert.doesNotMatch(text, /__wbindgen|__wbg_/, 'no wasm glue in the entry chunk');
});

test('cross-origin isolated (COOP/COEP), the bundled app loads: on a thread pool, or on one thread with the reason, never a hang', { timeout: 300_000 }, async () => {
  const isolated = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const started = Date.now();
  const result = await runApp(`${await serveApp(isolated)}/`);
  console.log(`[npm] isolated: ${result.threads} threads (${result.threadsReason}) in ${Date.now() - started} ms`);
  assert.equal(result.isolated, true);
  if (result.threads === 1) assert.match(result.threadsReason, /thread pool failed to start/);
});

test('the engine served from another origin (engineBase, like a CDN) runs the model', { timeout: 300_000 }, async () => {
  const seen = [];
  const cdn = await serveFiles((rel) => path.join(ROOT, 'out/npm/univid-web', rel), { 'access-control-allow-origin': '*' }, seen);
  await runApp(`${await serveApp()}/?engine=${encodeURIComponent(`${cdn}/`)}`);
  for (const file of ['/univid/worker.js', '/univid/session.js', '/pkg/univid.js', '/pkg/univid_bg.wasm']) {
    assert.ok(seen.includes(file), `${file} came from the CDN origin (it served: ${seen.join(', ')})`);
  }
  assert.ok(!seen.includes('/pkg-threads/univid_bg.wasm'), 'one thread: the threads build is not downloaded');
});

test('cross-origin isolated with the engine served unbundled (engineBase): the thread pool starts', { timeout: 300_000 }, async () => {
  const isolated = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const cdn = await serveFiles((rel) => path.join(ROOT, 'out/npm/univid-web', rel), { 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' });
  const result = await runApp(`${await serveApp(isolated)}/?engine=${encodeURIComponent(`${cdn}/`)}`);
  console.log(`[npm] isolated, unbundled engine: ${result.threads} threads (${result.threadsReason})`);
  assert.ok(result.threads > 1 || os.cpus().length === 1, result.threadsReason);
});

test('the packed tarball carries the product only: no research hooks in either engine build', () => {
  const tgz = fs.readdirSync(`${ROOT}out/npm`).find((f) => f.endsWith('.tgz'));
  const files = execFileSync('tar', ['-tzf', `${ROOT}out/npm/${tgz}`], { encoding: 'utf8' }).split('\n');
  const glue = files.filter((f) => /^package\/pkg(-threads)?\/univid(\.d\.ts|\.js)$/.test(f));
  assert.equal(glue.length, 4, files.join(' '));
  for (const file of glue) {
    const text = execFileSync('tar', ['-xzOf', `${ROOT}out/npm/${tgz}`, file], { encoding: 'utf8' });
    assert.ok(text.includes('createEngine'), `${file} is an engine's glue`);
    for (const hook of ['tokenize', 'OpBench']) assert.ok(!text.includes(hook), `${file} exports ${hook}`);
  }
});

test('Node imports the package (server rendering) without engine code; loading there is a typed UNSUPPORTED', () => {
  const script = `
    const { UniVid, Clip, UniVidError } = await import('univid-web');
    const clip = Clip.fromPixels(new Uint8Array(20 * 64 * 64), { frames: 20, size: 64 });
    let code = 'no error';
    try { await UniVid.load('/models/univid-small-int8'); } catch (e) { code = e instanceof UniVidError ? e.code : String(e); }
    console.log(JSON.stringify({ frames: clip.frames, code, cache: typeof UniVid.cache.status }));
  `;
  const out = execFileSync('node', ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)), { frames: 20, code: 'UNSUPPORTED', cache: 'function' });
});
