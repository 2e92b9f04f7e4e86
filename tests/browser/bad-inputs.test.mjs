// The browser half of the bad-input corpus (the native half: crate/tests/bad_inputs.rs). Each row
// is one bad input with the typed error it must get; after every row the same model answers a
// normal call, so nothing is left broken. Broken packs are written to out/bad-packs/ first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { blankPage } from './browser.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const PACK = 'models/univid-small-int8';
const BAD = 'out/bad-packs';

/** A copy of the shipped pack named `name`, changed by `edit(manifest, dir)`. */
function badPack(name, edit) {
  const dir = `${ROOT}${BAD}/${name}`;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(`${ROOT}${PACK}`, dir, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(`${dir}/manifest.json`, 'utf8'));
  edit(manifest, dir);
  if (!fs.existsSync(`${dir}/manifest.json.raw`)) fs.writeFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
  else fs.renameSync(`${dir}/manifest.json.raw`, `${dir}/manifest.json`);
}

// [name, code expected, the call (in the page: `model`, `clip`, `api`, `BAD` in scope)]
const ROWS = [
  ['question with an unknown word', 'OUT_OF_VOCABULARY', 'model.ask(clip, "which zebras are there ?")'],
  ['prompt with an unknown word', 'OUT_OF_VOCABULARY', 'model.generate("digit 3 moonwalks left", { steps: 1 })'],
  ['a lone UTF-16 surrogate (not valid Unicode text)', 'OUT_OF_VOCABULARY', 'model.ask(clip, "which \\uD800 digits ?")'],
  ['empty prompt', 'BAD_INPUT', 'model.generate("", { steps: 1 })'],
  ['whitespace-only prompt', 'BAD_INPUT', 'model.generate("   ", { steps: 1 })'],
  ['10 000-character prompt', 'BAD_INPUT', 'model.generate("digit 3 moves left ".repeat(556), { steps: 1 })'],
  ['empty question', 'BAD_INPUT', 'model.ask(clip, "")'],
  ['10 000-character question', 'BAD_INPUT', 'model.ask(clip, "which ".repeat(1667))'],
  ['prompt that breaks the grammar', 'BAD_INPUT', 'model.generate("left moves digit", { steps: 1 })'],
  ['steps = 0', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 0 })'],
  ['steps = 201', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 201 })'],
  ['steps = 1e9', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 1e9 })'],
  ['fractional steps', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 1.5 })'],
  ['negative seed', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 1, seed: -1 })'],
  ['seed 2^32', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 1, seed: 2 ** 32 })'],
  ['guidance NaN', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 1, guidance: NaN })'],
  ['guidance 21', 'BAD_INPUT', 'model.generate("digit 3 moves left", { steps: 1, guidance: 21 })'],
  ['continue keeping 0 frames', 'BAD_INPUT', 'model.continue(clip, { framesIn: 0, steps: 1 })'],
  ['continue keeping every frame', 'BAD_INPUT', 'model.continue(clip, { framesIn: 20, steps: 1 })'],
  ['continue with framesIn + framesOut ≠ frames', 'BAD_INPUT', 'model.continue(clip, { framesIn: 5, framesOut: 5, steps: 1 })'],
  ['generate a 40-frame clip from a 20-frame model', 'BAD_INPUT', 'model.generate("digit 3 moves left", { frames: 40, steps: 1 })'],
  ['an already-aborted signal', 'ABORTED', '(() => { const c = new AbortController(); c.abort(); return model.generate("digit 3 moves left", { steps: 1, signal: c.signal }); })()'],
  ['classify something that is not a Clip', 'BAD_INPUT', 'model.classify({ pixels: new Uint8Array(81920) })'],
  ['describe null', 'BAD_INPUT', 'model.describe(null)'],
  ['a clip of 10 frames', 'BAD_INPUT', 'model.classify(api.Clip.fromPixels(new Uint8Array(10 * 4096), { frames: 10, size: 64 }))'],
  ['a clip of 1 frame', 'BAD_INPUT', 'model.describe(api.Clip.fromPixels(new Uint8Array(4096), { frames: 1, size: 64 }))'],
  ['a 32×32 clip', 'BAD_INPUT', 'model.classify(api.Clip.fromPixels(new Uint8Array(20 * 1024), { frames: 20, size: 32 }))'],
  ['pixels of the wrong length', 'BAD_INPUT', 'api.Clip.fromPixels(new Uint8Array(10), { frames: 20, size: 64 })'],
  ['pixels that are not a Uint8Array', 'BAD_INPUT', 'api.Clip.fromPixels(new Float32Array(81920), { frames: 20, size: 64 })'],
  ['zero frames', 'BAD_INPUT', 'api.Clip.fromPixels(new Uint8Array(0), { frames: 0, size: 64 })'],
  ['Clip.from no frames', 'BAD_INPUT', 'api.Clip.from([])'],
  ['Clip.from a number', 'BAD_INPUT', 'api.Clip.from(42)'],
  ['Clip.from 0 output frames', 'BAD_INPUT', 'api.Clip.from([new ImageData(8, 8)], { frames: 0 })'],
  ['Clip.from 10 000 output frames', 'BAD_INPUT', 'api.Clip.from([new ImageData(8, 8)], { frames: 10000 })'],
  ['Clip.from a 0×0 canvas', 'BAD_INPUT', 'api.Clip.from([new OffscreenCanvas(0, 0)])'],
  ['Clip.from a 5000×5000 frame (over 4096²)', 'BAD_INPUT', 'api.Clip.from([new OffscreenCanvas(5000, 5000)])'],
  ['a video with no decodable frames', 'BAD_INPUT', 'api.Clip.from(new Blob([new Uint8Array(1000)], { type: "video/webm" }))'],
  ['an empty video file', 'BAD_INPUT', 'api.Clip.from(new Blob([], { type: "video/mp4" }))'],
  ['a video time range outside the video', 'BAD_INPUT', 'webm().then((v) => api.Clip.from(v, { start: 5, end: 9 }))'],
  ['a timeline window of 0 s', 'BAD_INPUT', 'webm().then((v) => model.describeTimeline(v, { window: 0 }))'],
  ['GIF at 0 fps', 'BAD_INPUT', 'clip.toGif({ fps: 0 })'],
  ['GIF scaled 17×', 'BAD_INPUT', 'clip.toGif({ scale: 17 })'],
  ['search with an unknown word', 'OUT_OF_VOCABULARY', 'model.search("digit 7 teleports", [clip])'],
  ['search an index of another model', 'BAD_INPUT', 'model.index([clip]).then((ix) => model.search("digit 7 moves left", api.EmbeddingIndex.fromJSON({ ...ix.toJSON(), space: "another model" })))'],
  ['index a non-array', 'BAD_INPUT', 'model.index(clip)'],
  ['embed an empty query', 'BAD_INPUT', 'model.embed("")'],
  ['load with an unknown backend', 'BAD_INPUT', 'api.UniVid.load("/models/univid-small-int8", { backend: "tpu" })'],
  ['load a folder with no manifest (404)', 'NETWORK', 'api.UniVid.load("/models/no-such-model", { backend: "cpu" })'],
  ['manifest of a future format version', 'UNSUPPORTED', 'api.UniVid.load(`/${BAD}/future-version`, { backend: "cpu", cache: false })'],
  ['manifest that is not JSON', 'INTEGRITY', 'api.UniVid.load(`/${BAD}/not-json`, { backend: "cpu", cache: false })'],
  ['truncated shard', 'INTEGRITY', 'api.UniVid.load(`/${BAD}/truncated-shard`, { backend: "cpu", cache: false })'],
  ['flipped byte in a shard', 'INTEGRITY', 'api.UniVid.load(`/${BAD}/flipped-byte`, { backend: "cpu", cache: false })'],
  ['wrong sha256 in the manifest', 'INTEGRITY', 'api.UniVid.load(`/${BAD}/wrong-sha256`, { backend: "cpu", cache: false })'],
  ['missing shard (404)', 'NETWORK', 'api.UniVid.load(`/${BAD}/missing-shard`, { backend: "cpu", cache: false })'],
  ['tensor shape that disagrees with the config', 'INTEGRITY', 'api.UniVid.load(`/${BAD}/wrong-shape`, { backend: "cpu", cache: false })'],
  ['model bigger than the 4 GiB limit', 'UNSUPPORTED', 'api.UniVid.load(`/${BAD}/too-large`, { backend: "cpu", cache: false })'],
  ['a load aborted before it starts', 'ABORTED', '(() => { const c = new AbortController(); c.abort(); return api.UniVid.load("/models/univid-small-int8", { backend: "cpu", signal: c.signal }); })()'],
  ['a call on a disposed model', 'NOT_LOADED', 'api.UniVid.load("/models/univid-small-int8", { backend: "cpu" }).then((m) => { m.dispose(); return m.describe(clip); })'],
];

let page, close;

before(async () => {
  const core = (m) => m.shards.findIndex((s) => s.group === 'core');
  badPack('future-version', (m) => { m.version = 99; });
  badPack('not-json', (m, dir) => { fs.writeFileSync(`${dir}/manifest.json.raw`, '{"format": "univid-pack", '); });
  badPack('truncated-shard', (m, dir) => { const f = `${dir}/${m.shards[core(m)].file}`; fs.truncateSync(f, fs.statSync(f).size - 100); });
  badPack('flipped-byte', (m, dir) => { const f = `${dir}/${m.shards[core(m)].file}`; const b = fs.readFileSync(f); b[b.length - 9] ^= 1; fs.writeFileSync(f, b); });
  badPack('wrong-sha256', (m) => { m.shards[core(m)].sha256 = '0'.repeat(64); });
  badPack('missing-shard', (m, dir) => { fs.rmSync(`${dir}/${m.shards[core(m)].file}`); });
  badPack('wrong-shape', (m) => { const name = Object.keys(m.tensors).find((k) => m.tensors[k].shape.length === 1); m.tensors[name].shape = [m.tensors[name].shape[0] + 1]; });
  badPack('too-large', (m) => { m.shards[core(m)].bytes = 5 * 2 ** 30; });
  ({ page, close } = await blankPage());
  await page.evaluate(async () => {
    globalThis.api = await import('/www/univid/index.js');
    const { default: init, sampleClip } = await import('/www/pkg/univid.js');
    await init();
    const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
    globalThis.clip = api.Clip.fromPixels(sampleClip(digits, 'test', 0, 1).pixels, { frames: 20, size: 64 });
    globalThis.model = await api.UniVid.load('/models/univid-small-int8', { backend: 'cpu' });
    await model.fullyLoaded;
    globalThis.expected = (await model.describe(clip)).text;
    let recorded = null;
    globalThis.webm = async () => (recorded ??= await clip.toWebM({ fps: 20, scale: 2 }));
  });
});

after(() => close?.());

test(`${ROWS.length} bad inputs in the browser: each a typed error, and the model still answers after each`, { timeout: 600_000 }, async () => {
  assert.ok(ROWS.length >= 40);
  const results = [];
  for (const [name, code, call] of ROWS) {
    // Evaluated as source text (the page's CSP forbids eval inside it; this comes from outside).
    const r = await page.evaluate(`(async () => {
      const BAD = ${JSON.stringify(BAD)};
      let got;
      try {
        await (${call});
        got = 'no error';
      } catch (e) {
        got = e instanceof api.UniVidError ? e.code : \`untyped \${e?.name}: \${e?.message}\`;
      }
      const after = (await model.describe(clip)).text;
      return { got, stillWorks: after === expected };
    })()`);
    results.push({ name, expected: code, ...r });
  }
  console.log(results.map((r) => `${r.got === r.expected && r.stillWorks ? 'ok  ' : 'FAIL'} ${r.name}: ${r.got}`).join('\n'));
  assert.deepEqual(results.filter((r) => r.got !== r.expected), [], 'every row gets its typed error');
  assert.deepEqual(results.filter((r) => !r.stillWorks), [], 'the model answers the same after every row');
});
