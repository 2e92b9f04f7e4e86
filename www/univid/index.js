// UniVid Web: the public API. One model that understands (classify / describe / ask) and
// generates (text → video, continuation) short grayscale clips, on WebGPU or the CPU, in-page.
//
//   const model = await UniVid.load('models/univid-small-int8', { backend: 'auto', onProgress });
//   const clip = Clip.fromPixels(pixels, { frames: 20, size: 64 });
//   await model.describe(clip);           // "digit 3 moves left while digit 7 moves up"
//   await model.generate('digit 5 moves right', { steps: 20, seed: 1 });   // a Clip

import init, { createEngine } from '../pkg/univid.js';
import { UniVidError, fromEngineError } from './errors.js';
import { streamModel } from './load.js';
import { Clip } from './clip.js';

export { UniVidError, Clip };

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
  const software = adapter.isFallbackAdapter || info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.description} ${info.device}`);
  if (software) return { backend: 'cpu', reason: `WebGPU adapter is software (${info.vendor ?? '?'}/${info.architecture ?? '?'}): the CPU path is faster` };
  return { backend: 'webgpu', reason: `hardware WebGPU adapter (${info.vendor ?? '?'}/${info.architecture ?? '?'})` };
}

export class UniVid {
  #engine;
  #complete;
  #disposed = false;

  constructor(engine, backend, reason, manifest, complete) {
    this.#engine = engine;
    this.#complete = complete;
    /** What actually runs: `'webgpu'` or `'cpu'`. */
    this.backend = backend;
    /** Why that backend was chosen. */
    this.backendReason = reason;
    /** The model's manifest (config, tokenizer, shards). */
    this.manifest = manifest;
    /** The model's geometry: clips are `frames` frames of `size`×`size` grayscale pixels. */
    this.frames = manifest.model.frames;
    this.size = manifest.model.size;
    /** The words the model understands. */
    this.vocabulary = manifest.tokenizer.filter((w) => !w.startsWith('<'));
  }

  /**
   * Loads a packed model. Resolves as soon as understanding works (core + understand weights);
   * the generate group keeps streaming, and `generate` / `continue` wait for it.
   * @param {string} url folder holding manifest.json and its shards
   * @param {{backend?: 'auto'|'webgpu'|'cpu', onProgress?: (e: object) => void, signal?: AbortSignal, cache?: boolean}} options
   */
  static async load(url, { backend = 'auto', onProgress, signal, cache = true } = {}) {
    wasmReady ??= init();
    await wasmReady;
    const choice = await chooseBackend(backend);
    let engine;
    try {
      engine = await createEngine(choice.backend);
    } catch (e) {
      throw fromEngineError(e);
    }
    const { understanding, complete } = streamModel(engine, url, { onProgress, signal, cache });
    complete.catch(() => {}); // surfaced by `understanding` or by `generate`
    const manifest = await understanding;
    return new UniVid(engine, choice.backend, choice.reason, manifest, complete);
  }

  /** Resolves when every weight group is in (generation available). */
  get fullyLoaded() {
    return this.#complete.then(() => true);
  }

  #live() {
    if (this.#disposed) throw new UniVidError('NOT_LOADED', 'this model was disposed; load it again');
    return this.#engine;
  }

  async #call(fn) {
    const engine = this.#live();
    try {
      return await fn(engine);
    } catch (e) {
      throw fromEngineError(e);
    }
  }

  #pixels(clip, frames = this.frames) {
    if (!(clip instanceof Clip)) throw new UniVidError('BAD_INPUT', 'expected a Clip (see Clip.fromPixels / UniVid.clipFrom)');
    if (clip.size !== this.size || clip.frames !== frames) {
      throw new UniVidError('BAD_INPUT', `the model reads ${frames} frames of ${this.size}×${this.size}, got ${clip.frames} of ${clip.size}×${clip.size}`);
    }
    return clip.pixels;
  }

  /** Digits present and how each moves, with probabilities. */
  classify(clip) {
    return this.#call((e) => e.classify(this.#pixels(clip)));
  }

  /** A caption in the model's grammar. */
  describe(clip) {
    return this.#call((e) => e.describe(this.#pixels(clip)));
  }

  /** Answers a question in the model's vocabulary (unknown words → OUT_OF_VOCABULARY). */
  ask(clip, question) {
    return this.#call((e) => e.ask(this.#pixels(clip), String(question)));
  }

  async #generator(wait) {
    if (this.#live().canGenerate) return;
    if (!wait) throw new UniVidError('NOT_LOADED', 'the generate weights are still loading (pass { wait: true } to wait for them)');
    try {
      await this.#complete;
    } catch (e) {
      throw fromEngineError(e);
    }
  }

  /** Text → video. @returns {Promise<Clip>} */
  async generate(prompt, { steps = 20, guidance = 2.0, seed = 0, onStep, wait = true } = {}) {
    checkSteps(steps);
    await this.#generator(wait);
    const pixels = await this.#call((e) => e.generate(String(prompt), steps, guidance, seed >>> 0, onStep));
    return new Clip(pixels, this.frames, this.size);
  }

  /** Keeps the first `framesIn` frames of `clip` and generates the rest. @returns {Promise<Clip>} */
  async continue(clip, { framesIn = this.frames / 2, steps = 20, seed = 0, onStep, wait = true } = {}) {
    checkSteps(steps);
    await this.#generator(wait);
    const pixels = await this.#call((e) => e.continueClip(this.#pixels(clip), framesIn, steps, seed >>> 0, onStep));
    return new Clip(pixels, this.frames, this.size);
  }

  /** Frees the model; later calls throw NOT_LOADED. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#engine.dispose();
  }
}

function checkSteps(steps) {
  if (!Number.isInteger(steps) || steps < 1 || steps > 200) {
    throw new UniVidError('BAD_INPUT', `steps must be an integer in 1..=200, got ${steps}`);
  }
}
