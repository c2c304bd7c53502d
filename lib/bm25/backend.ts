/*
 * Search backends for Bm25Index. BM25 here is a dot product: documents are SparseVectors of
 * precomputed BM25 term weights, queries SparseVectors of term counts, so any engine that scores
 * sum_t q[t] * d[t] exactly can serve it.
 *
 * TaatBackend is the exact reference: in-memory postings (CSR by term), a term-at-a-time Float64
 * accumulator over all documents, and a size-k heap. It is the oracle the native index is tested
 * against, and the backend that save()/open() persist today.
 *
 * Result order of every backend: score descending, then internal document number ascending (the
 * order documents were added) - so the top k is deterministic when scores tie at the cut.
 */
import type { SparseVector } from '../sparse.js';

export interface BackendResult {
  /** Internal document numbers (0-based, in build order). */
  ids: Uint32Array;
  scores: Float32Array;
}

export interface Bm25SearchBackend {
  readonly kind: 'ts' | 'native';
  readonly numDocs: number;
  readonly numPostings: number;
  search(q: SparseVector, k: number): BackendResult;
}

/** Documents as one flat CSR block: doc i has terms[offsets[i], offsets[i+1]) (ascending) and weights. */
export interface DocVectors {
  numDocs: number;
  numTerms: number;
  offsets: Float64Array; // (numDocs + 1)
  terms: Uint32Array; // (numPostings)
  weights: Float32Array; // (numPostings)
}

/** The documents as SparseVector views (no copies), e.g. for InvertedIndex.build. */
export function* docVectorViews(d: DocVectors): Generator<SparseVector> {
  for (let i = 0; i < d.numDocs; i++) {
    const a = d.offsets[i];
    const b = d.offsets[i + 1];
    yield { indices: d.terms.subarray(a, b), values: d.weights.subarray(a, b) };
  }
}

export class TaatBackend implements Bm25SearchBackend {
  readonly kind = 'ts' as const;
  private acc: Float64Array | undefined;
  private touched: Uint32Array | undefined;

  /**
   * @param termOffsets (numTerms + 1): term t's postings are [termOffsets[t], termOffsets[t+1])
   * @param postDocs    (numPostings): document numbers, ascending within a term
   * @param postWeights (numPostings): BM25 weights, > 0
   */
  constructor(
    readonly numDocs: number,
    readonly termOffsets: Float64Array,
    readonly postDocs: Uint32Array,
    readonly postWeights: Float32Array,
  ) {}

  get numTerms(): number {
    return this.termOffsets.length - 1;
  }

  get numPostings(): number {
    return this.postDocs.length;
  }

  /** Transposes document vectors into term-major postings (counting sort; doc order kept). */
  static fromDocVectors(d: DocVectors): TaatBackend {
    const n = d.terms.length;
    const termOffsets = new Float64Array(d.numTerms + 1);
    for (let i = 0; i < n; i++) termOffsets[d.terms[i] + 1]++;
    for (let t = 0; t < d.numTerms; t++) termOffsets[t + 1] += termOffsets[t];
    const fill = termOffsets.slice(0, d.numTerms);
    const postDocs = new Uint32Array(n);
    const postWeights = new Float32Array(n);
    for (let doc = 0; doc < d.numDocs; doc++) {
      for (let p = d.offsets[doc]; p < d.offsets[doc + 1]; p++) {
        const slot = fill[d.terms[p]]++;
        postDocs[slot] = doc;
        postWeights[slot] = d.weights[p];
      }
    }
    return new TaatBackend(d.numDocs, termOffsets, postDocs, postWeights);
  }

  search(q: SparseVector, k: number): BackendResult {
    const acc = (this.acc ??= new Float64Array(this.numDocs));
    const touched = (this.touched ??= new Uint32Array(this.numDocs));
    let nTouched = 0;
    for (let j = 0; j < q.indices.length; j++) {
      const t = q.indices[j];
      if (t >= this.numTerms) continue;
      const qw = q.values[j];
      for (let p = this.termOffsets[t], end = this.termOffsets[t + 1]; p < end; p++) {
        const doc = this.postDocs[p];
        if (acc[doc] === 0) touched[nTouched++] = doc; // weights are > 0, so 0 means "not yet seen"
        acc[doc] += qw * this.postWeights[p];
      }
    }
    const heap = new TopK(Math.min(k, nTouched));
    for (let i = 0; i < nTouched; i++) {
      const doc = touched[i];
      heap.push(doc, acc[doc]);
      acc[doc] = 0;
    }
    return heap.sorted();
  }
}

/**
 * Keeps the k best (score desc, doc asc) of a stream: a binary min-heap on the "worst" entry.
 */
export class TopK {
  private readonly docs: Uint32Array;
  private readonly scores: Float64Array;
  private size = 0;

  constructor(readonly k: number) {
    this.docs = new Uint32Array(k);
    this.scores = new Float64Array(k);
  }

  /** True when (aS, aD) ranks below (bS, bD). */
  private static worse(aS: number, aD: number, bS: number, bD: number): boolean {
    return aS < bS || (aS === bS && aD > bD);
  }

  push(doc: number, score: number): void {
    if (this.k === 0) return;
    const { docs, scores } = this;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!TopK.worse(score, doc, scores[parent], docs[parent])) break;
        docs[i] = docs[parent];
        scores[i] = scores[parent];
        i = parent;
      }
      docs[i] = doc;
      scores[i] = score;
      return;
    }
    if (!TopK.worse(scores[0], docs[0], score, doc)) return; // not better than the current worst
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const c = r < this.size && TopK.worse(scores[r], docs[r], scores[l], docs[l]) ? r : l;
      if (!TopK.worse(scores[c], docs[c], score, doc)) break;
      docs[i] = docs[c];
      scores[i] = scores[c];
      i = c;
    }
    docs[i] = doc;
    scores[i] = score;
  }

  sorted(): BackendResult {
    const order = Array.from({ length: this.size }, (_, i) => i);
    order.sort((a, b) => (this.scores[b] - this.scores[a]) || (this.docs[a] - this.docs[b]));
    const ids = new Uint32Array(this.size);
    const scores = new Float32Array(this.size);
    order.forEach((j, i) => {
      ids[i] = this.docs[j];
      scores[i] = this.scores[j];
    });
    return { ids, scores };
  }
}
