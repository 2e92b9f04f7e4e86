// Merges the pieces scripts/bench measured into docs/bench.json and the table in docs/bench.md.
//   node scripts/bench-table.mjs <measurements dir> <docs dir>
import fs from 'node:fs';
import { commit, machine, hostSlug } from './host.mjs';

const [dir, docs] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const report = {
  date: new Date().toISOString(),
  commit: commit(),
  machine: machine(),
  wasm: read('wasm.json'),
  native: { flex: read('native-flex.json'), wgpu: read('native-wgpu.json') },
  browser: read('browser.json'),
  training: fs.readFileSync(`${dir}/training.txt`, 'utf8').trim().split('\n'),
  trainingBurn: { flex: read('train-flex.json'), wgpu: read('train-wgpu.json') },
};
// The peer comparison is kept per host (docs/peer/<cpu>.json, replaced when rerun on that CPU):
// a ratio measured on one host is not a property of the runtime.
fs.mkdirSync(`${docs}/peer`, { recursive: true });
if (fs.existsSync(`${dir}/peer.json`)) {
  const peer = read('peer.json');
  fs.writeFileSync(`${docs}/peer/${hostSlug(peer.machine.cpu)}.json`, `${JSON.stringify(peer, null, 2)}\n`);
}
const peers = fs.readdirSync(`${docs}/peer`).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(`${docs}/peer/${f}`, 'utf8')));
fs.writeFileSync(`${docs}/bench.json`, `${JSON.stringify(report, null, 2)}\n`);

const ms = (x) => (x === undefined || x === null ? '—' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const cpu = report.browser.backends.cpu ?? {};
const gpu = report.browser.backends.webgpu ?? {};
const pool = report.browser.backends['cpu-threads'] ?? {};
const columns = [
  ['native flex', report.native.flex.latency],
  ['native wgpu (lavapipe)', report.native.wgpu.latency],
  ['wasm CPU, 1 thread (Chromium)', cpu.latency],
  [`wasm CPU, ${pool.threads ?? '?'} threads (Chromium, worker)`, pool.latency],
  ['WebGPU (SwiftShader)', gpu.latency],
];
const tasks = ['classify', 'describe', 'ask', 'embed_clip', 'embed_text', 'generate', 'continue'];
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
let md = `# Benchmarks\n\nWritten by \`scripts/bench\` on ${report.date.slice(0, 10)}, commit ${report.commit}; `
  + `${report.machine.cores} × ${report.machine.cpu}, ${report.machine.memoryGiB} GiB, no GPU.\n`
  + `Model: \`${report.browser.pack}\` (the shipped int8 pack). Median of ${report.browser.runs} runs after one warm-up call (${report.browser.backends.webgpu?.latency?.classify?.runs ?? '—'} on SwiftShader WebGPU); `
  + `generate/continue use ${report.browser.steps} Euler steps (generate with guidance 2: two forward passes per step). `
  + `On SwiftShader's software WebGPU only the single-pass tasks are timed (describe/ask read back one word at a time and take minutes there).\n\n`
  + `## Latency (ms)\n\n| task | ${columns.map((c) => c[0]).join(' | ')} | wasm / native | threads speed-up | WebGPU / wasm |\n|---|${columns.map(() => '---:').join('|')}|---:|---:|---:|\n`;
for (const t of tasks) {
  const v = columns.map((c) => c[1]?.[t]?.median_ms);
  md += `| ${t} | ${v.map(ms).join(' | ')} | ${ratio(v[2], v[0])} | ${ratio(v[2], v[3])} | ${ratio(v[4], v[2])} |\n`;
}
for (const t of ['generate', 'continue']) {
  const v = columns.map((c) => c[1]?.[t]?.per_step_ms);
  md += `| ${t}, per step | ${v.map(ms).join(' | ')} | ${ratio(v[2], v[0])} | ${ratio(v[2], v[3])} | ${ratio(v[4], v[2])} |\n`;
}
md += `\n## Load in Chromium (ms to understanding-ready / fully loaded)\n\n| backend | cold (network) | warm (Cache API) | shards cold → warm | weight bytes |\n|---|---:|---:|---|---:|\n`;
for (const [name, b] of Object.entries(report.browser.backends)) {
  if (!b.load) { md += `| ${name} | failed: ${b.error} | | | |\n`; continue; }
  const { cold, warm } = b.load;
  md += `| ${name} | ${ms(cold.understandReadyMs)} / ${ms(cold.fullyLoadedMs)} | ${ms(warm.understandReadyMs)} / ${ms(warm.fullyLoadedMs)} | `
    + `${cold.shards.fetched} fetched → ${warm.shards.fromCache} from cache | ${cold.shards.totalBytes} |\n`;
}
md += `\n## Memory and size\n\n| | value |\n|---|---:|\n`;
for (const [name, b] of Object.entries(report.browser.backends)) {
  if (b.memory) md += `| ${name}: wasm heap after load / peak | ${(b.memory.wasmHeapAfterLoadBytes / 2 ** 20).toFixed(1)} / ${(b.memory.peakWasmHeapBytes / 2 ** 20).toFixed(1)} MiB |\n`
    + `| ${name}: JS heap | ${b.memory.jsHeapBytes ? (b.memory.jsHeapBytes / 2 ** 20).toFixed(1) + ' MiB' : '—'} |\n`
    + `| ${name}: peak during a generation (wasm memory / JS heap) | ${(b.memory.duringGenerate.peakWasmBytes / 2 ** 20).toFixed(1)} / ${b.memory.duringGenerate.peakJsHeapBytes ? (b.memory.duringGenerate.peakJsHeapBytes / 2 ** 20).toFixed(1) : '—'} MiB |\n`
    + `| ${name}: heap / packed weight bytes (after load / peak) | ${(b.memory.wasmHeapAfterLoadBytes / b.load.cold.shards.totalBytes).toFixed(2)} / ${(b.memory.duringGenerate.peakWasmBytes / b.load.cold.shards.totalBytes).toFixed(2)} |\n`
    + `| ${name}: peak heap − packed weight bytes | ${((b.memory.duringGenerate.peakWasmBytes - b.load.cold.shards.totalBytes) / 2 ** 20).toFixed(1)} MiB |\n`;
}
const mib = (b) => (b / 2 ** 20).toFixed(2);
for (const [build, name] of [['webgpu_and_cpu', 'WebGPU + 1-thread CPU build (pkg)'], ['cpu_threads', 'multi-threaded CPU build (pkg-threads)']]) {
  const w = report.wasm[build];
  md += `| wasm binary, ${name}, ${report.wasm.profile}: raw / gzip | ${mib(w.raw_bytes)} / ${mib(w.gzip_bytes)} MiB |\n`;
}
md += `| native weight upload (flex / wgpu) | ${ms(report.native.flex.upload_ms)} / ${ms(report.native.wgpu.upload_ms)} ms |\n`;
md += '\n## Training throughput (small config)\n\n| trainer | clips/s | step |\n|---|---:|---|\n';
for (const [name, b] of Object.entries(report.trainingBurn)) {
  md += `| burn ${name} autodiff${name === 'wgpu' ? ' (lavapipe)' : ''}, f32, one clip per family per step | ${b.autodiff.clips_per_s.toFixed(2)} | ${ms(b.autodiff.step.median_ms)} ms median of ${b.autodiff.step.runs} (forward + backward, no optimiser) |\n`;
}
for (const line of report.training) {
  const m = line.match(/bf16=(\w+).*?([\d.]+) clips\/s/);
  if (m) md += `| PyTorch twin, ${m[1] === 'True' ? 'bf16 autocast' : 'f32'}, 8 clips per family per step | ${m[2]} | forward + backward + AdamW |\n`;
}
md += `\nburn: \`univid bench-train --backend flex|wgpu\` (training-split clips); PyTorch: \`scripts/trainer/speed.py\` (random clips):\n\n${report.training.map((l) => `    ${l}`).join('\n')}\n`;
if (peers.length) md += peerSection(peers);

/** ORT / UniVid per host for what the CPU goal names, the slowest host last; then each host's report. */
function peerSection(hosts) {
  const goal = [
    ['classify', 'task', 'classify'], ['describe', 'task', 'describe'],
    ['flow step (glyph_step)', 'op', 'glyph_step'], ['attention op', 'op', 'attention'],
  ];
  const ratios = (p) => goal.flatMap(([, kind, name]) => [1, 'all'].map((threads) => {
    if (kind === 'op') {
      const row = p.ops[threads === 1 ? 'oneThread' : 'allThreads'].rows[name];
      return row ? row.ort_ms / row.ours_ms : undefined;
    }
    const label = threads === 1 ? '1 thread' : `${p.machine.cores} threads`;
    const ours = p.rows[`UniVid f32, wasm CPU, ${label}`]?.[name]?.ms;
    const theirs = p.rows[`ONNX Runtime Web, wasm, ${label}`]?.[name]?.ms;
    return ours && theirs ? theirs / ours : undefined;
  }));
  const x = (r) => (r === undefined ? '—' : `${r.toFixed(2)}×`);
  let out = '\n## Peer: the same network in ONNX Runtime Web\n\n'
    + 'ORT Web wasm time / UniVid f32 wasm time (above 1: UniVid is faster), on every host the peer ran on '
    + '(`node scripts/peer/peer.mjs`, run by `scripts/bench`); the goal is judged on the slowest row.\n\n'
    + `| host | ${goal.map(([g]) => `${g}, 1 thread | ${g}, all threads`).join(' | ')} |\n|---|${goal.map(() => '---:|---:').join('|')}|\n`;
  const all = hosts.map(ratios);
  hosts.forEach((p, i) => { out += `| ${p.machine.cores} × ${p.machine.cpu}, ${p.date.slice(0, 10)} | ${all[i].map(x).join(' | ')} |\n`; });
  if (hosts.length > 1) out += `| slowest | ${all[0].map((_, k) => x(Math.min(...all.map((r) => r[k] ?? Infinity)))).join(' | ')} |\n`;
  for (const p of hosts) out += `\n### ${p.machine.cores} × ${p.machine.cpu} (${p.date.slice(0, 10)}, commit ${p.commit})\n\n${p.markdown}\n`;
  return out;
}
// Analysis written by hand below the marker survives a rerun.
const MARKER = '<!-- written by hand below: kept when scripts/bench rewrites the tables above -->';
const previous = fs.existsSync(`${docs}/bench.md`) ? fs.readFileSync(`${docs}/bench.md`, 'utf8') : '';
if (previous.includes(MARKER)) md += `\n${previous.slice(previous.indexOf(MARKER))}`;
fs.writeFileSync(`${docs}/bench.md`, md);
console.log(md);
