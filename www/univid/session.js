// A loaded engine in this thread. The worker hosts one of these; `UniVid` talks to it directly
// (in-thread mode) or through `WorkerSession` (the default), with the same four methods.

import init, { createEngine } from '../pkg/univid.js';
import { UniVidError, aborted, engineCall } from './errors.js';
import { streamModel } from './load.js';

let wasmReady = null;

/** Picks the backend for `'auto'`: WebGPU only on a hardware adapter. A software adapter
 * (SwiftShader, `isFallbackAdapter`) measured ~20× slower than the wasm CPU path here. */
async function chooseBackend(requested) {
  if (requested === 'cpu') return { backend: 'cpu', reason: 'requested' };
  if (requested === 'webgpu') return { backend: 'webgpu', reason: 'requested' };
  if (requested !== 'auto') throw new UniVidError('BAD_INPUT', `backend must be 'auto', 'webgpu' or 'cpu', got '${requested}'`);
  if (!globalThis.navigator?.gpu) return { backend: 'cpu', reason: 'this browser has no WebGPU' };
  let adapter = null;
  try {
    adapter = await Promise.race([navigator.gpu.requestAdapter(), new Promise((r) => setTimeout(() => r(null), 3000))]);
  } catch { /* treated as no adapter */ }
  if (!adapter) return { backend: 'cpu', reason: 'no WebGPU adapter' };
  const info = adapter.info ?? {};
  const name = `${info.vendor ?? '?'}/${info.architecture ?? '?'}`;
  const software = adapter.isFallbackAdapter || info.isFallbackAdapter
    || /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.description} ${info.device}`);
  if (software) return { backend: 'cpu', reason: `the WebGPU adapter (${name}) is software: the CPU path is faster` };
  return { backend: 'webgpu', reason: `hardware WebGPU adapter (${name})` };
}

// Engine methods a caller may run; the stepped ones take a step callback after their arguments
// (it reports progress, and returning false stops the generation: how `signal` aborts it).
export const METHODS = new Set(['classify', 'describe', 'ask', 'generate', 'continueClip', 'embedClip', 'embedQuery']);
const STEPPED = new Set(['generate', 'continueClip']);

export class LocalSession {
  #engine;

  constructor(engine) {
    this.#engine = engine;
  }

  /** Creates the engine, starts streaming `url`; resolves once understanding works. */
  static async open(url, { backend = 'auto', onProgress, signal, cache = true } = {}) {
    wasmReady ??= init();
    await wasmReady;
    const choice = await chooseBackend(backend);
    const engine = await engineCall(() => createEngine(choice.backend));
    const { understanding, complete } = streamModel(engine, url, { onProgress, signal, cache });
    complete.catch(() => {}); // reported through `understanding`, or when generating
    const manifest = await understanding;
    return { session: new LocalSession(engine), manifest, backend: choice.backend, reason: choice.reason, complete };
  }

  async call(method, args, onStep, signal) {
    if (!METHODS.has(method)) throw new UniVidError('BAD_INPUT', `no such method '${method}'`);
    if (signal?.aborted) throw aborted();
    const step = (done, total) => {
      try { onStep?.(done, total); } catch { /* a throwing callback does not stop the work */ }
      return !signal?.aborted;
    };
    return engineCall(() => this.#engine[method](...args, ...(STEPPED.has(method) ? [step] : [])));
  }

  canGenerate() {
    return this.#engine.canGenerate;
  }

  dispose() {
    this.#engine.dispose();
  }
}
