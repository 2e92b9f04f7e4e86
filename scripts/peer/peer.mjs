// The peer side by side: our engine (the same weights packed f32 and int8) against ONNX Runtime Web
// running the exported graphs (scripts/peer/export_onnx.py: classify, describe with a key/value
// cache) in headless Chromium, on the same clip. Text->video's flow step (the glyph U-Net's guided
// estimate) is timed with the ops, on the same inputs and weights. Outputs must agree
// before any latency is compared. Once on one thread each, once on every core (ours: the threads
// build in its worker; ORT: its wasm threads), each pass in a fresh page (ORT reads its thread
// count once). Then each op alone (scripts/peer/ops.js). Prints one JSON report (with Markdown
// tables under `markdown`).
//   node scripts/peer/peer.mjs --onnx-dir out/peer --f32 out/peer/univid-small-f32 [--runs 10] [--op-runs 50]
import { blankPage } from '../../tests/browser/browser.mjs';
import { commit, machine as host } from '../host.mjs';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const onnxDir = arg('onnx-dir', 'out/peer');
const f32 = arg('f32', 'out/peer/univid-small-f32');
const int8 = arg('int8', 'models/univid-small-int8');
const runs = Number(arg('runs', 10));
const ORT = '/out/peer/node_modules/onnxruntime-web/dist/';

// Per-op timings are microseconds to a few ms: more runs per op than per task.
const opRuns = Number(arg('op-runs', 50));

async function pass(threads) {
  const { page, close } = await blankPage();
  try {
    const report = await page.evaluate(measure, { onnxDir, f32, int8, runs, ORT, threads });
    report.ops = await page.evaluate(measureOps, { onnxDir, opRuns, ORT, threads });
    return report;
  } finally {
    await close();
  }
}

async function measure({ onnxDir, f32, int8, runs, ORT, threads }) {
  const GENERATE_STEPS = 4;
  const { UniVid, Clip } = await import('/www/univid/index.js');
  const { default: init, sampleClip, tokenize } = await import('/www/pkg/univid.js');
  await init();
  const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
  const sample = sampleClip(digits, 'test', 0, 0);
  const clip = Clip.fromPixels(sample.pixels, { frames: sample.frames, size: sample.size });
  const { median: timed, maxAbsDiff } = await import('/scripts/peer/ops.js');
  const median = (call) => timed(call, runs, 1); // one warm-up call, as in scripts/bench.mjs
  const probabilities = (out) => Array.from(out.digit_logits.data).map((x) => 1 / (1 + Math.exp(-x)));
  const rows = {};
  const cores = navigator.hardwareConcurrency;
  const label = threads === 1 ? '1 thread' : `${cores} threads`;
  let config;
  // (Our WebGPU path on a software adapter is timed by scripts/bench.mjs; not repeated here.)
  for (const [name, pack] of [['UniVid f32, wasm CPU', f32], ['UniVid int8, wasm CPU', int8]]) {
    // Threads run only in the model's worker; one thread runs in the page.
    const options = threads === 1 ? { worker: false } : { worker: true, threads: 'auto' };
    const model = await UniVid.load(`/${pack}`, { backend: 'cpu', cache: false, ...options });
    await model.fullyLoaded;
    config ??= model.manifest.model;
    const classify = await median(() => model.classify(clip));
    const describe = await median(() => model.describe(clip));
    // Text→video as scripts/bench.mjs times it (4 Euler steps, guidance 2), per step: the same
    // call on both packs, so the int8 row shows what keeping weights quantized costs there.
    const generate = await median(() => model.generate(sample.caption, { steps: GENERATE_STEPS, guidance: 2.0, seed: 0 }));
    rows[`${name}, ${label}`] = {
      threads: model.threads,
      classify: { ms: classify.ms, probabilities: classify.out.digit_probabilities },
      describe: { ms: describe.ms, words: Array.from(tokenize(describe.out.text)) },
      generateStep: { ms: generate.ms / GENERATE_STEPS },
    };
    model.dispose();
  }
  const ort = await import(`${ORT}ort.all.min.mjs`);
  ort.env.wasm.wasmPaths = ORT;
  ort.env.wasm.numThreads = threads === 1 ? 1 : cores;
  const graph = async (file) => new Uint8Array(await (await fetch(`/${onnxDir}/${file}`)).arrayBuffer());
  const pixels = new ort.Tensor('float32', Float32Array.from(sample.pixels), [1, sample.frames, sample.size, sample.size]);
  // Greedy decoding as UniVid::describe does it: the first word from the prefill, then one word per
  // step on the cache, until <eos> or the text segment is full (task token + 30 words + <eos>).
  const EOS = 2;
  const describeWith = async (prefill, step) => {
    let { logits, cache } = await prefill.run({ pixels });
    const words = [];
    for (;;) {
      const next = logits.data.reduce((best, v, i, all) => (v > all[best] ? i : best), 0);
      if (next === EOS || 1 + words.length >= config.text_len - 1) return words;
      words.push(next);
      ({ logits, next_cache: cache } = await step.run({
        word: new ort.Tensor('int64', BigInt64Array.from([BigInt(next)]), [1, 1]),
        position: new ort.Tensor('int64', BigInt64Array.from([BigInt(words.length)]), [1]),
        cache,
      }));
    }
  };
  // SwiftShader's WebGPU takes ~15 s per classify: describe is timed on wasm only.
  const providers = threads === 1 ? [['ONNX Runtime Web, wasm', 'wasm'], ['ONNX Runtime Web, WebGPU', 'webgpu']] : [['ONNX Runtime Web, wasm', 'wasm']];
  for (const [base, ep] of providers) {
    const name = ep === 'wasm' ? `${base}, ${label}` : base;
    rows[name] = {};
    try {
      const session = await ort.InferenceSession.create(await graph('classify.onnx'), { executionProviders: [ep] });
      const { ms, out } = await median(() => session.run({ pixels }));
      rows[name].classify = { ms, probabilities: probabilities(out) };
      await session.release();
      if (ep === 'wasm') {
        // ORT's int8 kernels (dynamic quantisation) on the same network: do int8 kernels pay here?
        const int8Session = await ort.InferenceSession.create(await graph('classify-int8.onnx'), { executionProviders: [ep] });
        const q = await median(() => int8Session.run({ pixels }));
        rows[`ONNX Runtime Web, wasm, int8 (dynamic quantisation), ${label}`] = {
          classify: { ms: q.ms, probabilities: probabilities(q.out) },
        };
        await int8Session.release();
      }
      if (ep === 'wasm') {
        const prefill = await ort.InferenceSession.create(await graph('describe-prefill.onnx'), { executionProviders: [ep] });
        const decodeStep = await ort.InferenceSession.create(await graph('describe-step.onnx'), { executionProviders: [ep] });
        const describe = await median(() => describeWith(prefill, decodeStep));
        rows[name].describe = { ms: describe.ms, words: describe.out };
        await Promise.all([prefill.release(), decodeStep.release()]);
      }
    } catch (e) {
      rows[name].error = String(e.message ?? e);
    }
  }
  // Differences from this pass's UniVid f32 row (pixels are compared here: they are large).
  const reference = rows[`UniVid f32, wasm CPU, ${label}`];
  for (const row of Object.values(rows)) {
    if (row.classify) row.classify.maxAbsDiff = maxAbsDiff(row.classify.probabilities, reference.classify.probabilities);
    if (row.describe) row.describe.sameWords = row.describe.words.join() === reference.describe.words.join();
  }
  return { rows, clip: 'test split, seed 0, clip 0', caption: sample.caption };
}

// Each op of the model alone (crate/src/tools/bench/ops.rs) against ORT running a one-op graph of the same
// op and values (export_onnx.py's ops/): ours in the page for one thread, in a worker for the pool.
async function measureOps({ onnxDir, opRuns, ORT, threads }) {
  const { OP_INPUTS, fill, median, maxAbsDiff, timeOurs } = await import('/scripts/peer/ops.js');
  let ours;
  let ourThreads = 1;
  if (threads === 1) {
    const wasm = await import('/www/pkg/univid.js');
    await wasm.default();
    ours = await timeOurs(wasm.OpBench, opRuns);
  } else {
    const worker = new Worker('/scripts/peer/ops.js', { type: 'module' });
    const reply = await new Promise((resolve) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.postMessage({ runs: opRuns });
    });
    worker.terminate();
    if (reply.error) throw new Error(reply.error);
    ({ ops: ours, threads: ourThreads } = reply);
  }
  const ort = await import(`${ORT}ort.all.min.mjs`);
  ort.env.wasm.wasmPaths = ORT;
  ort.env.wasm.numThreads = threads === 1 ? 1 : navigator.hardwareConcurrency;
  const rows = {};
  for (const [op, inputs] of Object.entries(OP_INPUTS)) {
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, [shape, salt, scale]]) =>
      [name, new ort.Tensor('float32', fill(shape.reduce((a, b) => a * b), salt, scale), shape)]));
    const session = await ort.InferenceSession.create(`/${onnxDir}/ops/${op}.onnx`, { executionProviders: ['wasm'] });
    const theirs = await median(() => session.run(feeds), opRuns);
    await session.release();
    const [a, b] = [ours[op].out, theirs.out.y.data];
    rows[op] = { ours_ms: ours[op].ms, ort_ms: theirs.ms, maxAbsDiff: maxAbsDiff(a, b) };
  }
  return { threads: ourThreads, ortThreads: ort.env.wasm.numThreads, rows };
}

const one = await pass(1);
const all = await pass('all');
const machine = host();
const report = { machine, date: new Date().toISOString(), commit: commit(), ...one, rows: { ...one.rows, ...all.rows }, ops: { oneThread: one.ops, allThreads: all.ops } };
const cell = (x, digits = 1) => (x === undefined ? '—' : x.toFixed(digits));
let md = `Test split, seed 0, clip 0 (${report.caption}). Median of ${runs} runs after one warm-up; on one thread, then on every core. `
  + "Differences are against UniVid f32 on the same number of threads. Text→video's flow step is the `glyph_step` row of the per-op table.\n\n"
  + '| runtime | classify ms | describe ms | text→video, per step ms | max abs diff, digit probabilities | same caption |\n|---|---:|---:|---:|---:|---|\n';
for (const [name, row] of Object.entries(report.rows)) {
  const same = row.describe ? (row.describe.sameWords ? 'yes' : 'no') : '—';
  if (row.error) md += `| ${name} | failed: ${row.error} | | | | |\n`;
  else md += `| ${name} | ${cell(row.classify?.ms)} | ${cell(row.describe?.ms)} | ${cell(row.generateStep?.ms)} | ${row.classify?.maxAbsDiff?.toExponential(1) ?? '—'} | ${same} |\n`;
}
md += `\nPer op (the model's own functions at its shapes: 161 tokens × 256, 8 heads, expert hidden 512; `
  + "glyph_step: text→video's flow step, the glyph U-Net's guided estimate for two digits, a batch of four 28×28 glyphs; "
  + `ORT runs a one-op graph of the same op and values; median of ${opRuns} runs after 3 warm-ups), ms:\n\n`
  + `| op | UniVid, 1 thread | ORT, 1 thread | ORT / UniVid | UniVid, ${all.ops.threads} threads | ORT, ${all.ops.ortThreads} threads | ORT / UniVid | max abs diff |\n`
  + '|---|---:|---:|---:|---:|---:|---:|---:|\n';
for (const [op, a] of Object.entries(one.ops.rows)) {
  const b = all.ops.rows[op];
  md += `| ${op} | ${cell(a.ours_ms, 3)} | ${cell(a.ort_ms, 3)} | ${cell(a.ort_ms / a.ours_ms, 2)}× | ${cell(b.ours_ms, 3)} | ${cell(b.ort_ms, 3)} | ${cell(b.ort_ms / b.ours_ms, 2)}× | ${Math.max(a.maxAbsDiff, b.maxAbsDiff).toExponential(1)} |\n`;
}
report.markdown = md;
console.log(JSON.stringify(report, null, 2));
