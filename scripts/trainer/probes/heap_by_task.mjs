// Probe: which task grows the wasm heap (CPU backend, in the page). Each task runs once in a fresh
// page after a load; prints the heap after load, after one warm-up call and after a second call.
//   node scripts/trainer/probes/heap_by_task.mjs [models/univid-small-int8]
import { blankPage } from '../../../tests/browser/browser.mjs';

const pack = process.argv[2] ?? 'models/univid-small-int8';
const tasks = ['classify', 'describe', 'ask', 'embed_clip', 'embed_text', 'generate', 'continue'];
const rows = [];
for (const task of tasks) {
  const { page, close } = await blankPage();
  try {
    rows.push(await page.evaluate(async ({ pack, task }) => {
      const { UniVid, Clip } = await import('/www/univid/index.js');
      const { default: init, sampleClip } = await import('/www/pkg/univid.js');
      const wasm = await init();
      const model = await UniVid.load(`/${pack}`, { backend: 'cpu', worker: false, cache: false });
      await model.fullyLoaded;
      const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
      const sample = sampleClip(digits, 'test', 0, 0);
      const clip = Clip.fromPixels(sample.pixels, { frames: sample.frames, size: sample.size });
      const calls = {
        classify: () => model.classify(clip), describe: () => model.describe(clip),
        ask: () => model.ask(clip, 'which digits are there ?'), embed_clip: () => model.embed(clip),
        embed_text: () => model.embed(sample.caption),
        generate: () => model.generate(sample.caption, { steps: 4, guidance: 2.0, seed: 0 }),
        continue: () => model.continue(clip, { framesIn: 10, steps: 4, seed: 0 }),
      };
      const mib = () => +(wasm.memory.buffer.byteLength / 2 ** 20).toFixed(1);
      const afterLoad = mib();
      await calls[task]();
      const first = mib();
      await calls[task]();
      return { task, afterLoadMiB: afterLoad, afterFirstMiB: first, afterSecondMiB: mib() };
    }, { pack, task }));
  } finally {
    await close();
  }
}
console.table(rows);
