// What the package keeps on this origin (the Cache API), and the caller's view of it.
//
// Verified shards are kept under their sha256 (a second visit, or another model sharing a shard,
// makes no weight request); each loaded model's manifest under its URL (so its cached share can be
// reported and deleted offline); the backend decision per GPU adapter. Every read and write here
// tolerates a missing or full cache: keeping is an optimisation, never a requirement.

import { UniVidError } from './errors.js';

const SHARDS = 'univid-shards-v1';
const DECISIONS = 'univid-backend-v1';

/** A key on this origin that is never fetched: `/.univid/<kind>/<name>` (shards keep the path
 * they were first kept under, so caches from earlier versions stay valid). */
function key(kind, name) {
  const path = kind === 'shard' ? `/.univid-shard/${name}` : `/.univid/${kind}/${encodeURIComponent(name)}`;
  return new Request(new URL(path, globalThis.location?.href ?? 'http://localhost/').href);
}

async function openCache(name) {
  return globalThis.caches ? caches.open(name) : null;
}

/** The shard cache for a load, or null (with a `warning` event) when this page has none. */
export async function shardCache(emit) {
  try {
    return await openCache(SHARDS);
  } catch (e) {
    emit({ type: 'warning', message: `no persistent cache (${e.name ?? e}): weights are kept in memory only` });
    return null;
  }
}

export async function cachedShard(cache, sha256) {
  if (!cache) return null;
  try {
    const hit = await cache.match(key('shard', sha256));
    return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
  } catch {
    return null;
  }
}

export async function keepShard(cache, sha256, bytes, emit) {
  if (!cache) return;
  try {
    await cache.put(key('shard', sha256), new Response(bytes));
  } catch (e) {
    emit({ type: 'warning', message: `could not cache a shard (${e.name ?? e}); it stays in memory only` });
  }
}

/** Keeps the manifest of a model loaded from `url` (for `modelCache.status`/`delete` offline). */
export async function keepManifest(cache, url, manifestBytes) {
  if (!cache) return;
  try {
    await cache.put(key('manifest', url), new Response(manifestBytes, { headers: { 'content-type': 'application/json' } }));
  } catch { /* only the offline report loses it */ }
}

/** The backend decision kept for this adapter, or null (no Cache API, nothing kept, unreadable). */
export async function recallDecision(adapter) {
  try {
    const hit = await (await openCache(DECISIONS))?.match(key('backend', adapter));
    return hit ? await hit.json() : null;
  } catch {
    return null;
  }
}

export async function keepDecision(adapter, decision) {
  try {
    await (await openCache(DECISIONS))?.put(key('backend', adapter), new Response(JSON.stringify(decision)));
  } catch { /* not kept: the next load measures again */ }
}

/** The manifest of the model at `url`: from the network, else the copy kept when it was loaded. */
async function manifestOf(url) {
  const absolute = new URL(url, globalThis.location?.href).href;
  const base = absolute.endsWith('/') ? absolute : `${absolute}/`;
  let response = null;
  try {
    const fetched = await fetch(`${base}manifest.json`);
    if (fetched.ok) response = fetched;
  } catch { /* offline: try the kept copy */ }
  response ??= await (await openCache(SHARDS))?.match(key('manifest', base));
  if (!response) throw new UniVidError('NETWORK', `no manifest for ${base}: not reachable, and never loaded on this origin`);
  try {
    return { base, manifest: await response.json() };
  } catch (e) {
    throw new UniVidError('INTEGRITY', `${base}manifest.json is not a manifest (${e.message ?? e})`);
  }
}

function needCache() {
  if (!globalThis.caches) throw new UniVidError('UNSUPPORTED', 'this page has no Cache API (it needs a secure context: https or localhost)');
}

/** The Cache API side of the package; every method needs a secure context (https or localhost). */
export const modelCache = {
  /** How much of the model at `url` is kept here: `{ cachedShards, shards, cachedBytes, totalBytes, complete }`. */
  async status(url) {
    needCache();
    const { manifest } = await manifestOf(url);
    const cache = await openCache(SHARDS);
    let cachedShards = 0;
    let cachedBytes = 0;
    for (const shard of manifest.shards) {
      if (await cache.match(key('shard', shard.sha256))) {
        cachedShards += 1;
        cachedBytes += shard.bytes;
      }
    }
    const totalBytes = manifest.shards.reduce((sum, shard) => sum + shard.bytes, 0);
    return { cachedShards, shards: manifest.shards.length, cachedBytes, totalBytes, complete: cachedShards === manifest.shards.length };
  },

  /** Removes the model at `url` (its shards and kept manifest); resolves the bytes freed. Shards
   * another kept model shares go too: that model downloads them again when next loaded. */
  async delete(url) {
    needCache();
    const { base, manifest } = await manifestOf(url);
    const cache = await openCache(SHARDS);
    let freed = 0;
    for (const shard of manifest.shards) {
      if (await cache.delete(key('shard', shard.sha256))) freed += shard.bytes;
    }
    await cache.delete(key('manifest', base));
    return freed;
  },

  /** Removes everything the package keeps on this origin (every model, the backend decisions). */
  async clear() {
    needCache();
    await Promise.all([caches.delete(SHARDS), caches.delete(DECISIONS)]);
  },

  /** This origin's storage: `{ usage, quota, persisted }` (bytes; what `navigator.storage` reports,
   * so it covers everything the origin stores, not only models). */
  async estimate() {
    const storage = globalThis.navigator?.storage;
    if (!storage?.estimate) throw new UniVidError('UNSUPPORTED', 'this browser has no StorageManager (navigator.storage)');
    const { usage, quota } = await storage.estimate();
    return { usage, quota, persisted: Boolean(await storage.persisted?.()) };
  },

  /** Asks the browser not to evict this origin's storage under pressure (it may say no, e.g. before
   * the user has engaged with the site); resolves whether storage is now persistent. */
  async persist() {
    const storage = globalThis.navigator?.storage;
    if (!storage?.persist) throw new UniVidError('UNSUPPORTED', 'this browser has no StorageManager (navigator.storage)');
    return Boolean(await storage.persist());
  },
};
