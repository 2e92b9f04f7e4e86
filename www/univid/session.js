// A loaded engine in this thread. The worker hosts one of these; `UniVid` talks to it directly
// (in-thread mode) or through `WorkerSession` (the default), with the same methods.

import { UniVidError, aborted, engineCall } from './errors.js';
import { streamModel } from './load.js';
import { enginePackage } from './engine.js';
import { chooseBackend } from './backend.js';

// Methods a caller may run, and what answers each: the loaded engine (the model), or the wasm
// module itself (sample clips come from the data world it holds, no model needed). The stepped
// ones take a step callback after their arguments (it reports progress, and returning false stops
// the generation: how `signal` aborts it).
const ENGINE = 'engine', MODULE = 'module';
const ANSWERED_BY = {
  classify: ENGINE, describe: ENGINE, ask: ENGINE, generate: ENGINE, continueClip: ENGINE,
  embedClip: ENGINE, embedQuery: ENGINE, loseDevice: ENGINE, sampleClip: MODULE,
};
export const METHODS = new Set(Object.keys(ANSWERED_BY));
const STEPPED = new Set(['generate', 'continueClip']);

export class LocalSession {
  #engine;
  #module;

  constructor(engine, module) {
    this.#engine = engine;
    this.#module = module;
  }

  /** Creates the engine, starts streaming the model (`source`: see `streamModel`); resolves once
   * understanding works. */
  static async open(source, { backend = 'auto', threads = 'auto', measure = false, onProgress, signal, cache = true, stallTimeoutMs, engineBase } = {}) {
    const choice = await chooseBackend(backend, measure, engineBase);
    const { module, threadsReason } = await enginePackage(choice.backend, threads, engineBase);
    const engine = await engineCall(() => module.createEngine(choice.backend));
    const { understanding, complete } = streamModel(engine, source, { onProgress, signal, cache, stallTimeoutMs });
    complete.catch(() => {}); // reported through `understanding`, or when generating
    const manifest = await understanding;
    return {
      session: new LocalSession(engine, module), manifest, backend: choice.backend, reason: choice.reason,
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
    const target = ANSWERED_BY[method] === MODULE ? this.#module : this.#engine;
    const result = await engineCall(() => target[method](...args, ...(STEPPED.has(method) ? [step] : [])));
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
