// The peer side by side: our classify (the same weights packed f32 and int8) against ONNX Runtime
// Web running the exported graph (scripts/peer/export_onnx.py) on its wasm and WebGPU execution
// providers, in one headless Chromium page, on the same clip. Outputs must agree before any
// latency is compared; once on one thread each, once on every core (ours: the threads build in its
// worker; ORT: its wasm threads), each pass in a fresh page (ORT reads its thread count once).
// Prints one JSON report (with a Markdown table under `markdown`).
//   node scripts/peer/peer.mjs --onnx out/peer/classify.onnx --f32 out/peer/univid-small-f32 [--runs 10]
import { blankPage } from '../../tests/browser/browser.mjs';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const onnx = arg('onnx', 'out/peer/classify.onnx');
const f32 = arg('f32', 'out/peer/univid-small-f32');
const int8 = arg('int8', 'models/univid-small-int8');
const runs = Number(arg('runs', 10));
const ORT = '/out/peer/node_modules/onnxruntime-web/dist/';

async function pass(threads) {
  const { page, close } = await blankPage();
  try {
    return await page.evaluate(measure, { onnx, f32, int8, runs, ORT, threads });
  } finally {
    await close();
  }
}

async function measure({ onnx, f32, int8, runs, ORT, threads }) {
  const { UniVid, Clip } = await import('/www/univid/index.js');
  const { default: init, sampleClip } = await import('/www/pkg/univid.js');
  await init();
  const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
  const sample = sampleClip(digits, 'test', 0, 0);
  const clip = Clip.fromPixels(sample.pixels, { frames: sample.frames, size: sample.size });
  const median = async (call) => {
    const samples = [];
    let out;
    for (let i = 0; i <= runs; i += 1) {
      const t0 = performance.now();
      out = await call();
      if (i > 0) samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    return { ms: samples[samples.length >> 1], out };
  };
  const rows = {};
  const cores = navigator.hardwareConcurrency;
  const label = threads === 1 ? '1 thread' : `${cores} threads`;
  // (Our WebGPU path on a software adapter is timed by scripts/bench.mjs; not repeated here.)
  for (const [name, pack] of [['UniVid f32, wasm CPU', f32], ['UniVid int8, wasm CPU', int8]]) {
    // Threads run only in the model's worker; one thread runs in the page, as before.
    const options = threads === 1 ? { worker: false } : { worker: true, threads: 'auto' };
    const model = await UniVid.load(`/${pack}`, { backend: 'cpu', cache: false, ...options });
    const { ms, out } = await median(() => model.classify(clip));
    rows[`${name}, ${label}`] = { ms, probabilities: out.digit_probabilities, threads: model.threads };
    model.dispose();
  }
  const ort = await import(`${ORT}ort.all.min.mjs`);
  ort.env.wasm.wasmPaths = ORT;
  ort.env.wasm.numThreads = threads === 1 ? 1 : cores;
  const input = new ort.Tensor('float32', Float32Array.from(sample.pixels), [1, sample.frames, sample.size, sample.size]);
  const bytes = new Uint8Array(await (await fetch(`/${onnx}`)).arrayBuffer());
  const providers = threads === 1 ? [['ONNX Runtime Web, wasm', 'wasm'], ['ONNX Runtime Web, WebGPU', 'webgpu']] : [['ONNX Runtime Web, wasm', 'wasm']];
  for (const [base, ep] of providers) {
    const name = ep === 'wasm' ? `${base}, ${label}` : base;
    try {
      const session = await ort.InferenceSession.create(bytes, { executionProviders: [ep] });
      const { ms, out } = await median(() => session.run({ pixels: input }));
      const logits = Array.from(out.digit_logits.data);
      rows[name] = { ms, probabilities: logits.map((x) => 1 / (1 + Math.exp(-x))) };
      await session.release();
    } catch (e) {
      rows[name] = { error: String(e.message ?? e) };
    }
  }
  return { rows, clip: 'test split, seed 0, clip 0', caption: sample.caption };
}

const one = await pass(1);
const all = await pass('all');
const report = { ...one, rows: { ...one.rows, ...all.rows } };
const reference = report.rows['UniVid f32, wasm CPU, 1 thread'].probabilities;
const diff = (p) => (p ? Math.max(...p.map((x, i) => Math.abs(x - reference[i]))) : null);
let md = `Classify, ${report.clip} (${report.caption}); median of ${runs} runs after one warm-up; on one thread, then on every core.\n\n`
  + '| runtime | classify ms | max abs diff of digit probabilities vs UniVid f32 CPU |\n|---|---:|---:|\n';
for (const [name, row] of Object.entries(report.rows)) {
  row.maxAbsDiff = diff(row.probabilities);
  md += row.error ? `| ${name} | failed: ${row.error} | |\n` : `| ${name} | ${row.ms.toFixed(1)} | ${row.maxAbsDiff.toExponential(1)} |\n`;
}
report.markdown = md;
console.log(JSON.stringify(report, null, 2));
