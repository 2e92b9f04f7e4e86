// Retrieval through the JS API on the shipped pack (CPU, in a Web Worker): a caption finds its clip
// in a library of unseen test clips, indexes survive JSON, and bad input is refused with types.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { blankPage } from './browser.mjs';

const LIBRARY = 16;
let page, close;

before(async () => {
  ({ page, close } = await blankPage());
  await page.evaluate(async (size) => {
    const api = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    const samples = Array.from({ length: size }, (_, i) => sampleClip(digits, 'test', 11, i));
    const clips = samples.map((s) => api.Clip.fromPixels(s.pixels, { frames: s.frames, size: s.size }));
    const model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
    const index = await model.index(clips, { ids: samples.map((s) => s.caption) });
    Object.assign(globalThis, { api, samples, clips, model, index });
  }, LIBRARY);
});

after(() => close?.());

test('each clip\'s caption finds a clip with that caption in the top 5', { timeout: 120_000 }, async () => {
  const found = await page.evaluate(async () => {
    const results = [];
    for (const s of samples) {
      const hits = await model.search(s.caption, index, { k: 5 });
      results.push({ caption: s.caption, top: hits.map((h) => h.id), hit: hits.some((h) => h.id === s.caption) });
    }
    return results;
  });
  const hits = found.filter((r) => r.hit).length;
  // Chance: 5 of 16 places. Every query must be answered, and nearly all of them right.
  assert.ok(hits >= found.length - 2, `${hits}/${found.length} captions found their clip in the top 5: ${JSON.stringify(found.filter((r) => !r.hit))}`);
});

test('an index round-trips through JSON and answers the same', { timeout: 60_000 }, async () => {
  const r = await page.evaluate(async () => {
    const restored = api.EmbeddingIndex.fromJSON(JSON.stringify(index));
    const query = samples[0].caption;
    const a = await model.search(query, index, { k: 3 });
    const b = await model.search(query, restored, { k: 3 });
    const v = await model.embed(query);
    const w = await model.embed(clips[0]);
    const norm = (x) => Math.sqrt(x.reduce((s, y) => s + y * y, 0));
    return { a, b, size: restored.size, dim: v.length, embedDim: model.embedDim, nv: norm(v), nw: norm(w), isF32: v instanceof Float32Array };
  });
  assert.deepEqual(r.a, r.b);
  assert.equal(r.size, LIBRARY);
  assert.equal(r.dim, r.embedDim);
  assert.ok(r.isF32);
  assert.ok(Math.abs(r.nv - 1) < 1e-3 && Math.abs(r.nw - 1) < 1e-3, `norms ${r.nv} ${r.nw}`);
});

test('search refuses bad queries, bad indexes and another model\'s index, and keeps working', { timeout: 60_000 }, async () => {
  const codes = await page.evaluate(async () => {
    const code = async (f) => { try { await f(); return 'no error'; } catch (e) { return `${e.name}:${e.code}`; } };
    const foreign = new api.EmbeddingIndex(model.embedDim, 'univid:00000000');
    return {
      unknownWord: await code(() => model.search('a cat runs', index)),
      notAClip: await code(() => model.embed({ pixels: [] })),
      foreignIndex: await code(() => model.search('digit 1 moves up', foreign)),
      badK: await code(() => model.search('digit 1 moves up', index, { k: 0 })),
      shortVector: await code(() => index.search([1, 2, 3])),
      badJson: await code(() => api.EmbeddingIndex.fromJSON('{"format":"univid-index","version":1,"dim":4,"ids":[1],"vectors":[1]}')),
      notIndex: await code(() => api.EmbeddingIndex.fromJSON('{}')),
      afterwards: (await model.search(samples[1].caption, index, { k: 1 })).length,
    };
  });
  assert.deepEqual(codes, {
    unknownWord: 'UniVidError:OUT_OF_VOCABULARY',
    notAClip: 'UniVidError:BAD_INPUT',
    foreignIndex: 'UniVidError:BAD_INPUT',
    badK: 'UniVidError:BAD_INPUT',
    shortVector: 'UniVidError:BAD_INPUT',
    badJson: 'UniVidError:BAD_INPUT',
    notIndex: 'UniVidError:UNSUPPORTED',
    afterwards: 1,
  });
});
