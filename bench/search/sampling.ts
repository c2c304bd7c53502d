// Seeded sampling for the synthetic search collections: Zipfian draws (an alias table, O(1) a draw,
// for the streamed collections that go to 8.8M documents; a cumulative table with binary search
// for small supports), a seeded shuffle, standard normals, and the one document builder they share
// (distinct terms, ascending, each with a weight chosen by how the term was drawn).
import type { SparseVector } from '../../lib/index.js';

/** Zipf's law over ranks 0..n-1: weight of rank r is 1 / (r + 1)^s (not normalised). */
export function zipfWeights(n: number, s: number): Float64Array {
  const w = new Float64Array(n);
  for (let r = 0; r < n; r++) w[r] = 1 / Math.pow(r + 1, s);
  return w;
}

/**
 * Vose's alias method: draws index i with probability weights[i] / sum, one uniform a draw. Built
 * deterministically (IEEE arithmetic, fixed order), so the same seed gives the same draws everywhere.
 */
export class AliasTable {
  readonly #prob: Float64Array;
  readonly #alias: Uint32Array;

  constructor(weights: Float64Array) {
    const n = weights.length;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += weights[i];
    const scaled = new Float64Array(n);
    for (let i = 0; i < n; i++) scaled[i] = (weights[i] * n) / sum;
    this.#prob = new Float64Array(n);
    this.#alias = new Uint32Array(n);
    const small: number[] = [], large: number[] = [];
    for (let i = 0; i < n; i++) (scaled[i] < 1 ? small : large).push(i);
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!, l = large.pop()!;
      this.#prob[s] = scaled[s];
      this.#alias[s] = l;
      scaled[l] = scaled[l] + scaled[s] - 1;
      (scaled[l] < 1 ? small : large).push(l);
    }
    for (const i of large) this.#prob[i] = 1;
    for (const i of small) this.#prob[i] = 1; // rounding leftovers: probability 1 up to float error
  }

  /** One draw from a uniform in [0, 1). */
  sample(u: number): number {
    const x = u * this.#prob.length;
    const i = Math.floor(x);
    return x - i < this.#prob[i] ? i : this.#alias[i];
  }
}

/** Cumulative table: draws index i with probability weights[i] / sum by binary search. */
export class CdfTable {
  readonly #cdf: Float64Array;

  constructor(weights: Float64Array) {
    this.#cdf = new Float64Array(weights.length);
    let acc = 0;
    for (let i = 0; i < weights.length; i++) this.#cdf[i] = acc += weights[i];
  }

  sample(u: number): number {
    const cdf = this.#cdf;
    const target = u * cdf[cdf.length - 1];
    let lo = 0, hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < target) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
}

/** A seeded Fisher-Yates permutation of 0..n-1 (n - 1 draws, from the last position down). */
export function shuffledRange(n: number, rand: () => number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  return perm;
}

/** A standard normal from two uniforms (Box-Muller, cosine branch only: draws stay paired). */
export function standardNormal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** A uniform integer in [lo, hi], both included. */
export function uniformInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/**
 * Collects one vector's distinct terms, each tagged with a small "source" (e.g. 0 background,
 * 1 topic) that its weight depends on; then emits them ascending with their weights. Reused from
 * vector to vector: its scratch arrays never grow past the longest vector.
 */
export class VectorBuilder {
  // term << 2 | source: sorting these sorts by term and keeps each term's source beside it
  #keys: Uint32Array;
  #length = 0;
  readonly #stamp: Int32Array;
  #vector = 0;

  constructor(vocabSize: number, maxTerms: number) {
    if (vocabSize >= 1 << 30) throw new Error(`VectorBuilder: vocabulary ${vocabSize} too large for 2 source bits`);
    this.#stamp = new Int32Array(vocabSize).fill(-1);
    this.#keys = new Uint32Array(maxTerms);
  }

  /** Starts a new vector. */
  reset(): void {
    this.#vector++;
    this.#length = 0;
  }

  get length(): number { return this.#length; }

  /** Adds term with source (0..3) unless the vector has it already; true when added. */
  add(term: number, source: number): boolean {
    if (this.#stamp[term] === this.#vector) return false;
    this.#stamp[term] = this.#vector;
    if (this.#length === this.#keys.length) {
      const grown = new Uint32Array(this.#keys.length * 2);
      grown.set(this.#keys);
      this.#keys = grown;
    }
    this.#keys[this.#length++] = (term << 2) | source;
    return true;
  }

  /** The vector (fresh arrays), terms ascending; weight(term, source) is called in that order. */
  finish(weight: (term: number, source: number) => number): SparseVector {
    const keys = this.#keys.subarray(0, this.#length).sort();
    const indices = new Uint32Array(keys.length);
    const values = new Float32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      indices[i] = keys[i] >>> 2;
      values[i] = weight(indices[i], keys[i] & 3);
    }
    return { indices, values };
  }
}
