// Browser half of scripts/bench: in headless Chromium (CPU = wasm flex on one thread, CPU threads =
// the same in the model's worker on every core, WebGPU = SwiftShader), cold and warm loads of a
// pack, then the latency of every task through the public JS API on the same clip the native bench
// uses (test split, seed 0, clip 0). Prints one JSON report.
//   node scripts/bench.mjs [--pack models/univid-small-int8] [--runs 10] [--gpu-runs 3] [--steps 4] [--backends cpu,cpu-threads,webgpu]
import { blankPage } from '../tests/browser/browser.mjs';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const pack = arg('pack', 'models/univid-small-int8');
const runs = Number(arg('runs', 10));
// SwiftShader's software WebGPU runs ~20x slower than the wasm CPU path: fewer timed runs there.
const gpuRuns = Number(arg('gpu-runs', 3));
// ... and only the single-pass tasks there: describe/ask read back one word at a time, which on a
// software adapter takes minutes per call.
const GPU_TASKS = ['classify', 'embed_clip', 'embed_text', 'generate'];
const steps = Number(arg('steps', 4));
const backends = arg('backends', 'cpu,cpu-threads,webgpu').split(',');

// 'cpu-threads' is the CPU backend in the model's worker (threads run only there; the wasm heap is
// then the worker's, which the page cannot read); the others load in the page.
const engineFor = (backend) => (backend === 'cpu-threads' ? { backend: 'cpu', worker: true } : { backend, worker: false });

const report = { pack, runs, steps, userAgent: null, backends: {} };
for (const backend of backends) {
  // A fresh browser profile per backend: the first load is truly cold (empty Cache API).
  const { page, context, base, close } = await blankPage();
  try {
    report.userAgent ??= await page.evaluate(() => navigator.userAgent);
    const gpu = backend === 'webgpu';
    const engine = engineFor(backend);
    const measured = await page.evaluate(measure, { pack, runs: gpu ? gpuRuns : runs, steps, engine, only: gpu ? GPU_TASKS : null });
    // Warm: a second page of the same browser profile, whose Cache API now holds every shard.
    const second = await context.newPage();
    await second.goto(`${base}/tests/browser/blank.html`);
    measured.load.warm = await second.evaluate(loadOnly, { pack, engine });
    report.backends[backend] = measured;
  } catch (e) {
    report.backends[backend] = { error: String(e.message ?? e) };
  } finally {
    await close();
  }
}
console.log(JSON.stringify(report, null, 2));

async function loadOnly({ pack, engine }) {
  const { timedLoad } = await import('/tests/browser/timed-load.js');
  const { model: _, ...timing } = await timedLoad(pack, engine.backend, true, engine.worker);
  return timing;
}

async function measure({ pack, runs, steps, engine, only }) {
  const { Clip } = await import('/www/univid/index.js');
  const { default: init, sampleClip } = await import('/www/pkg/univid.js');
  const wasm = await init();
  const { timedLoad, peakMemoryDuring } = await import('/tests/browser/timed-load.js');
  const cold = await timedLoad(pack, engine.backend, true, engine.worker); // a fresh profile: every shard from the network, then cached
  const model = cold.model;
  const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
  const sample = sampleClip(digits, 'test', 0, 0);
  const clip = Clip.fromPixels(sample.pixels, { frames: sample.frames, size: sample.size });
  const heapBefore = wasm.memory.buffer.byteLength;
  const latency = {};
  const time = async (name, call) => {
    if (only && !only.includes(name)) return;
    const samples = [];
    for (let i = 0; i <= runs; i += 1) {
      const t0 = performance.now();
      await call();
      if (i > 0) samples.push(performance.now() - t0); // the first call warms up (shaders, caches)
    }
    samples.sort((a, b) => a - b);
    latency[name] = { median_ms: samples[samples.length >> 1], min_ms: samples[0], max_ms: samples.at(-1), runs: samples.length };
  };
  await time('classify', () => model.classify(clip));
  await time('describe', () => model.describe(clip));
  await time('ask', () => model.ask(clip, 'which digits are there ?'));
  await time('embed_clip', () => model.embed(clip));
  await time('embed_text', () => model.embed(sample.caption));
  await time('generate', () => model.generate(sample.caption, { steps, guidance: 2.0, seed: 0 }));
  await time('continue', () => model.continue(clip, { framesIn: 10, steps, seed: 0 })); // keeps frames 0-9
  for (const task of ['generate', 'continue']) if (latency[task]) latency[task].per_step_ms = latency[task].median_ms / steps;
  const strip = ({ model: _, ...rest }) => rest;
  const measured = {
    backend: model.backend, backendReason: model.backendReason, threads: model.threads, threadsReason: model.threadsReason,
    load: { cold: strip(cold) },
    latency,
  };
  if (engine.worker) return measured; // its memory is the worker's
  // Memory while generating: the JS heap (Chromium's performance.memory) and the wasm memory.
  const duringGenerate = await peakMemoryDuring(() => model.generate(sample.caption, { steps, guidance: 2.0, seed: 0 }), wasm.memory);
  return {
    ...measured,
    memory: {
      wasmHeapAfterLoadBytes: heapBefore, peakWasmHeapBytes: wasm.memory.buffer.byteLength,
      jsHeapBytes: performance.memory?.usedJSHeapSize ?? null,
      duringGenerate: { peakJsHeapBytes: duringGenerate.jsHeapBytes, peakWasmBytes: duringGenerate.wasmBytes },
    },
  };
}
