// `topical`: documents and queries drawn from a mixture of a few of several hundred topics, the
// structure real collections have and that docid reordering and block-max pruning exploit. Topic
// terms weigh more than background terms; weights are otherwise independent of term frequency.
// Documents come in random order (each one draws its topics independently), not grouped by topic.
//
// Statistics (fixed before any run; they define the collection):
// - vocabulary 30,522 term ids; background term frequency Zipfian over ranks (s = 1), ranks
//   shuffled onto term ids by a seeded permutation (mulberry32(seed), Fisher-Yates);
// - 500 topics (from mulberry32(seed + 2)): topic size uniform in 200..400 distinct terms, drawn
//   from the background Zipfian law (so topics share the frequent terms), then put in a random
//   order; within a topic, term j of that order has probability proportional to 1 / (j + 1)
//   (Zipf, s = 1), so each topic has its own leading terms, frequent or rare in the background;
// - a document: 1..3 distinct topics (uniform count, uniform topics); L uniform in 60..180 distinct
//   terms (mean 120); each term with probability 0.75 from a topic (one of the document's, uniform,
//   then the within-topic law; a repeat is drawn again, at most 64 draws, after which the slot
//   takes a background term) and otherwise from the background law (repeats drawn again);
// - weights: log-normal, exp(0.6 z), z standard normal, for a term drawn from a topic (median 1)
//   and 0.3 exp(0.6 z) for a background term (median 0.3); independent of term frequency;
// - a query: 1..2 topics, L uniform in 10..40 (mean 25), the same 0.75 topic share and medians,
//   sigma 0.8;
// - documents from mulberry32(seed + 1); queries from mulberry32(seed + QUERY_STREAM).
import type { SparseVector } from '../../lib/index.js';
import { mulberry32 } from '../../lib/random.js';
import { QUERY_STREAM, type BenchCollection } from './collection.js';
import { AliasTable, VectorBuilder, shuffledRange, standardNormal, uniformInt, zipfWeights } from './sampling.js';

const VOCAB = 30522;
const ZIPF_S = 1.0;
const TOPICS = 500;
const TOPIC_SIZE = [200, 400] as const;
const TOPIC_SHARE = 0.75;
const TOPIC_DRAWS = 64;
const TOPIC_MEDIAN = 1.0, BACKGROUND_MEDIAN = 0.3;
const DOC = { topics: [1, 3], terms: [60, 180], sigma: 0.6 } as const;
const QUERY = { topics: [1, 2], terms: [10, 40], sigma: 0.8 } as const;
const BACKGROUND = 0, TOPIC = 1;

type Shape = { topics: readonly [number, number]; terms: readonly [number, number]; sigma: number };

export function topicalCollection(seed: number): BenchCollection {
  const background = new AliasTable(zipfWeights(VOCAB, ZIPF_S));
  const perm = shuffledRange(VOCAB, mulberry32(seed));
  const backgroundTerm = (r: () => number) => perm[background.sample(r())];

  // topic t's terms are topicTerms[topicStart[t] .. topicStart[t + 1]), in within-topic rank order
  const topicStart = new Uint32Array(TOPICS + 1);
  const topicTerms = new Uint32Array(TOPICS * TOPIC_SIZE[1]);
  const withinTopic = new Map<number, AliasTable>();
  {
    const r = mulberry32(seed + 2);
    const builder = new VectorBuilder(VOCAB, TOPIC_SIZE[1]);
    for (let t = 0; t < TOPICS; t++) {
      const size = uniformInt(r, TOPIC_SIZE[0], TOPIC_SIZE[1]);
      const drawn: number[] = [];
      builder.reset();
      while (drawn.length < size) {
        const term = backgroundTerm(r);
        if (builder.add(term, 0)) drawn.push(term);
      }
      const order = shuffledRange(size, r);
      for (let j = 0; j < size; j++) topicTerms[topicStart[t] + j] = drawn[order[j]];
      topicStart[t + 1] = topicStart[t] + size;
      if (!withinTopic.has(size)) withinTopic.set(size, new AliasTable(zipfWeights(size, ZIPF_S)));
    }
  }

  function* generate(count: number, shape: Shape, r: () => number): Generator<SparseVector> {
    const builder = new VectorBuilder(VOCAB, shape.terms[1]);
    const chosen = new Uint32Array(shape.topics[1]);
    const weight = (_term: number, source: number) => (source === TOPIC ? TOPIC_MEDIAN : BACKGROUND_MEDIAN) * Math.exp(shape.sigma * standardNormal(r));
    for (let d = 0; d < count; d++) {
      const nTopics = uniformInt(r, shape.topics[0], shape.topics[1]);
      for (let i = 0; i < nTopics; i++) {
        let t: number;
        do t = Math.floor(r() * TOPICS); while (chosen.subarray(0, i).includes(t));
        chosen[i] = t;
      }
      const len = uniformInt(r, shape.terms[0], shape.terms[1]);
      builder.reset();
      while (builder.length < len) {
        let added = false;
        if (r() < TOPIC_SHARE) {
          const t = chosen[Math.floor(r() * nTopics)];
          const start = topicStart[t], size = topicStart[t + 1] - start;
          const law = withinTopic.get(size)!;
          for (let draw = 0; draw < TOPIC_DRAWS && !added; draw++) added = builder.add(topicTerms[start + law.sample(r())], TOPIC);
        }
        while (!added) added = builder.add(backgroundTerm(r), BACKGROUND);
      }
      yield builder.finish(weight);
    }
  }

  return {
    name: 'topical',
    vocabSize: VOCAB,
    maxDocs: Infinity,
    description: 'synthetic, topical: 30,522 terms, 500 topics of 200-400 terms (drawn Zipfian, Zipfian within), documents of 1-3 topics and 60-180 terms (mean 120, 75% from their topics), queries of 1-2 topics and 10-40 terms; log-normal weights, topic terms median 1, background 0.3, independent of term frequency; documents in random order',
    documents: (count) => generate(count, DOC, mulberry32(seed + 1)),
    queries: (count) => [...generate(count, QUERY, mulberry32(seed + QUERY_STREAM))],
  };
}
