// Progressive, verified loading of a packed model (manifest.json + safetensors shards).
//
// Shards arrive in group order (core → understand → generate). Each one is fetched as a stream
// (progress per chunk) or read from the caller's files, handed whole to the wasm engine, which
// checks its size and sha256 and decodes it before keeping anything: a bad shard changes nothing.
// Verified shards are kept in the Cache API (storage.js), so a second visit makes no weight
// requests; when the cache is missing or full the shard simply stays in memory (a `warning` event
// says so).

import { UniVidError, engineCall } from './errors.js';
import { shardCache, cachedShard, keepShard, keepManifest } from './storage.js';

/** A manifest larger than this is refused (as the engine does). */
const MANIFEST_LIMIT = 16 << 20;

/** Default for `stallTimeoutMs`: a connection that sends nothing for this long is given up. */
export const STALL_TIMEOUT_MS = 30_000;

/** A signal for one transfer: it fires when the caller's does, or when `stallMs` pass without a
 * `kick()` (no response, no bytes): a server that stops sending must not hang loading forever. */
function transferGuard(signal, stallMs) {
  const controller = new AbortController();
  const follow = () => controller.abort();
  if (signal?.aborted) controller.abort();
  signal?.addEventListener('abort', follow, { once: true });
  let timer = null;
  const guard = {
    signal: controller.signal,
    stalled: false,
    kick() {
      clearTimeout(timer);
      timer = setTimeout(() => { guard.stalled = true; controller.abort(); }, stallMs);
    },
    stop() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', follow);
    },
    /** Why the transfer failed: the caller aborted, the connection stalled, or the network failed. */
    error(url, message) {
      if (guard.stalled) return new UniVidError('NETWORK', `${url}: no data for ${stallMs / 1000} s, giving up (stalled connection)`, { detail: 'stalled' });
      if (signal?.aborted) return new UniVidError('ABORTED', 'loading was aborted');
      return new UniVidError('NETWORK', message);
    },
  };
  guard.kick();
  return guard;
}

/** A successful response for `url`, or the typed reason there is none. */
async function open(url, guard) {
  let response;
  try {
    response = await fetch(url, { signal: guard.signal });
  } catch (e) {
    throw guard.error(url, `could not fetch ${url}: ${e.message ?? e}`);
  }
  if (!response.ok) throw new UniVidError('NETWORK', `${url}: HTTP ${response.status}`);
  guard.kick();
  return response;
}

/** Fetches `url` into one Uint8Array of the expected size, reporting every chunk. */
async function fetchBytes(url, expected, signal, stallMs, onChunk) {
  const guard = transferGuard(signal, stallMs);
  try {
    return await readAll(url, expected, guard, onChunk);
  } finally {
    guard.stop();
  }
}

async function readAll(url, expected, guard, onChunk) {
  const response = await open(url, guard);
  const bytes = new Uint8Array(expected);
  let at = 0;
  const reader = response.body.getReader();
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw guard.error(url, `${url}: the download broke off (${e.message ?? e})`);
    }
    if (chunk.done) break;
    guard.kick();
    if (at + chunk.value.length > expected) {
      reader.cancel();
      throw new UniVidError('INTEGRITY', `${url} is larger than the ${expected} bytes its manifest states`);
    }
    bytes.set(chunk.value, at);
    at += chunk.value.length;
    onChunk(at);
  }
  if (at !== expected) throw new UniVidError('INTEGRITY', `${url} is ${at} bytes, its manifest states ${expected}`);
  return bytes;
}

/** Reads a model's files: over the network from a folder URL (a string), or from files in hand
 * (a Map of file name → Blob / ArrayBuffer / Uint8Array). */
function modelFiles(source, signal, stallMs) {
  if (typeof source === 'string') {
    const base = source.endsWith('/') ? source : `${source}/`;
    return {
      base,
      manifest: () => fetchManifest(`${base}manifest.json`, signal, stallMs),
      shard: (file, expected, onChunk) => fetchBytes(`${base}${file}`, expected, signal, stallMs, onChunk),
    };
  }
  const read = async (name, limit) => {
    const item = source.get(name);
    if (item === undefined) throw new UniVidError('BAD_INPUT', `the model's files lack ${name} (given: ${[...source.keys()].join(', ') || 'none'})`);
    if (limit !== undefined && (item.size ?? item.byteLength) > limit) throw new UniVidError('INTEGRITY', `${name} is too large to be what the manifest expects`);
    return globalThis.Blob && item instanceof Blob ? new Uint8Array(await item.arrayBuffer()) : new Uint8Array(ArrayBuffer.isView(item) ? item.buffer.slice(item.byteOffset, item.byteOffset + item.byteLength) : item);
  };
  return {
    base: null,
    manifest: () => read('manifest.json', MANIFEST_LIMIT),
    async shard(file, expected, onChunk) {
      const bytes = await read(file, expected);
      if (bytes.length !== expected) throw new UniVidError('INTEGRITY', `${file} is ${bytes.length} bytes, its manifest states ${expected}`);
      onChunk(bytes.length);
      return bytes;
    },
  };
}

/**
 * Streams the packed model from `source` (see `modelFiles`) into `engine`.
 *
 * Events (`onProgress`), in order: `manifest`, then per shard `shard-start`, `bytes`…, `shard-done`
 * (with `fromCache`), and `group-ready` as each of core / understand / generate completes.
 * Resolves `understanding` as soon as the model can classify / describe / ask, and `complete`
 * when generation works too.
 */
export function streamModel(engine, source, { onProgress = () => {}, signal, cache: useCache = true, stallTimeoutMs = STALL_TIMEOUT_MS } = {}) {
  const files = modelFiles(source, signal, stallTimeoutMs);
  const emit = (event) => { try { onProgress(event); } catch { /* a throwing listener must not break loading */ } };
  let understandingReady;
  const understanding = new Promise((resolve, reject) => { understandingReady = { resolve, reject }; });
  const complete = (async () => {
    const manifestBytes = await files.manifest();
    const { load, manifest, totalBytes } = await engineCall(() => engine.openManifest(manifestBytes));
    emit({ type: 'manifest', shards: manifest.shards.length, totalBytes, tensors: Object.keys(manifest.tensors).length, quant: manifest.quant });
    const cache = useCache ? await shardCache(emit) : null;
    if (files.base) await keepManifest(cache, files.base, manifestBytes);
    let done = 0;
    const groupsSeen = new Set();
    for (const [index, shard] of manifest.shards.entries()) {
      if (signal?.aborted) throw new UniVidError('ABORTED', 'loading was aborted');
      emit({ type: 'shard-start', index, file: shard.file, group: shard.group, bytes: shard.bytes });
      let bytes = await cachedShard(cache, shard.sha256);
      const fromCache = bytes !== null;
      if (!bytes) {
        bytes = await files.shard(shard.file, shard.bytes, (loaded) => emit({
          type: 'bytes', index, file: shard.file, loaded, total: shard.bytes,
          overallLoaded: done + loaded, overallTotal: totalBytes,
        }));
      }
      const status = await engineCall(() => engine.addShard(load, index, bytes));
      if (!fromCache) await keepShard(cache, shard.sha256, bytes, emit);
      done += shard.bytes;
      emit({ type: 'shard-done', index, file: shard.file, fromCache, tensorsLoaded: status.tensorsLoaded, tensorsTotal: status.tensorsTotal, overallLoaded: done, overallTotal: totalBytes });
      for (const group of status.groupsReady) {
        if (!groupsSeen.has(group)) {
          groupsSeen.add(group);
          emit({ type: 'group-ready', group });
        }
      }
      if (status.understandReady) understandingReady.resolve(manifest);
    }
    return manifest;
  })();
  complete.catch((e) => understandingReady.reject(e));
  return { understanding, complete };
}

/** The manifest: small, size unknown in advance, refused above 16 MiB like the engine does. */
async function fetchManifest(url, signal, stallMs) {
  const guard = transferGuard(signal, stallMs);
  try {
    const response = await open(url, guard);
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MANIFEST_LIMIT) throw new UniVidError('INTEGRITY', `${url} is ${length} bytes: not a manifest`);
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      throw guard.error(url, `${url}: the download broke off (${e.message ?? e})`);
    }
  } finally {
    guard.stop();
  }
}
