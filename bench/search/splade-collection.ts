// `splade`: the search benchmark's original synthetic collection (bench/RESULTS.md "Search"), with
// frequent terms weighted lower, as SPLADE's FLOPS regularisation tends to make them.
//
// Statistics (fixed; they define the collection):
// - vocabulary 30,522 term ids; term frequency Zipfian over ranks (s = 1), ranks shuffled onto
//   term ids by a seeded permutation;
// - a document: length L = max(1, round(120 (0.5 + u))), u uniform in [0, 1): 60..180 terms, mean
//   120; terms drawn from the Zipfian law, repeats dropped, at most 4L draws (so a few documents
//   come out a term or two short);
// - a weight: exp(0.6 g) x max(0.05, (ln(1 + rank) / ln 30522)^2), g = (u1 + u2 + u3 + u4 - 2) x 1.7
//   (near-normal, sd 0.98): log-normal, times an idf-like factor from 0.05 for the most frequent
//   terms to 1 for the rarest;
// - a query: the same with mean 25 terms (13..38) and exp(0.8 g).
// Documents are the bit-for-bit same as the generator of the earlier RESULTS (mulberry32(seed):
// the permutation, then the documents in order). Queries now come from their own stream
// (mulberry32(seed + QUERY_STREAM)) rather than after the last document, so that they do not
// depend on the number of documents: the query set differs from the earlier RESULTS' one.
import type { SparseVector } from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';
import { QUERY_STREAM, type BenchCollection } from './collection.js';
import { CdfTable, VectorBuilder, shuffledRange, zipfWeights } from './sampling.js';

const VOCAB = 30522;
const ZIPF_S = 1.0;
const DOC_TERMS = 120, DOC_SPREAD = 0.6;
const QUERY_TERMS = 25, QUERY_SPREAD = 0.8;

export function spladeCollection(seed: number): BenchCollection {
  const zipf = new CdfTable(zipfWeights(VOCAB, ZIPF_S));
  const perm = shuffledRange(VOCAB, mulberry32(seed));
  const rankOf = new Uint32Array(VOCAB);
  for (let i = 0; i < VOCAB; i++) rankOf[perm[i]] = i;
  const logV = Math.log(VOCAB);
  const idf = (term: number) => {
    const lr = Math.log(1 + rankOf[term]) / logV;
    return Math.max(0.05, lr * lr);
  };

  function* generate(count: number, meanTerms: number, spread: number, r: () => number): Generator<SparseVector> {
    const builder = new VectorBuilder(VOCAB, Math.ceil(meanTerms * 1.5) + 1);
    const weight = (term: number) => Math.exp(spread * (r() + r() + r() + r() - 2) * 1.7) * idf(term);
    for (let d = 0; d < count; d++) {
      const len = Math.max(1, Math.round(meanTerms * (0.5 + r())));
      builder.reset();
      for (let tries = 0; builder.length < len && tries < len * 4; tries++) builder.add(perm[zipf.sample(r())], 0);
      yield builder.finish(weight);
    }
  }

  return {
    name: 'splade',
    vocabSize: VOCAB,
    maxDocs: Infinity,
    description: 'synthetic, SPLADE-like: 30,522 terms, Zipfian (s = 1), 60-180 terms a document (mean 120), 13-38 a query (mean 25), log-normal weights times an idf-like factor (frequent terms weigh less)',
    documents(count) {
      const r = mulberry32(seed);
      shuffledRange(VOCAB, r); // the permutation's draws come first in the document stream
      return generate(count, DOC_TERMS, DOC_SPREAD, r);
    },
    queries(count) {
      return [...generate(count, QUERY_TERMS, QUERY_SPREAD, mulberry32(seed + QUERY_STREAM))];
    },
  };
}
