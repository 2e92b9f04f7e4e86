// Text ↔ video retrieval on top of the model's shared space: clips and texts embed to unit
// vectors, so a dot product is a cosine similarity. An index is plain data (ids + one
// Float32Array), saved and restored as JSON, and tagged with the model that made it: vectors of
// two different models live in unrelated spaces and must never be compared.

import { UniVidError } from './errors.js';

export const INDEX_FORMAT = 'univid-index';

export class EmbeddingIndex {
  #vectors;

  /**
   * @param {number} dim vector length (the model's `embed_dim`)
   * @param {string} space the model fingerprint the vectors belong to (`model.space`)
   */
  constructor(dim, space) {
    if (!Number.isInteger(dim) || dim < 1) throw new UniVidError('BAD_INPUT', `dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.space = String(space);
    this.ids = [];
    this.#vectors = new Float32Array(0);
  }

  get size() {
    return this.ids.length;
  }

  /** All vectors, row after row (a copy). */
  get vectors() {
    return this.#vectors.slice();
  }

  /** Adds one vector under `id` (any JSON value: a name, a URL, a number). */
  add(id, vector) {
    const v = checkVector(vector, this.dim);
    const grown = new Float32Array(this.#vectors.length + this.dim);
    grown.set(this.#vectors);
    grown.set(v, this.#vectors.length);
    this.#vectors = grown;
    this.ids.push(id);
    return this;
  }

  /** The `k` best matches of a query vector: `[{ id, index, score }]`, best first. */
  search(vector, { k = 5 } = {}) {
    const q = checkVector(vector, this.dim);
    if (!Number.isInteger(k) || k < 1) throw new UniVidError('BAD_INPUT', `k must be a positive integer, got ${k}`);
    const scored = this.ids.map((id, index) => {
      let score = 0;
      for (let i = 0, at = index * this.dim; i < this.dim; i += 1) score += q[i] * this.#vectors[at + i];
      return { id, index, score };
    });
    scored.sort((a, b) => b.score - a.score || a.index - b.index);
    return scored.slice(0, k);
  }

  toJSON() {
    return { format: INDEX_FORMAT, version: 1, dim: this.dim, space: this.space, ids: this.ids, vectors: Array.from(this.#vectors) };
  }

  /** Restores `toJSON()` output (an object or its JSON text); checks shape and values. */
  static fromJSON(json) {
    let data = json;
    if (typeof json === 'string') {
      try { data = JSON.parse(json); } catch (e) { throw new UniVidError('BAD_INPUT', `not JSON: ${e.message}`); }
    }
    if (data?.format !== INDEX_FORMAT || data.version !== 1) {
      throw new UniVidError('UNSUPPORTED', `not a ${INDEX_FORMAT} v1 document (format ${data?.format}, version ${data?.version})`);
    }
    const { dim, space, ids, vectors } = data;
    if (!Array.isArray(ids) || !Array.isArray(vectors) || vectors.length !== ids.length * dim) {
      throw new UniVidError('BAD_INPUT', `the index holds ${ids?.length} ids but ${vectors?.length} values (dim ${dim})`);
    }
    const index = new EmbeddingIndex(dim, space);
    ids.forEach((id, i) => index.add(id, vectors.slice(i * dim, (i + 1) * dim)));
    return index;
  }
}

function checkVector(vector, dim) {
  const v = vector instanceof Float32Array ? vector : Float32Array.from(vector ?? []);
  if (v.length !== dim) throw new UniVidError('BAD_INPUT', `expected a vector of ${dim} values, got ${v.length}`);
  if (!v.every(Number.isFinite)) throw new UniVidError('BAD_INPUT', 'the vector holds a non-finite value');
  return v;
}

/** A short, stable fingerprint of a model: FNV-1a over its shard hashes. */
export function modelSpace(manifest) {
  let h = 0x811c9dc5;
  for (const c of manifest.shards.map((s) => s.sha256).join('')) {
    h ^= c.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `univid:${h.toString(16).padStart(8, '0')}`;
}
