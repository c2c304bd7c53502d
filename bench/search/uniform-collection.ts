// `uniform`: Zipfian terms with weights independent of term frequency. Learned sparse models give
// frequent terms weights as large as rare ones ("wacky weights", Mackenzie, Trotman and Lin), which
// takes away the bounds that let dynamic pruning skip the long lists.
//
// Statistics (fixed before any run; they define the collection):
// - vocabulary 30,522 term ids; term frequency Zipfian over ranks (s = 1), ranks shuffled onto term
//   ids by a seeded permutation (mulberry32(seed), Fisher-Yates);
// - a document: L uniform in 60..180 distinct terms (mean 120); terms drawn from the Zipfian law,
//   repeats drawn again (L is always reached: the law has 30,522 terms);
// - a document weight: log-normal, exp(0.6 z), z standard normal (median 1, mean 1.20), drawn for
//   each posting independently of the term;
// - a query: L uniform in 10..40 distinct terms (mean 25) from the same Zipfian law; weights
//   exp(0.8 z), independent of the term;
// - documents from mulberry32(seed + 1) after nothing else; queries from mulberry32(seed + QUERY_STREAM).
import type { SparseVector } from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';
import { QUERY_STREAM, type BenchCollection } from './collection.js';
import { AliasTable, VectorBuilder, shuffledRange, standardNormal, uniformInt, zipfWeights } from './sampling.js';

const VOCAB = 30522;
const ZIPF_S = 1.0;
const DOC_TERMS = [60, 180] as const, DOC_SIGMA = 0.6;
const QUERY_TERMS = [10, 40] as const, QUERY_SIGMA = 0.8;

export function uniformCollection(seed: number): BenchCollection {
  const zipf = new AliasTable(zipfWeights(VOCAB, ZIPF_S));
  const perm = shuffledRange(VOCAB, mulberry32(seed));

  function* generate(count: number, [lo, hi]: readonly [number, number], sigma: number, r: () => number): Generator<SparseVector> {
    const builder = new VectorBuilder(VOCAB, hi);
    const weight = () => Math.exp(sigma * standardNormal(r));
    for (let d = 0; d < count; d++) {
      const len = uniformInt(r, lo, hi);
      builder.reset();
      while (builder.length < len) builder.add(perm[zipf.sample(r())], 0);
      yield builder.finish(weight);
    }
  }

  return {
    name: 'uniform',
    vocabSize: VOCAB,
    maxDocs: Infinity,
    description: 'synthetic: 30,522 terms, Zipfian (s = 1), 60-180 terms a document (mean 120), 10-40 a query (mean 25), log-normal weights (sigma 0.6 documents, 0.8 queries) independent of term frequency',
    documents: (count) => generate(count, DOC_TERMS, DOC_SIGMA, mulberry32(seed + 1)),
    queries: (count) => [...generate(count, QUERY_TERMS, QUERY_SIGMA, mulberry32(seed + QUERY_STREAM))],
  };
}
