// Every API method on the shipped model, on both browser backends (WebGPU through SwiftShader,
// and the wasm CPU path): the same seed gives identical bytes on the same backend, and the two
// backends agree within the documented tolerance (README, "Determinism"). UNIVID_PACK=/out/… runs
// another pack the same way (e.g. an int4 one: `univid pack --checkpoint models/univid-small --quant int4`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage } from './browser.mjs';

// Cross-backend tolerance: probabilities within 1e-3; generated pixels within 4 of 255 (float
// summation order differs between GPU kernels and the CPU; a flow step amplifies it slightly).
const PROBABILITY_TOLERANCE = 1e-3;
const PIXEL_TOLERANCE = 4;
const PACK = process.env.UNIVID_PACK ?? '/models/univid-small-int8';

let page, close;
const results = {};

before(async () => {
  ({ page, close } = await blankPage());
});

after(() => close?.());

/** In the page: load the pack on `backend` and run every method, twice for the seeded ones. */
function runAll(backend) {
  return page.evaluate(async ({ backend, pack }) => {
    const api = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    const clip = api.Clip.fromPixels(sampleClip(digits, 'test', 0, 5).pixels, { frames: 20, size: 64 });
    const model = await api.UniVid.load(pack, { backend });
    await model.fullyLoaded;
    const pixels = (c) => Array.from(c.pixels);
    const generate = async () => pixels(await model.generate('digit 4 moves up', { steps: 1, seed: 3 }));
    const cont = async () => pixels(await model.continue(clip, { steps: 1, seed: 3 }));
    const out = {
      backend: model.backend,
      classify: await model.classify(clip),
      describe: (await model.describe(clip)).text,
      ask: await model.ask(clip, 'how many digits are there ?'),
      embed: Array.from(await model.embed(clip)),
      search: (await model.search('digit 4 moves up', [clip, clip])).map((h) => h.index),
      generate: [await generate(), await generate()],
      continue: [await cont(), await cont()],
    };
    model.dispose();
    return out;
  }, { backend, pack: PACK });
}

for (const backend of ['cpu', 'webgpu']) {
  test(`every method runs on ${backend}, and the same seed gives identical bytes`, { timeout: 600_000 }, async () => {
    const started = Date.now();
    const r = await runAll(backend);
    results[backend] = r;
    console.log(`[${backend}] ${((Date.now() - started) / 1000).toFixed(1)} s; describe: ${r.describe}; ask: ${r.ask}`);
    assert.equal(r.backend, backend);
    assert.equal(r.classify.digit_probabilities.length, 10);
    assert.match(r.describe, /^digit \d/);
    assert.ok(r.ask.length > 0);
    assert.ok(r.embed.length > 0 && Math.abs(Math.hypot(...r.embed) - 1) < 1e-3, 'a unit embedding');
    assert.equal(r.search.length, 2);
    assert.equal(r.generate[0].length, 20 * 64 * 64);
    assert.deepEqual(r.generate[0], r.generate[1], 'generate: same seed, same bytes');
    assert.deepEqual(r.continue[0], r.continue[1], 'continue: same seed, same bytes');
  });
}

test('WebGPU and the CPU agree within the documented tolerance', () => {
  const { cpu, webgpu } = results;
  assert.ok(cpu && webgpu, 'both backends ran');
  const worst = (a, b) => a.reduce((w, v, i) => Math.max(w, Math.abs(v - b[i])), 0);
  const probabilities = worst(cpu.classify.digit_probabilities, webgpu.classify.digit_probabilities);
  const embedding = worst(cpu.embed, webgpu.embed);
  const generated = worst(cpu.generate[0], webgpu.generate[0]);
  const continued = worst(cpu.continue[0], webgpu.continue[0]);
  console.log(`max |cpu - webgpu|: probabilities ${probabilities.toExponential(2)}, embedding ${embedding.toExponential(2)}, generate ${generated}/255, continue ${continued}/255`);
  assert.ok(probabilities < PROBABILITY_TOLERANCE, `probabilities differ by ${probabilities}`);
  assert.ok(embedding < PROBABILITY_TOLERANCE, `embeddings differ by ${embedding}`);
  assert.equal(webgpu.describe, cpu.describe);
  assert.equal(webgpu.ask, cpu.ask);
  assert.ok(generated <= PIXEL_TOLERANCE, `generated pixels differ by ${generated}`);
  assert.ok(continued <= PIXEL_TOLERANCE, `continued pixels differ by ${continued}`);
});
