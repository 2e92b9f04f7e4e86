// Which backend runs a model loaded with `backend: 'auto'`: the faster one *here*, measured.

import { UniVidError } from './errors.js';
import { recallDecision, keepDecision } from './storage.js';
import { wasmPackage } from './engine.js';

/** Picks the backend for `'auto'`: the one that is faster *here*, not merely the one that exists.
 * No WebGPU or no adapter: CPU. A software adapter (SwiftShader, `isFallbackAdapter`; measured
 * ~20× slower than the wasm CPU path on matmul here): CPU, from the adapter info alone. A hardware
 * adapter: a timed smoke run on both backends decides, and the decision is kept (Cache API) per
 * adapter (and, once measured, beats the adapter heuristic). `measure` runs the smoke run
 * regardless (software adapter or a kept decision). */
export async function chooseBackend(requested, measure, engineBase) {
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
  const kept = measure ? null : await recallDecision(key);
  if (kept) return { backend: kept.backend, reason: `${kept.reason} (kept from an earlier load on this device)` };
  if (software && !measure) return { backend: 'cpu', reason: `the WebGPU adapter (${name}) is software: the CPU path is faster` };
  const decision = await smokeRun(`${name}${software ? ', software' : ''}`, engineBase);
  await keepDecision(key, decision);
  return decision;
}

/** Times the golden probe (a matmul and a tiny UniVid forward, `Engine.probe`) on each backend
 * after one warm-up run (shader compilation), and checks that WebGPU computes the CPU's numbers. */
async function smokeRun(adapterName, engineBase) {
  const timings = {};
  const probes = {};
  for (const backend of ['cpu', 'webgpu']) {
    let engine;
    try {
      engine = await (await wasmPackage('single', 1, engineBase)).createEngine(backend);
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
