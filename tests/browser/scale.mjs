// Scale check (run by hand, not in CI: it streams ~400 MB): the 405 M-parameter preset with seeded
// random weights, packed int8 (or int4), streams into headless Chromium (in the page, so the wasm
// heap is readable) and, on the CPU backend, answers one classification (on SwiftShader's software
// WebGPU a pass of this size takes many minutes: there only the load is measured). Prints load
// time, weight bytes, wasm heap after load and at the end, JS heap and the classify latency as JSON;
// on WebGPU also the bytes of GPU buffers alive after load (every `createBuffer` minus `destroy`).
//   univid pack --random large --seed 0 --quant int8 --shard-mb 16 --out out/univid-large-int8
//   node tests/browser/scale.mjs [out/univid-large-int8] [cpu|webgpu]
import { blankPage } from './browser.mjs';

const pack = process.argv[2] ?? 'out/univid-large-int8';
const backend = process.argv[3] ?? 'cpu';
const { page, close } = await blankPage();
try {
  const report = await page.evaluate(async ({ pack, backend }) => {
    const { UniVid, Clip } = await import('/www/univid/index.js');
    // GPU memory is not readable from a page: count what the engine asks for.
    let gpuBufferBytes = 0;
    if (globalThis.GPUDevice) {
      const create = GPUDevice.prototype.createBuffer;
      GPUDevice.prototype.createBuffer = function (descriptor) {
        const buffer = create.call(this, descriptor);
        gpuBufferBytes += buffer.size;
        const destroy = buffer.destroy.bind(buffer);
        buffer.destroy = () => { gpuBufferBytes -= buffer.size; destroy(); };
        return buffer;
      };
    }
    const started = performance.now();
    let bytes = 0;
    const model = await UniVid.load(`/${pack}`, {
      backend, worker: false, cache: false,
      onProgress: (e) => { if (e.type === 'manifest') bytes = e.totalBytes; },
    });
    const understandReadyMs = performance.now() - started;
    await model.fullyLoaded;
    const loadedMs = performance.now() - started;
    const { default: init } = await import('/www/pkg/univid.js');
    const wasm = await init(); // the already-initialised module: its memory only ever grows
    const heapAfterLoadBytes = wasm.memory.buffer.byteLength;
    const loaded = { backend: model.backend, parameters: model.manifest.model, weightBytes: bytes, understandReadyMs, loadedMs, heapAfterLoadBytes };
    if (backend !== 'cpu') loaded.gpuBufferBytesAfterLoad = gpuBufferBytes;
    if (backend !== 'cpu') return loaded;
    const pixels = new Uint8Array(model.frames * model.size * model.size);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251 > 200 ? 255 : 0;
    const t0 = performance.now();
    const classes = await model.classify(Clip.fromPixels(pixels, { frames: model.frames, size: model.size }));
    const classifyMs = performance.now() - t0;
    return {
      ...loaded, classifyMs,
      peakWasmHeapBytes: wasm.memory.buffer.byteLength,
      jsHeapBytes: performance.memory?.usedJSHeapSize ?? null,
      digitProbabilities: classes.digit_probabilities.length,
    };
  }, { pack, backend });
  report.heapAfterLoadOverWeights = report.heapAfterLoadBytes / report.weightBytes;
  if (report.gpuBufferBytesAfterLoad !== undefined) report.gpuBuffersOverWeights = report.gpuBufferBytesAfterLoad / report.weightBytes;
  if (report.peakWasmHeapBytes) report.peakHeapOverWeights = report.peakWasmHeapBytes / report.weightBytes;
  console.log(JSON.stringify(report, null, 2));
} finally {
  await close();
}
