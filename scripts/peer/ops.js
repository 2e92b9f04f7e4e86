// Per-op timing of our kernels: `OpBench` runs one operation of the model at its real shapes through
// the model's own functions (crate/src/tools/bench/ops.rs). Imported by the peer page for one thread;
// started as a module worker for the thread pool (a pool only runs off the page's main thread).

/** The inputs of each op, as crate/src/tools/bench/ops.rs and export_onnx.py make them: [shape, salt, scale]. */
export const OP_INPUTS = {
  linear_qkv: { x: [[161, 256], 1, 1] },
  attention: { qkv: [[1, 161, 768], 4, 1] },
  layer_norm: { x: [[161, 256], 1, 1] },
  gelu: { x: [[161, 512], 9, 3] },
  expert_ffn: { x: [[161, 256], 1, 1] },
  glyph_step: { x: [[2, 1, 28, 28], 15, 1], cond: [[2, 256], 16, 1] },
};

/** scale · sin(0.7 k + salt) in f64, then f32: the same values as the Rust and Python sides. */
export const fill = (n, salt, scale) => Float32Array.from({ length: n }, (_, k) => scale * Math.sin(0.7 * k + salt));

/** The largest |a[i] - b[i]|. */
export const maxAbsDiff = (a, b) => a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i])), 0);

/** Median ms of `runs` calls after `warmup`, and the last output. */
export async function median(call, runs, warmup = 3) {
  const samples = [];
  let out;
  for (let i = 0; i < warmup + runs; i += 1) {
    const t0 = performance.now();
    out = await call();
    if (i >= warmup) samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[samples.length >> 1], out };
}

/** Every op on our CPU backend: { op: { ms, out } }. */
export async function timeOurs(OpBench, runs) {
  const result = {};
  for (const op of OpBench.names()) {
    const bench = new OpBench(op);
    result[op] = await median(() => bench.run(), runs);
    bench.free();
  }
  return result;
}

const inWorker = typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope;
if (inWorker) {
  globalThis.onmessage = async ({ data: { runs } }) => {
    try {
      const wasm = await import('/www/pkg-threads/univid.js');
      await wasm.default();
      await wasm.initThreadPool(navigator.hardwareConcurrency);
      globalThis.postMessage({ threads: wasm.threadCount(), ops: await timeOurs(wasm.OpBench, runs) });
    } catch (e) {
      globalThis.postMessage({ error: String(e.message ?? e) });
    }
  };
}
