// The real wasm package on both browser backends: each must initialise, compute the golden probe
// and read it back asynchronously, and agree with the native flex result.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { serve } from './server.mjs';
import { launch } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const TOLERANCE = 1e-3;
let server, context, page, base, native;

before(async () => {
  native = JSON.parse(execFileSync(process.env.UNIVID_BIN, ['probe', '--backend', 'flex'], { encoding: 'utf8' }));
  server = await serve(ROOT);
  base = `http://127.0.0.1:${server.address().port}`;
  context = await launch();
  page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') console.log(`[page] ${msg.text()}`); });
  await page.goto(`${base}/tests/browser/blank.html`);
});

after(async () => {
  await context?.close();
  server?.close();
});

function maxDifference(a, b) {
  assert.equal(a.length, b.length);
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i])), 0);
}

for (const backend of ['webgpu', 'cpu']) {
  test(`probe on ${backend} matches native flex`, async () => {
    const result = await page.evaluate(async (backend) => {
      const wasm = await import('/www/pkg/univid.js');
      await wasm.default();
      let adapter = null;
      if (backend === 'webgpu') {
        const a = await navigator.gpu?.requestAdapter();
        adapter = a ? { fallback: a.info?.isFallbackAdapter ?? a.isFallbackAdapter ?? null, vendor: a.info?.vendor, architecture: a.info?.architecture } : null;
      }
      const engine = await wasm.createEngine(backend);
      const probe = await engine.probe();
      return { backend: engine.backend, adapter, probe };
    }, backend);
    console.log(`[${result.backend}] adapter: ${JSON.stringify(result.adapter)}`);
    assert.equal(result.backend, backend, 'the engine runs on the backend that was asked for');
    if (backend === 'webgpu') assert.ok(result.adapter, 'a WebGPU adapter exists (no silent CPU fallback)');
    for (const field of ['matmul', 'digit_probabilities', 'first_word_logits', 'video_estimate']) {
      const diff = maxDifference(result.probe[field], native[field]);
      console.log(`[${backend}] ${field}: max |browser - native| = ${diff.toExponential(2)}`);
      assert.ok(diff < TOLERANCE, `${field} differs from native by ${diff}`);
    }
  });
}

test('a second WebGPU engine in the same thread (a model loaded again after dispose) works', async () => {
  const r = await page.evaluate(async () => {
    const wasm = await import('/www/pkg/univid.js');
    await wasm.default();
    const first = await wasm.createEngine('webgpu');
    first.dispose();
    const second = await wasm.createEngine('webgpu');
    return (await second.probe()).digit_probabilities.length;
  });
  assert.equal(r, 10);
});
