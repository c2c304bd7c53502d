// What the search benchmark needs from a collection: documents as a stream that can be run again
// with the same result (deterministic from the seed the collection was made with), and a set of
// queries. Nothing here holds every document: a generated collection makes each one on demand.
import type { SparseVector } from '../../lib/index.js';

export interface BenchCollection {
  readonly name: string;
  readonly vocabSize: number;
  /** How many documents the collection can give (Infinity for a generated one). */
  readonly maxDocs: number;
  /** The collection's statistics in a sentence, for the report. */
  readonly description: string;
  /** The first `count` documents, made on the fly; each call starts again and gives the same vectors. */
  documents(count: number): Iterable<SparseVector> | AsyncIterable<SparseVector>;
  /** External ids of the first `count` documents, when the collection has any (stored in the index). */
  documentIds?(count: number): string[];
  /** `count` queries (fewer when the collection has fewer), the same on every call. */
  queries(count: number): Promise<SparseVector[]> | SparseVector[];
}

/** A generated collection's seed streams: one for the documents, one for the queries. */
export const QUERY_STREAM = 0x5eed_0001;
