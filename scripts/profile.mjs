// Where the browser's CPU path spends its time: a V8 sampling profile (Chrome DevTools Protocol)
// of UniVid tasks on the wasm CPU backend in headless Chromium, in the page's own thread, with the
// wasm build that keeps function names (`scripts/profile` builds it into out/pkg-profiling and
// serves it in place of www/pkg). Prints JSON: per task, self time by category and top functions.
//   node scripts/profile.mjs [--pack models/univid-small-int8] [--runs 5] [--steps 2]
import { blankPage } from '../tests/browser/browser.mjs';
import fs from 'node:fs';

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const pack = arg('pack', 'models/univid-small-int8');
const runs = Number(arg('runs', 5));
const steps = Number(arg('steps', 2));
const pkg = new URL('../out/pkg-profiling/', import.meta.url).pathname;

// First match wins: a sample's self time goes to the first category whose pattern its function
// name matches (names come from the wasm name section, demangled by the linker).
const CATEGORIES = [
  ['matmul (gemm)', /gemm|matmul|microkernel|\bmm\b/i],
  ['convolution', /conv|im2col|col2im/i],
  ['softmax / exp', /softmax|exp/i],
  ['layer norm / reductions', /norm|reduce|sum_dim|mean|var/i],
  ['memory copy / layout', /memcpy|memmove|memset|copy|permute|transpose|reshape|contiguous|strided|gather|slice|cat/i],
  ['allocation', /malloc|alloc|free|dlmalloc|realloc/i],
  ['elementwise (macerator SIMD)', /macerator|binary|unary|elementwise|map|zip|simd|gelu|erf|tanh|add|mul|sub|div/i],
  ['JS / glue', /^\(|^$|wasm-bindgen|__wbg|js/i],
];

const { context, page, close } = await blankPage();
try {
  for (const file of ['univid.js', 'univid_bg.wasm']) {
    const body = fs.readFileSync(pkg + file);
    await page.route(`**/www/pkg/${file}`, (route) => route.fulfill({ body, contentType: file.endsWith('.js') ? 'text/javascript' : 'application/wasm' }));
  }
  await page.reload();
  await page.evaluate(setup, { pack });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  const report = { pack, runs, steps, userAgent: await page.evaluate(() => navigator.userAgent), tasks: {} };
  for (const task of ['classify', 'describe', 'generate_step']) {
    await cdp.send('Profiler.start');
    const wallMs = await page.evaluate(run, { task, runs, steps });
    const { profile } = await cdp.send('Profiler.stop');
    report.tasks[task] = { wall_ms_per_call: wallMs / runs, ...summarise(profile) };
  }
  console.log(JSON.stringify(report, null, 2));
} finally {
  await close();
}

async function setup({ pack }) {
  const { UniVid, Clip } = await import('/www/univid/index.js');
  const { sampleClip } = await import('/www/pkg/univid.js');
  globalThis.model = await UniVid.load(`/${pack}`, { backend: 'cpu', worker: false, cache: false });
  await globalThis.model.fullyLoaded;
  const digits = new Uint8Array(await (await fetch('/www/digits-test.bin')).arrayBuffer());
  const sample = sampleClip(digits, 'test', 0, 0);
  globalThis.sample = sample;
  globalThis.clip = Clip.fromPixels(sample.pixels, { frames: sample.frames, size: sample.size });
  await globalThis.model.classify(globalThis.clip); // warm-up
}

async function run({ task, runs, steps }) {
  const { model, clip, sample } = globalThis;
  const t0 = performance.now();
  for (let i = 0; i < runs; i += 1) {
    if (task === 'classify') await model.classify(clip);
    if (task === 'describe') await model.describe(clip);
    // One flow step with guidance 1 = one forward pass of the generation sequence.
    if (task === 'generate_step') await model.generate(sample.caption, { steps: 1, guidance: 1, seed: i });
  }
  return performance.now() - t0;
}

/** Self time per function and per category, from the sampled call tree. */
function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parents = new Map(); // child node id -> parent node id, for the caller chains
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const self = new Map();
  profile.samples.forEach((id, i) => {
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    self.set(name, (self.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const idle = new Set(['(idle)', '(program)', '(garbage collector)']);
  const busy = [...self].filter(([name]) => !idle.has(name));
  const total = busy.reduce((sum, [, ms]) => sum + ms, 0);
  const categories = {};
  for (const [name, ms] of busy) {
    const category = CATEGORIES.find(([, pattern]) => pattern.test(name))?.[0] ?? 'other';
    categories[category] = (categories[category] ?? 0) + ms;
  }
  const share = (ms) => Math.round((1000 * ms) / total) / 10;
  return {
    sampled_busy_ms: Math.round(total),
    categories_percent: Object.fromEntries(Object.entries(categories).sort((a, b) => b[1] - a[1]).map(([c, ms]) => [c, share(ms)])),
    top_functions: busy.sort((a, b) => b[1] - a[1]).slice(0, 15).map(([name, ms]) => ({
      name: name.slice(0, 160),
      percent: share(ms),
      callers: topCallers(profile, byId, parents, name, share),
    })),
  };
}

/** Where a function's self time comes from: the chains of its nearest three differently named
 *  callers (top 3 chains), so a helper like `into_contiguous` shows who asked for it. */
function topCallers(profile, byId, parent, name, share) {
  const callers = new Map();
  profile.samples.forEach((id, i) => {
    if (byId.get(id).callFrame.functionName !== name) return;
    const chain = [];
    let last = name;
    for (let up = parent.get(id); up !== undefined && chain.length < 3; up = parent.get(up)) {
      const fn = byId.get(up).callFrame.functionName || '(anonymous)';
      if (fn !== last) chain.push(fn.replace(/::h[0-9a-f]{16}$/, '').slice(0, 70));
      last = fn;
    }
    const caller = chain.join(' < ') || '(root)';
    callers.set(caller, (callers.get(caller) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...callers].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([caller, ms]) => `${caller} (${share(ms)} %)`);
}
