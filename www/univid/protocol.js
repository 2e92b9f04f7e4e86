// The page ↔ worker protocol (worker.js answers, remote.js asks), typed, one reply per request id:
//   page → worker  { kind: 'open', id, content: { source, ...options named in OPEN_OPTIONS } }
//                | { kind: 'call', id, content: { method, args, steps } } | { kind: 'abort', id }
//                | { kind: 'dispose' }
//   worker → page  { kind: 'progress' | 'step', id, content } (any number), then
//                  { kind: 'ok' | 'error', id, content }; after 'open': { kind: 'complete' |
//                  'complete-error', id, content } once every weight group is in (or failed).

import { UniVidError } from './errors.js';

/** The load options that travel to the worker (callbacks and signals stay on the page). */
const OPEN_OPTIONS = ['backend', 'threads', 'measure', 'cache', 'stallTimeoutMs', 'engineBase'];

/** Just the travelling load options of `options`, on either side. */
export function openOptions(options) {
  return Object.fromEntries(OPEN_OPTIONS.map((name) => [name, options[name]]));
}

/** An error as it crosses to the page (structured clone keeps no class). */
export function errorContent(e) {
  return { name: e?.name, code: e?.code ?? 'INTERNAL', detail: e?.detail, message: e?.message ?? String(e) };
}

/** The error back on the page side. */
export function revive({ code, detail, message }) {
  return new UniVidError(code ?? 'INTERNAL', message, { detail });
}
