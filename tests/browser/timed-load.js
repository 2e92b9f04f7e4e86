// Page-side helper for scripts/bench.mjs: loads a pack in-thread (so the page can read the wasm
// heap; or in its worker, the only place threads run) and times it: until understanding answers,
// until fully loaded, shards fetched vs cached.
import { UniVid } from '/www/univid/index.js';

export async function timedLoad(pack, backend, cache = true, worker = false) {
  const shards = { fetched: 0, fromCache: 0, totalBytes: 0 };
  const started = performance.now();
  const model = await UniVid.load(`/${pack}`, {
    backend, worker, cache,
    onProgress: (e) => {
      if (e.type === 'manifest') shards.totalBytes = e.totalBytes;
      if (e.type === 'shard-done') shards[e.fromCache ? 'fromCache' : 'fetched'] += 1;
    },
  });
  const understandReadyMs = performance.now() - started;
  await model.fullyLoaded;
  return { model, understandReadyMs, fullyLoadedMs: performance.now() - started, shards };
}

/** Runs `call` while sampling the JS heap and the wasm memory every 20 ms; their peaks. */
export async function peakMemoryDuring(call, wasmMemory) {
  const peak = { jsHeapBytes: performance.memory?.usedJSHeapSize ?? null, wasmBytes: wasmMemory.buffer.byteLength };
  const sample = () => {
    if (performance.memory) peak.jsHeapBytes = Math.max(peak.jsHeapBytes, performance.memory.usedJSHeapSize);
    peak.wasmBytes = Math.max(peak.wasmBytes, wasmMemory.buffer.byteLength);
  };
  const timer = setInterval(sample, 20); // runs between flow steps: the engine yields after each
  try {
    await call();
  } finally {
    clearInterval(timer);
    sample();
  }
  return peak;
}
