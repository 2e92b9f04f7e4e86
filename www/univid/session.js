// A loaded engine in this thread. The worker hosts one of these; `UniVid` talks to it directly
// (in-thread mode) or through `WorkerSession` (the default), with the same four methods.

import { UniVidError, aborted, engineCall } from './errors.js';
import { streamModel } from './load.js';
import * as singleThread from '../pkg/univid.js';
import * as threadPool from '../pkg-threads/univid.js';

// Two builds of the engine: `pkg` (WebGPU and a one-thread CPU path) and `pkg-threads` (the CPU path
// on a pool of workers sharing its memory; CPU only). Only the glue is imported up front (static
// imports keep bundlers' worker builds in one chunk); each wasm is fetched and started at most once.
const PACKAGES = { single: singleThread, threads: threadPool };
const started = {};

function wasmPackage(kind, threads) {
  started[kind] ??= (async () => {
    const module = PACKAGES[kind];
    await module.default();
    if (kind === 'threads') await module.initThreadPool(threads);
    return module;
  })();
  return started[kind];
}

/** Threads for the CPU backend. `'auto'`: every core, when this is a worker (the calling thread
 * blocks while the pool computes, which a page's main thread may not) in a cross-origin isolated
 * page (COOP/COEP headers: the pool shares memory through a SharedArrayBuffer); else 1. */
function chooseThreads(requested) {
  if (requested !== 'auto' && !(Number.isInteger(requested) && requested >= 1 && requested <= 64)) {
    throw new UniVidError('BAD_INPUT', `threads must be 'auto' or an integer from 1 to 64, got ${requested}`);
  }
  if (requested === 1) return { threads: 1, why: 'one thread requested' };
  const inWorker = typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope;
  if (!inWorker) return { threads: 1, why: 'in-thread mode: a page\'s main thread may not wait on a thread pool' };
  if (!(globalThis.crossOriginIsolated && typeof SharedArrayBuffer === 'function')) {
    return { threads: 1, why: 'the page is not cross-origin isolated (COOP/COEP headers), so threads cannot share memory' };
  }
  const cores = navigator.hardwareConcurrency || 1;
  const threads = requested === 'auto' ? Math.min(cores, 16) : requested;
  if (threads === 1) return { threads: 1, why: 'this device reports one core' };
  return { threads, why: requested === 'auto' ? `cross-origin isolated: a thread per core (${cores})` : `${threads} threads requested` };
}

/** The started package for this backend and thread choice; a thread pool that fails to start
 * leaves the one-thread build, and says why. */
async function enginePackage(backend, requestedThreads) {
  const cpuPool = chooseThreads(requestedThreads); // validates the option on either backend
  const pool = backend === 'cpu' ? cpuPool : { threads: 1, why: 'WebGPU computes on the GPU' };
  if (pool.threads > 1) {
    try {
      return { module: await wasmPackage('threads', pool.threads), threadsReason: pool.why };
    } catch (e) {
      delete started.threads;
      return { module: await wasmPackage('single'), threadsReason: `the thread pool failed to start (${e?.message ?? e}): one thread` };
    }
  }
  return { module: await wasmPackage('single'), threadsReason: pool.why };
}

const DECISIONS = 'univid-backend-v1';

/** Picks the backend for `'auto'`: the one that is faster *here*, not merely the one that exists.
 * No WebGPU or no adapter: CPU. A software adapter (SwiftShader, `isFallbackAdapter`; measured
 * ~20× slower than the wasm CPU path on matmul here): CPU, from the adapter info alone. A hardware
 * adapter: a timed smoke run on both backends decides, and the decision is kept (Cache API) per
 * adapter (and, once measured, beats the adapter heuristic). `measure` runs the smoke run
 * regardless (software adapter or a kept decision). */
async function chooseBackend(requested, measure) {
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
  // A measurement kept from an earlier load beats the adapter heuristic.
  const key = `${name}/${info.device ?? ''}/${info.description ?? ''}${software ? '/software' : ''}`;
  const kept = measure ? null : await recall(key);
  if (kept) return { backend: kept.backend, reason: `${kept.reason} (kept from an earlier load on this device)` };
  if (software && !measure) return { backend: 'cpu', reason: `the WebGPU adapter (${name}) is software: the CPU path is faster` };
  const decision = await smokeRun(`${name}${software ? ', software' : ''}`);
  await remember(key, decision);
  return decision;
}

/** Times the golden probe (a matmul and a tiny UniVid forward, `Engine.probe`) on each backend
 * after one warm-up run (shader compilation), and checks that WebGPU computes the CPU's numbers. */
async function smokeRun(adapterName) {
  const timings = {};
  const probes = {};
  for (const backend of ['cpu', 'webgpu']) {
    let engine;
    try {
      engine = await (await wasmPackage('single')).createEngine(backend);
      await engine.probe();
      const started = performance.now();
      probes[backend] = await engine.probe();
      timings[backend] = performance.now() - started;
    } catch (e) {
      if (backend === 'cpu') throw e;
      return { backend: 'cpu', reason: `WebGPU failed a smoke run (${e?.message ?? e}); adapter ${adapterName}` };
    } finally {
      engine?.dispose();
    }
  }
  const measured = `WebGPU ${timings.webgpu.toFixed(1)} ms vs CPU ${timings.cpu.toFixed(1)} ms on a smoke run (adapter ${adapterName})`;
  const difference = Math.max(...Object.keys(probes.cpu).map((k) => maxDifference(probes.cpu[k], probes.webgpu[k])));
  if (!(difference < 1e-2)) return { backend: 'cpu', reason: `WebGPU computed different numbers (max difference ${difference}); ${measured}` };
  return { backend: timings.webgpu < timings.cpu ? 'webgpu' : 'cpu', reason: `measured: ${measured}` };
}

function maxDifference(a, b) {
  const list = (v) => Array.isArray(v) || ArrayBuffer.isView(v);
  if (!list(a) || !list(b)) return a === b ? 0 : Infinity;
  if (a.length !== b.length) return Infinity;
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i])), 0);
}

function decisionRequest(key) {
  return new Request(`${globalThis.location?.origin ?? 'http://localhost'}/.univid/backend/${encodeURIComponent(key)}`);
}

/** The decision kept for this adapter, or null (no Cache API, nothing kept, unreadable). */
async function recall(key) {
  try {
    const hit = await (await caches.open(DECISIONS)).match(decisionRequest(key));
    return hit ? await hit.json() : null;
  } catch {
    return null;
  }
}

async function remember(key, decision) {
  try {
    await (await caches.open(DECISIONS)).put(decisionRequest(key), new Response(JSON.stringify(decision)));
  } catch { /* not kept: the next load measures again */ }
}

// Engine methods a caller may run; the stepped ones take a step callback after their arguments
// (it reports progress, and returning false stops the generation: how `signal` aborts it).
export const METHODS = new Set(['classify', 'describe', 'ask', 'generate', 'continueClip', 'embedClip', 'embedQuery', 'loseDevice']);
const STEPPED = new Set(['generate', 'continueClip']);

export class LocalSession {
  #engine;

  constructor(engine) {
    this.#engine = engine;
  }

  /** Creates the engine, starts streaming `url`; resolves once understanding works. */
  static async open(url, { backend = 'auto', threads = 'auto', measure = false, onProgress, signal, cache = true, stallTimeoutMs } = {}) {
    const choice = await chooseBackend(backend, measure);
    const { module, threadsReason } = await enginePackage(choice.backend, threads);
    const engine = await engineCall(() => module.createEngine(choice.backend));
    const { understanding, complete } = streamModel(engine, url, { onProgress, signal, cache, stallTimeoutMs });
    complete.catch(() => {}); // reported through `understanding`, or when generating
    const manifest = await understanding;
    return {
      session: new LocalSession(engine), manifest, backend: choice.backend, reason: choice.reason,
      threads: module.threadCount(), threadsReason, complete,
    };
  }

  async call(method, args, onStep, signal) {
    if (!METHODS.has(method)) throw new UniVidError('BAD_INPUT', `no such method '${method}'`);
    if (signal?.aborted) throw aborted();
    const step = (done, total, preview) => {
      try { onStep?.(done, total, preview); } catch { /* a throwing callback does not stop the work */ }
      return !signal?.aborted;
    };
    const result = await engineCall(() => this.#engine[method](...args, ...(STEPPED.has(method) ? [step] : [])));
    // The browser reports a lost device asynchronously: let that arrive before the next call.
    if (method === 'loseDevice') await new Promise((resolve) => setTimeout(resolve, 100));
    return result;
  }

  canGenerate() {
    return this.#engine.canGenerate;
  }

  dispose() {
    this.#engine.dispose();
  }
}
