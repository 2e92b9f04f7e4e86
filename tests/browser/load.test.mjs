// Progressive, verified loading of the shipped packed model in the browser (CPU backend):
// events in order, understanding before the (throttled) generate shard, a second load served
// from the Cache API, and a flipped byte refused with a typed error while a clean load still works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { blankPage } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const PACK = 'models/univid-small-int8';
const manifest = JSON.parse(fs.readFileSync(`${ROOT}${PACK}/manifest.json`, 'utf8'));
const shardOf = (group) => manifest.shards.find((s) => s.group === group).file;
const GENERATE_DELAY_MS = 4000;

let page, close;
const requests = [];
let corrupt = null; // a shard file to serve with one flipped byte
let stalled = null; // a shard file whose download hangs halfway

before(async () => {
  ({ page, close } = await blankPage({
    seen: (rel) => requests.push(rel),
    stall: (rel) => stalled !== null && rel === `${PACK}/${stalled}`,
    delayMs: (rel) => (rel === `${PACK}/${shardOf('generate')}` ? GENERATE_DELAY_MS : 0),
    mutate: (rel, bytes) => {
      if (corrupt && rel === `${PACK}/${corrupt}`) {
        const bad = Buffer.from(bytes);
        bad[bad.length - 7] ^= 0x20;
        return bad;
      }
      return bytes;
    },
  }));
});

after(() => close?.());

/** In the page: load the pack, describe a sample clip as soon as understanding is ready. */
function loadAndDescribe(url, worker = true) {
  return page.evaluate(async ([url, worker]) => {
    const { UniVid, Clip } = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init(); // this thread's copy of the wasm module makes the sample clip
    const events = [];
    const started = performance.now();
    try {
      const model = await UniVid.load(url, { backend: 'cpu', worker, onProgress: (e) => events.push({ ...e, at: performance.now() - started }) });
      const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
      const sample = sampleClip(digits, 'test', 0, 0);
      const caption = (await model.describe(Clip.fromPixels(sample.pixels, { frames: 20, size: 64 }))).text;
      const describedAt = performance.now() - started;
      const generateReadyWhenDescribed = events.some((e) => e.type === 'group-ready' && e.group === 'generate');
      let earlyGenerate = 'no error';
      if (!generateReadyWhenDescribed) {
        try { await model.generate('digit 3 moves left', { steps: 1, wait: false }); } catch (e) { earlyGenerate = e.code; }
      }
      await model.fullyLoaded;
      const generated = await model.generate('digit 3 moves left', { steps: 1 });
      model.dispose();
      return { ok: true, events, caption, describedAt, generateReadyWhenDescribed, earlyGenerate, generatedFrames: generated.frames, inWorker: model.inWorker };
    } catch (e) {
      return { ok: false, events, name: e.name, code: e.code, detail: e.detail, message: e.message };
    }
  }, [url, worker]);
}

test('progress events arrive in order and understanding answers before the generate shard lands', { timeout: 240_000 }, async () => {
  const r = await loadAndDescribe(`/${PACK}`);
  assert.ok(r.ok, `load failed: ${r.code} ${r.message}`);
  const types = r.events.map((e) => e.type);
  assert.equal(types[0], 'manifest');
  const groups = r.events.filter((e) => e.type === 'group-ready').map((e) => e.group);
  assert.deepEqual(groups, ['core', 'understand', 'generate']);
  const bytes = r.events.filter((e) => e.type === 'bytes').map((e) => e.overallLoaded);
  assert.ok(bytes.length >= manifest.shards.length, 'byte progress is reported');
  assert.deepEqual(bytes, [...bytes].sort((a, b) => a - b), 'overall progress only grows');
  const total = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  assert.equal(r.events.filter((e) => e.type === 'shard-done').at(-1).overallLoaded, total);
  assert.equal(r.generateReadyWhenDescribed, false, 'the caption came before the generate group was in');
  assert.equal(r.earlyGenerate, 'NOT_LOADED', 'generate({ wait: false }) before the generate group refuses; the default waits');
  const generateDone = r.events.find((e) => e.type === 'group-ready' && e.group === 'generate').at;
  assert.ok(r.describedAt < generateDone, `described at ${r.describedAt} ms, generate ready at ${generateDone} ms`);
  assert.equal(r.generatedFrames, 20);
  assert.equal(r.inWorker, true, 'inference runs in a Web Worker by default');
  console.log(`caption "${r.caption}" at ${r.describedAt.toFixed(0)} ms; generate group at ${generateDone.toFixed(0)} ms`);
});

test('a second load (in-thread mode) is served from the Cache API: no shard requests', { timeout: 240_000 }, async () => {
  requests.length = 0;
  const r = await loadAndDescribe(`/${PACK}`, false);
  assert.equal(r.inWorker, false);
  assert.ok(r.ok, `load failed: ${r.code} ${r.message}`);
  const shardRequests = requests.filter((rel) => rel.endsWith('.safetensors'));
  assert.deepEqual(shardRequests, []);
  assert.ok(r.events.filter((e) => e.type === 'shard-done').every((e) => e.fromCache));
});

test('a flipped byte in a shard is a typed INTEGRITY error; the bad copy is not cached and a clean load works', { timeout: 240_000 }, async () => {
  await page.evaluate(() => caches.delete('univid-shards-v1'));
  corrupt = shardOf('understand');
  const bad = await loadAndDescribe(`/${PACK}`);
  assert.equal(bad.ok, false);
  assert.equal(bad.name, 'UniVidError');
  assert.equal(bad.code, 'INTEGRITY');
  assert.equal(bad.detail, 'shard-hash');
  assert.match(bad.message, new RegExp(corrupt));
  corrupt = null;
  requests.length = 0;
  const good = await loadAndDescribe(`/${PACK}`);
  assert.ok(good.ok, `clean load failed: ${good.code} ${good.message}`);
  assert.ok(requests.includes(`${PACK}/${shardOf('understand')}`), 'the shard that failed was fetched again, not taken from the cache');
});

test('aborting a load mid-stream rejects with ABORTED; the next load works', { timeout: 240_000 }, async () => {
  await page.evaluate(() => caches.delete('univid-shards-v1'));
  const r = await page.evaluate(async () => {
    const { UniVid } = await import('/www/univid/index.js');
    const controller = new AbortController();
    let code = 'no error';
    try {
      await UniVid.load('/models/univid-small-int8', {
        backend: 'cpu', signal: controller.signal,
        onProgress: (e) => { if (e.type === 'bytes') controller.abort(); },
      });
    } catch (e) {
      code = `${e.name}:${e.code}`;
    }
    const again = await UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
    const ok = again.frames === 20;
    again.dispose();
    return { code, ok };
  });
  assert.equal(r.code, 'UniVidError:ABORTED');
  assert.ok(r.ok);
});

test('a cache that refuses to store (quota exceeded) or cannot open falls back to memory with a warning', { timeout: 240_000 }, async () => {
  const r = await page.evaluate(async () => {
    const { UniVid } = await import('/www/univid/index.js');
    const quota = () => { throw new DOMException('quota', 'QuotaExceededError'); };
    const realOpen = caches.open.bind(caches);
    const warnings = [];
    const onProgress = (e) => { if (e.type === 'warning') warnings.push(e.message); };
    await caches.delete('univid-shards-v1');
    caches.open = async (name) => Object.assign(await realOpen(name), { put: quota });
    const full = await UniVid.load('/models/univid-small-int8', { backend: 'cpu', worker: false, onProgress });
    const fullWorks = full.frames === 20;
    full.dispose();
    caches.open = async () => { throw new DOMException('no storage', 'SecurityError'); };
    const none = await UniVid.load('/models/univid-small-int8', { backend: 'cpu', worker: false, onProgress });
    const noneWorks = none.frames === 20;
    none.dispose();
    caches.open = realOpen;
    return { fullWorks, noneWorks, warnings };
  });
  assert.ok(r.fullWorks && r.noneWorks, 'both loads succeed');
  assert.ok(r.warnings.some((w) => /QuotaExceededError/.test(w)), r.warnings.join('\n'));
  assert.ok(r.warnings.some((w) => /SecurityError/.test(w)), r.warnings.join('\n'));
});

test('a download that hangs halfway fails with NETWORK (stalled) after the stall timeout; the next load works', { timeout: 240_000 }, async () => {
  stalled = shardOf('core');
  const r = await page.evaluate(async (url) => {
    const { UniVid } = await import('/www/univid/index.js');
    const started = performance.now();
    try {
      await UniVid.load(url, { backend: 'cpu', cache: false, stallTimeoutMs: 1500 });
      return { code: 'no error' };
    } catch (e) {
      return { code: e.code, detail: e.detail, message: e.message, afterMs: performance.now() - started };
    }
  }, `/${PACK}`);
  stalled = null;
  console.log(`stalled load: ${r.code}/${r.detail} after ${r.afterMs?.toFixed(0)} ms: ${r.message}`);
  assert.equal(r.code, 'NETWORK');
  assert.equal(r.detail, 'stalled');
  const again = await loadAndDescribe(`/${PACK}`);
  assert.ok(again.ok, again.message);
  assert.match(again.caption, /^digit \d/);
});

test('a model in hand (a Map of Blobs, in the worker) describes what the downloaded one does; a missing or altered file is refused', { timeout: 240_000 }, async () => {
  const downloaded = await loadAndDescribe(`/${PACK}`);
  assert.ok(downloaded.ok, downloaded.message);
  requests.length = 0;
  const r = await page.evaluate(async ([pack, files]) => {
    const { UniVid, Clip } = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const blobs = new Map();
    for (const file of files) blobs.set(file, await (await fetch(`/${pack}/${file}`)).blob());
    const fetched = performance.now();
    const sample = sampleClip(new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer()), 'test', 0, 0);
    const clip = Clip.fromPixels(sample.pixels, { frames: 20, size: 64 });
    const model = await UniVid.load(blobs, { backend: 'cpu', cache: false });
    const caption = (await model.describe(clip)).text;
    await model.fullyLoaded;
    const generated = (await model.generate('digit 3 moves left', { steps: 1 })).frames;
    model.dispose();
    const refusal = async (files) => {
      try { (await UniVid.load(files, { backend: 'cpu', cache: false, worker: false })).dispose(); return 'no error'; } catch (e) { return `${e.code}/${e.detail ?? ''}: ${e.message}`; }
    };
    const missing = new Map(blobs);
    missing.delete(files[1]);
    const altered = new Map(blobs);
    const bytes = new Uint8Array(await blobs.get(files[1]).arrayBuffer());
    bytes[bytes.length - 7] ^= 0x20;
    altered.set(files[1], bytes);
    return { caption, generated, fetched, missing: await refusal(missing), altered: await refusal(altered), notFiles: await refusal({ 'manifest.json': 'text' }) };
  }, [PACK, ['manifest.json', ...manifest.shards.map((s) => s.file)]]);
  assert.equal(r.caption, downloaded.caption);
  assert.equal(r.generated, 20);
  assert.match(r.missing, /^BAD_INPUT\/: the model's files lack /);
  assert.match(r.altered, /^INTEGRITY\/shard-hash/);
  assert.match(r.notFiles, /^BAD_INPUT\//);
});

test('UniVid.cache reports, deletes and clears the kept shards, and reports storage', { timeout: 240_000 }, async () => {
  const total = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  const warm = await loadAndDescribe(`/${PACK}`);
  assert.ok(warm.ok, warm.message);
  const r = await page.evaluate(async (pack) => {
    const { UniVid } = await import('/www/univid/index.js');
    const kept = await UniVid.cache.status(`/${pack}`);
    const freed = await UniVid.cache.delete(`/${pack}/`);
    const afterDelete = await UniVid.cache.status(`/${pack}`);
    const again = await UniVid.load(`/${pack}`, { backend: 'cpu', worker: false });
    await again.fullyLoaded;
    again.dispose();
    const reloaded = await UniVid.cache.status(new URL(`/${pack}`, location.href));
    await UniVid.cache.clear();
    const afterClear = await UniVid.cache.status(`/${pack}`);
    let unknown;
    try { await UniVid.cache.status('/no/such/model'); unknown = 'no error'; } catch (e) { unknown = e.code; }
    return { kept, freed, afterDelete, reloaded, afterClear, unknown, estimate: await UniVid.cache.estimate(), persisted: await UniVid.cache.persist() };
  }, PACK);
  assert.deepEqual(r.kept, { cachedShards: manifest.shards.length, shards: manifest.shards.length, cachedBytes: total, totalBytes: total, complete: true });
  assert.equal(r.freed, total);
  assert.equal(r.afterDelete.cachedShards, 0);
  assert.equal(r.afterDelete.complete, false);
  assert.equal(r.reloaded.complete, true, 'a load after delete keeps the shards again');
  assert.equal(r.afterClear.cachedBytes, 0);
  assert.equal(r.unknown, 'NETWORK');
  assert.ok(r.estimate.quota > 0 && r.estimate.usage >= 0, JSON.stringify(r.estimate));
  assert.equal(typeof r.persisted, 'boolean');
  console.log(`storage: ${JSON.stringify(r.estimate)}, persist() → ${r.persisted}`);
});
