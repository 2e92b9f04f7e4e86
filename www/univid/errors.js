// One error class for everything the package throws, with a stable `code` to branch on.

/** Codes: BAD_INPUT, OUT_OF_VOCABULARY, INTEGRITY, UNSUPPORTED, NETWORK, ABORTED, NOT_LOADED,
 * DEVICE_LOST, BACKEND, INTERNAL. The message says what happened and what to do. */
export class UniVidError extends Error {
  constructor(code, message, { cause, detail } = {}) {
    super(message, { cause });
    this.name = 'UniVidError';
    this.code = code;
    /** The engine's finer-grained reason (e.g. `shard-hash`, `unknown-words`), when there is one. */
    this.detail = detail;
  }
}

// The wasm engine's kebab-case codes (crate/src/web.rs), grouped into the package's public codes;
// tests/browser/errors.test.mjs checks that the two lists match.
export const ENGINE_CODES = {
  'bad-input': 'BAD_INPUT',
  'bad-clip': 'BAD_INPUT',
  'empty-text': 'BAD_INPUT',
  'text-too-long': 'BAD_INPUT',
  grammar: 'BAD_INPUT',
  data: 'BAD_INPUT',
  'unknown-words': 'OUT_OF_VOCABULARY',
  'bad-manifest': 'INTEGRITY',
  'shard-size': 'INTEGRITY',
  'shard-hash': 'INTEGRITY',
  'bad-shard': 'INTEGRITY',
  'bad-weights': 'INTEGRITY',
  'unsupported-version': 'UNSUPPORTED',
  'too-large': 'UNSUPPORTED',
  'not-loaded': 'NOT_LOADED',
  'no-model': 'NOT_LOADED',
  superseded: 'ABORTED',
  cancelled: 'ABORTED',
  backend: 'BACKEND',
  'device-lost': 'DEVICE_LOST',
};

/** The error an aborted call rejects with. */
export function aborted() {
  return new UniVidError('ABORTED', 'the call was aborted (its AbortSignal fired)');
}

/** Wraps whatever the engine threw (a JS Error with a kebab-case `code`) as a UniVidError. */
function fromEngineError(e) {
  if (e instanceof UniVidError) return e;
  const detail = e?.code;
  const code = ENGINE_CODES[detail] ?? 'INTERNAL';
  return new UniVidError(code, e?.message ?? String(e), { cause: e, detail });
}

/** Runs an engine call (sync or async), turning what it throws into a UniVidError. */
export async function engineCall(fn) {
  try {
    return await fn();
  } catch (e) {
    throw fromEngineError(e);
  }
}
