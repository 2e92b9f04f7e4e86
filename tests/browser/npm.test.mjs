// The npm package as a consumer meets it: a fresh Vite app in a temp dir installs the packed
// tarball, imports `univid-web`, is built by Vite, and in headless Chromium loads the shipped model
// from a local server and runs describe + generate (CPU, in the package's Web Worker).
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
let app, server, context;

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
try {
  const model = await UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
  const pixels = new Uint8Array(20 * 64 * 64);
  for (let f = 0; f < 20; f++) for (let y = 20; y < 40; y++) for (let x = 10 + f; x < 20 + f; x++) pixels[f * 4096 + y * 64 + x] = 255;
  const caption = await model.describe(Clip.fromPixels(pixels, { frames: 20, size: 64 }));
  const generated = await model.generate('digit 3 moves left', { steps: 2 });
  out.textContent = JSON.stringify({ caption, frames: generated.frames, inWorker: model.inWorker });
} catch (e) {
  out.textContent = 'error: ' + (e.code ?? '') + ' ' + e.message;
}
`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, stdio: 'inherit' });
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' });
});

after(async () => {
  await context?.close();
  server?.close();
});

function serveApp() {
  // dist/ from the Vite build at /, the shipped model at /models/.
  return new Promise((resolve) => {
    const s = http.createServer((req, res) => {
      const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const file = rel.startsWith('/models/') ? path.join(ROOT, rel) : path.join(app, 'dist', rel === '/' ? 'index.html' : rel);
      if (!fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404); res.end(); return; }
      const type = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' }[path.extname(file)];
      res.writeHead(200, { 'content-type': type ?? 'application/octet-stream' });
      fs.createReadStream(file).pipe(res);
    });
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

test('a Vite app built against the packed tarball describes and generates', { timeout: 300_000 }, async () => {
  const packed = JSON.parse(fs.readFileSync(`${app}/node_modules/univid-web/package.json`, 'utf8'));
  assert.equal(packed.name, 'univid-web');
  assert.ok(fs.existsSync(`${app}/node_modules/univid-web/univid/index.d.ts`), 'types ship');
  server = await serveApp();
  context = await launch();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => document.getElementById('out').textContent !== 'pending', null, { timeout: 240_000 });
  const text = await page.textContent('#out');
  assert.doesNotMatch(text, /^error/, text);
  const result = JSON.parse(text);
  assert.equal(result.frames, 20);
  assert.equal(result.inWorker, true);
  assert.match(result.caption, /^digit \d/);
});
