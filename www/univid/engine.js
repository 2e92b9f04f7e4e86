// The wasm engine's two builds, and which one runs with how many threads.

import { UniVidError } from './errors.js';
import * as singleThread from '../pkg/univid.js';
import * as threadPool from '../pkg-threads/univid.js';

// Two builds of the engine: `pkg` (WebGPU and a one-thread CPU path) and `pkg-threads` (the CPU path
// on a pool of workers sharing its memory; CPU only). Only the glue is imported up front (static
// imports keep bundlers' worker builds in one chunk: Vite's default worker format cannot split);
// each wasm is fetched and started at most once. The page imports this module only when it runs
// the model in-thread (through session.js), so importing the package evaluates none of it (Node and
// server rendering have no `self`, which the threads build's helper reads).
const PACKAGES = { single: { module: singleThread, folder: 'pkg' }, threads: { module: threadPool, folder: 'pkg-threads' } };
const started = {};

/** A thread pool whose workers have not all started by then never will: bundlers that rewrite the
 * pool's worker script (Vite's dev server, some production builds) leave it waiting for ever. */
const POOL_START_MS = 10_000;

/** The started build; `engineBase` (the package's folder URL) says where its wasm is served from,
 * else it sits beside its glue. */
export function wasmPackage(kind, threads, engineBase) {
  started[kind] ??= (async () => {
    const { module, folder } = PACKAGES[kind];
    await module.default(engineBase ? { module_or_path: new URL(`${folder}/univid_bg.wasm`, engineBase) } : undefined);
    if (kind === 'threads') {
      let timer;
      const stalled = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`its ${threads} workers did not start within ${POOL_START_MS / 1000} s`)), POOL_START_MS);
      });
      try {
        await Promise.race([module.initThreadPool(threads), stalled]);
      } finally {
        clearTimeout(timer);
      }
    }
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
export async function enginePackage(backend, requestedThreads, engineBase) {
  const cpuPool = chooseThreads(requestedThreads); // validates the option on either backend
  const pool = backend === 'cpu' ? cpuPool : { threads: 1, why: 'WebGPU computes on the GPU' };
  if (pool.threads > 1) {
    try {
      return { module: await wasmPackage('threads', pool.threads, engineBase), threadsReason: pool.why };
    } catch (e) {
      // The failure stays in `started` (not retried): a pool fails the same way again, and a
      // stalled one may still hold its workers.
      return { module: await wasmPackage('single', 1, engineBase), threadsReason: `the thread pool failed to start (${e?.message ?? e}): one thread` };
    }
  }
  return { module: await wasmPackage('single', 1, engineBase), threadsReason: pool.why };
}

const DECISIONS = 'univid-backend-v1';
