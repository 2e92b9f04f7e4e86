// The page's side of the worker protocol (protocol.js): the same methods as LocalSession.

import { aborted } from './errors.js';
import { openOptions, revive } from './protocol.js';

/** The engine's worker: beside this module (bundlers see the literal `new URL` and ship it), or
 * from `engineBase` (a CDN, another folder): a worker script must come from the page's origin, so
 * a one-line module made here imports the real one from there (which then finds its wasm and glue
 * beside itself). */
function startWorker(engineBase) {
  if (!engineBase) return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  const trampoline = `import ${JSON.stringify(new URL('univid/worker.js', engineBase).href)};`;
  const url = URL.createObjectURL(new Blob([trampoline], { type: 'text/javascript' }));
  const worker = new Worker(url, { type: 'module' });
  worker.addEventListener('message', () => URL.revokeObjectURL(url), { once: true }); // it has run
  return worker;
}

export class WorkerSession {
  #worker;
  #next = 1;
  #pending = new Map();

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data: { kind, id, content } }) => this.#pending.get(id)?.(kind, content);
    worker.onerror = (event) => {
      for (const handler of this.#pending.values()) handler('error', { code: 'INTERNAL', message: `the worker failed: ${event.message}` });
    };
  }

  /** Sends one request; `on(kind, content)` sees its progress/step messages. */
  #request(kind, content, on = () => {}, signal) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ kind: 'abort', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, (reply, body) => {
        if (reply === 'ok' || reply === 'error') {
          signal?.removeEventListener('abort', onAbort);
          if (kind !== 'open') this.#pending.delete(id);
          if (reply === 'ok') resolve(body);
          else reject(revive(body));
        } else {
          on(reply, body);
        }
      });
      this.#worker.postMessage({ kind, id, content });
    });
  }

  static async open(source, options = {}) {
    const { onProgress, signal, engineBase } = options;
    const worker = startWorker(engineBase);
    const session = new WorkerSession(worker);
    let settle;
    const complete = new Promise((resolve, reject) => { settle = { resolve, reject }; });
    complete.catch(() => {});
    const on = (kind, body) => {
      if (kind === 'progress') onProgress?.(body);
      else if (kind === 'complete') settle.resolve();
      else if (kind === 'complete-error') settle.reject(revive(body));
    };
    try {
      const opened = await session.#request('open', { source, ...openOptions(options) }, on, signal);
      return { session, ...opened, complete };
    } catch (e) {
      worker.terminate();
      throw e;
    }
  }

  call(method, args, onStep, signal) {
    if (signal?.aborted) return Promise.reject(aborted());
    const on = (kind, body) => { if (kind === 'step') onStep?.(body.step, body.total, body.preview); };
    return this.#request('call', { method, args, steps: Boolean(onStep) }, on, signal);
  }

  canGenerate() {
    return this.#request('call', { method: 'canGenerate', args: [] });
  }

  dispose() {
    this.#worker.postMessage({ kind: 'dispose' });
    this.#worker.terminate();
  }
}
