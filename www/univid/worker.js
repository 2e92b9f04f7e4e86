// The default home of the engine: a module worker, so inference never blocks the page. It answers
// the protocol in protocol.js.

import { LocalSession } from './session.js';
import { openOptions, errorContent } from './protocol.js';

let session = null;
const aborts = new Map();

async function open(id, content) {
  const controller = new AbortController();
  aborts.set(id, controller);
  try {
    const onProgress = (event) => postMessage({ kind: 'progress', id, content: event });
    const opened = await LocalSession.open(content.source, { ...openOptions(content), onProgress, signal: controller.signal });
    session?.dispose();
    session = opened.session;
    opened.complete.then(
      () => postMessage({ kind: 'complete', id }),
      (e) => postMessage({ kind: 'complete-error', id, content: errorContent(e) }),
    );
    return { manifest: opened.manifest, backend: opened.backend, reason: opened.reason, threads: opened.threads, threadsReason: opened.threadsReason };
  } finally {
    aborts.delete(id);
  }
}

async function call(id, { method, args, steps }) {
  if (!session) throw Object.assign(new Error('no model is loaded (or it was disposed)'), { code: 'NOT_LOADED' });
  if (method === 'canGenerate') return session.canGenerate();
  const onStep = steps
    ? (step, total, preview) => postMessage({ kind: 'step', id, content: { step, total, preview } }, preview ? [preview.buffer] : [])
    : undefined;
  // The engine yields to this worker's event loop after every step, so an abort message for this
  // id arrives mid-generation and the next step check stops it.
  const controller = new AbortController();
  aborts.set(id, controller);
  try {
    return await session.call(method, args, onStep, controller.signal);
  } finally {
    aborts.delete(id);
  }
}

self.onmessage = async ({ data: { kind, id, content } }) => {
  if (kind === 'abort') return aborts.get(id)?.abort();
  if (kind === 'dispose') {
    session?.dispose();
    session = null;
    return;
  }
  try {
    const result = kind === 'open' ? await open(id, content) : await call(id, content);
    postMessage({ kind: 'ok', id, content: result });
  } catch (e) {
    postMessage({ kind: 'error', id, content: errorContent(e) });
  }
};
