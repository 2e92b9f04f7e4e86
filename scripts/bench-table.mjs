// Merges the pieces scripts/bench measured into docs/bench.json and the table in docs/bench.md.
//   node scripts/bench-table.mjs <measurements dir> <docs dir>
import fs from 'node:fs';
import os from 'node:os';
import { execSync } from 'node:child_process';

const [dir, docs] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8'));
const sh = (c) => execSync(c, { encoding: 'utf8' }).trim();
const report = {
  date: new Date().toISOString(),
  commit: sh('git rev-parse --short HEAD') + (sh('git status --porcelain --untracked-files=no') ? ' (+ local changes)' : ''),
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), os: `${os.type()} ${os.release()}` },
  wasm: read('wasm.json'),
  native: { flex: read('native-flex.json'), wgpu: read('native-wgpu.json') },
  browser: read('browser.json'),
  training: fs.readFileSync(`${dir}/training.txt`, 'utf8').trim().split('\n'),
  trainingBurn: { flex: read('train-flex.json'), wgpu: read('train-wgpu.json') },
};
const peer = fs.existsSync(`${dir}/peer.json`) ? read('peer.json') : null;
if (peer) report.peer = peer;
fs.mkdirSync(docs, { recursive: true });
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
    + `| ${name}: peak during a generation (wasm memory / JS heap) | ${(b.memory.duringGenerate.peakWasmBytes / 2 ** 20).toFixed(1)} / ${b.memory.duringGenerate.peakJsHeapBytes ? (b.memory.duringGenerate.peakJsHeapBytes / 2 ** 20).toFixed(1) : '—'} MiB |\n`;
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
if (peer) {
  md += `\n## Peer: the same network in ONNX Runtime Web\n\n${peer.markdown ?? ''}\n`;
}
fs.writeFileSync(`${docs}/bench.md`, md);
console.log(md);
