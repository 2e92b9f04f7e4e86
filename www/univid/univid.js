// The model class of the public API (index.js exports it).

import { UniVidError, aborted } from './errors.js';
import { WorkerSession } from './remote.js';
import { Clip } from './clip.js';
import { EmbeddingIndex, modelSpace } from './search.js';
import { describeTimeline } from './timeline.js';
import { modelCache } from './storage.js';

// The in-thread engine (session.js) is imported only when a model runs in-thread: importing the
// package stays free of engine code (server rendering, Node) and the page's bundle small.
const inThreadSession = async () => (await import('./session.js')).LocalSession;

/** Where the model's files come from: a folder URL, resolved here (a worker's own base URL is its
 * script's, not the page's), or files in hand (a Map, a plain object, or File[] / FileList from a
 * folder picker), made one Map of file name → Blob / ArrayBuffer / Uint8Array. */
function modelSource(source) {
  if (typeof source === 'string' || source instanceof URL) return new URL(source, globalThis.location?.href).href;
  const bytes = (v) => (globalThis.Blob && v instanceof Blob) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
  let entries = null;
  if (source instanceof Map) entries = [...source];
  else if (Array.isArray(source) || (globalThis.FileList && source instanceof FileList)) entries = Array.from(source, (file) => [file?.name, file]);
  else if (source && typeof source === 'object') entries = Object.entries(source);
  if (!entries || !entries.every(([name, v]) => typeof name === 'string' && bytes(v))) {
    throw new UniVidError('BAD_INPUT', 'expected the model folder\'s URL, or its files: a Map or object of file name → Blob / ArrayBuffer / Uint8Array, or File[] / FileList');
  }
  return new Map(entries);
}

export class UniVid {
  #session;
  #complete;
  #disposed = false;

  #reopen;
  #recovering = null;

  constructor(session, { backend, reason, threads, threadsReason, manifest, complete }, inWorker, reopen) {
    this.#session = session;
    // Opens the same model again on another backend (after a lost WebGPU device).
    this.#reopen = reopen;
    this.#complete = complete;
    /** Whether inference runs in a Web Worker (the default) or on this thread. */
    this.inWorker = inWorker;
    /** What actually runs: `'webgpu'` or `'cpu'`. */
    this.backend = backend;
    /** Why that backend was chosen. */
    this.backendReason = reason;
    /** Threads the CPU backend computes on (1 on WebGPU, in-thread mode, or without cross-origin
     * isolation), and why. */
    this.threads = threads;
    this.threadsReason = threadsReason;
    /** The model's manifest (config, tokenizer, shards). */
    this.manifest = manifest;
    /** The model's geometry: clips are `frames` frames of `size`×`size` pixels with `channels`
     * channels (1 = grayscale, 3 = RGB); clips of the other kind are converted. */
    this.frames = manifest.model.frames;
    this.size = manifest.model.size;
    this.channels = manifest.model.channels;
    /** The words the model understands. */
    this.vocabulary = manifest.tokenizer.filter((w) => !w.startsWith('<'));
    /** Length of the retrieval vectors `embed` returns. */
    this.embedDim = manifest.model.embed_dim;
    /** This model's retrieval space; indexes made by another model are refused. */
    this.space = modelSpace(manifest);
  }

  /**
   * Loads a packed model. Resolves as soon as understanding works (core + understand weights);
   * the generate group keeps streaming, and `generate` / `continue` wait for it.
   * @param {string|URL|Map|object|File[]|FileList} source the folder holding manifest.json and its
   *   shards, or those files in hand (see `modelSource`)
   * Inference runs in a module Web Worker unless `worker: false` (or Workers are unavailable).
   * `engineBase`: the URL of the package's folder (holding univid/, pkg/, pkg-threads/) when its
   * files are served from somewhere else than where the bundler put this module (a CDN).
   * See index.d.ts for every option.
   */
  static async load(source, { backend = 'auto', threads = 'auto', measure = false, onProgress, signal, cache = true, worker = true, stallTimeoutMs, engineBase } = {}) {
    if (signal?.aborted) throw aborted();
    if (!globalThis.document && typeof WorkerGlobalScope === 'undefined') {
      throw new UniVidError('UNSUPPORTED', 'UniVid runs models in a browser (a page or a worker); here the package only imports, e.g. for server rendering: load the model in the browser (e.g. in an effect), or use the `univid` command line');
    }
    const from = modelSource(source);
    const base = engineBase === undefined ? undefined : new URL(String(engineBase).replace(/\/?$/, '/'), globalThis.location?.href).href;
    const inWorker = worker && typeof Worker !== 'undefined';
    const Session = inWorker ? WorkerSession : await inThreadSession();
    const opened = await Session.open(from, { backend, threads, measure, onProgress, signal, cache, stallTimeoutMs, engineBase: base });
    const reopen = (on) => Session.open(from, { backend: on, threads, cache, stallTimeoutMs, engineBase: base });
    return new UniVid(opened.session, opened, inWorker, reopen);
  }

  /** What the package keeps on this origin: `status(url)`, `delete(url)`, `clear()`,
   * `estimate()`, `persist()` (see storage.js). */
  static cache = modelCache;

  /** Real input → the model's clip; see `Clip.from`. Resolves `{ clip, report }`. */
  static clipFrom(source, options) {
    return Clip.from(source, options);
  }

  /** Resolves when every weight group is in (generation available). */
  get fullyLoaded() {
    return this.#complete.then(() => true);
  }

  #live() {
    if (this.#disposed) throw new UniVidError('NOT_LOADED', 'this model was disposed; load it again');
    return this.#session;
  }

  async #call(method, args, onStep, signal) {
    await this.#recovering;
    try {
      return await this.#live().call(method, args, onStep, signal);
    } catch (e) {
      if (e?.code === 'DEVICE_LOST' && this.backend === 'webgpu') this.#recoverOnCpu(e);
      throw e;
    }
  }

  /** After a lost WebGPU device: the same model again on the CPU (shards from the cache), so the
   * next call works; the failed call still rejects with DEVICE_LOST (the caller may retry). */
  #recoverOnCpu(loss) {
    this.backend = 'cpu';
    this.backendReason = `${loss.message}; reloaded on the CPU`;
    const lost = this.#session;
    this.#recovering = this.#reopen('cpu').then(async (opened) => {
      await opened.complete;
      this.#session = opened.session;
      this.#complete = opened.complete;
      this.threads = opened.threads;
      this.threadsReason = opened.threadsReason;
      lost.dispose();
    }, (e) => {
      this.backendReason += `, which failed: ${e.message}`;
    });
  }

  /**
   * Destroys the WebGPU device under the model, as a driver reset or an unplugged GPU would (like
   * WebGL's `WEBGL_lose_context`), to test an app's recovery: the next call rejects with
   * DEVICE_LOST and the model reloads itself on the CPU. WebGPU models only.
   */
  async loseDevice() {
    return this.#call('loseDevice', []);
  }

  #pixels(clip, frames = this.frames) {
    if (!(clip instanceof Clip)) throw new UniVidError('BAD_INPUT', 'expected a Clip (see Clip.fromPixels / UniVid.clipFrom)');
    if (clip.size !== this.size || clip.frames !== frames) {
      throw new UniVidError('BAD_INPUT', `the model reads ${frames} frames of ${this.size}×${this.size}, got ${clip.frames} of ${clip.size}×${clip.size}`);
    }
    return clip.toChannels(this.channels).pixels;
  }

  /** Digits present and how each moves, with probabilities. */
  async classify(clip) {
    return this.#call('classify', [this.#pixels(clip)]);
  }

  /** `{ text, confidence, outOfDomain, spoken }`: a caption in the model's grammar ("no digits"
   * for an empty clip), how sure the model is, and whether the clip looks like moving digits. */
  async describe(clip) {
    return this.#call('describe', [this.#pixels(clip)]);
  }

  /**
   * Audio description of a longer video (`<video>`, File or Blob): a caption per `window` seconds
   * (default 2) as cues and as WebVTT text for a `<track kind="descriptions">`; a window out of
   * domain says so instead of a caption.
   * @returns {Promise<{ cues: { start: number, end: number, text: string, confidence: number, outOfDomain: boolean }[], vtt: string }>}
   */
  async describeTimeline(video, { window, frames = this.frames, onCue, signal } = {}) {
    return describeTimeline((clip) => this.describe(clip), video, { window, frames, size: this.size, channels: this.channels, onCue, signal });
  }

  /** Answers a question in the model's vocabulary (unknown words → OUT_OF_VOCABULARY). */
  async ask(clip, question) {
    return this.#call('ask', [this.#pixels(clip), String(question)]);
  }

  /**
   * A unit vector (Float32Array of `embedDim`) for a Clip or a text query ("digit 7 moves left");
   * clips and texts share one space, so their dot product scores how well they match.
   */
  async embed(clipOrText) {
    if (typeof clipOrText === 'string') return this.#call('embedQuery', [clipOrText]);
    return this.#call('embedClip', [this.#pixels(clipOrText)]);
  }

  /** Embeds clips into a searchable index that can be saved (`toJSON`) and restored. */
  async index(clips, { ids } = {}) {
    if (!Array.isArray(clips)) throw new UniVidError('BAD_INPUT', 'expected an array of Clips');
    if (ids !== undefined && (!Array.isArray(ids) || ids.length !== clips.length)) {
      throw new UniVidError('BAD_INPUT', 'ids must be an array as long as clips');
    }
    const index = new EmbeddingIndex(this.embedDim, this.space);
    for (const [i, clip] of clips.entries()) index.add(ids ? ids[i] : i, await this.embed(clip));
    return index;
  }

  /**
   * Ranks `items` (an array of Clips, or an EmbeddingIndex) against `query` (text or a Clip).
   * @returns {Promise<{ id: any, index: number, score: number }[]>} the best `k`, best first
   */
  async search(query, items, { k = 5 } = {}) {
    const index = items instanceof EmbeddingIndex ? items : await this.index(items);
    if (index.space !== this.space) {
      throw new UniVidError('BAD_INPUT', `this index was made by another model (${index.space}; this one is ${this.space})`);
    }
    return index.search(await this.embed(query), { k });
  }

  async #generator(wait) {
    if (await this.#live().canGenerate()) return;
    if (!wait) throw new UniVidError('NOT_LOADED', 'the generate weights are still loading (pass { wait: true } to wait for them)');
    await this.#complete;
  }

  /** Text → video; `signal` aborts it between two steps (rejects with ABORTED). @returns {Promise<Clip>} */
  async generate(prompt, { frames = this.frames, steps = 20, guidance = 2.0, seed = 0, onStep, onPreview, signal, wait = true } = {}) {
    checkOptions(steps, seed);
    if (frames !== this.frames) throw new UniVidError('BAD_INPUT', `this model makes clips of ${this.frames} frames, not ${frames}`);
    if (typeof guidance !== 'number' || !(guidance >= 0 && guidance <= 20)) {
      throw new UniVidError('BAD_INPUT', `guidance must be a number in 0..=20, got ${guidance}`);
    }
    await this.#generator(wait);
    const pixels = await this.#call('generate', [String(prompt), steps, guidance, seed, Boolean(onPreview)], this.#stepped(onStep, onPreview), signal);
    return new Clip(pixels, this.frames, this.size, this.channels);
  }

  /** Keeps the first `framesIn` frames of `clip` and generates the other `framesOut` (give either;
   * they add up to the model's frames; default half and half). @returns {Promise<Clip>} */
  async continue(clip, { framesIn, framesOut, steps = 20, seed = 0, onStep, onPreview, signal, wait = true } = {}) {
    checkOptions(steps, seed);
    if (framesIn === undefined) framesIn = framesOut === undefined ? this.frames / 2 : this.frames - framesOut;
    else if (framesOut !== undefined && framesIn + framesOut !== this.frames) {
      throw new UniVidError('BAD_INPUT', `framesIn ${framesIn} + framesOut ${framesOut} must make the model's ${this.frames} frames`);
    }
    await this.#generator(wait);
    const pixels = await this.#call('continueClip', [this.#pixels(clip), framesIn, steps, seed, Boolean(onPreview)], this.#stepped(onStep, onPreview), signal);
    return new Clip(pixels, this.frames, this.size, this.channels);
  }

  /** One per-step callback for the engine out of the caller's progress and preview callbacks. */
  #stepped(onStep, onPreview) {
    if (!onStep && !onPreview) return undefined;
    return (step, steps, preview) => {
      onStep?.(step, steps);
      if (onPreview && preview) onPreview(new Clip(preview, this.frames, this.size, this.channels), step, steps);
    };
  }

  /**
   * A clip of the model's own world (Captioned Moving MNIST) from a compact digit file (`univid
   * digits --split test --out digits-test.bin`), with its true caption: a known input to try the
   * model on. Made in the model's worker.
   * @returns {Promise<{ clip: Clip, caption: string, truth: object }>}
   */
  async sampleClip(digits, { split = 'test', seed = 0, index = 0 } = {}) {
    if (!(digits instanceof Uint8Array)) throw new UniVidError('BAD_INPUT', 'digits must be the Uint8Array of a compact digit file');
    for (const [name, v] of [['seed', seed], ['index', index]]) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new UniVidError('BAD_INPUT', `${name} must be an integer in 0..=4294967295, got ${v}`);
    }
    const sample = await this.#call('sampleClip', [digits, String(split), seed, index]);
    return { clip: new Clip(sample.pixels, sample.frames, sample.size, 1), caption: sample.caption, truth: sample.truth };
  }

  /** Frees the model; later calls throw NOT_LOADED. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#session.dispose();
  }
}

function checkOptions(steps, seed) {
  if (!Number.isInteger(steps) || steps < 1 || steps > 200) {
    throw new UniVidError('BAD_INPUT', `steps must be an integer in 1..=200, got ${steps}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UniVidError('BAD_INPUT', `seed must be an integer in 0..=4294967295, got ${seed}`);
  }
}
