/*
 * Hard-negative mining, as SPLADE++ trains on: for each training query, candidates from one or more
 * retrievers (BM25, a SPLADE model, or several fused), the known positives removed, then sampled by
 * rank range and count. Output records have the shape of the widely used MS MARCO hard-negatives
 * files: {"qid", "pos": [...], "neg": {"bm25": [...], "splade": [...], "fused": [...]}}.
 * Deterministic for a seed: sampling uses a seeded PRNG keyed by the query id, so a query's negatives
 * do not depend on the order or the set of other queries.
 */
import { ErrorCode, SpladeError, expectInteger, expectOneOf } from './errors.js';
import type { Qrels, Query } from './data/types.js';
import { reciprocalRankFusion, scoreSumFusion, type Ranking } from './eval/fusion.js';
import { hashSeed, mulberry32 } from './random.js';

/** A retriever: the top `depth` documents for a query. */
export type Retriever = (query: Query, depth: number) => Promise<Ranking> | Ranking;

export interface MineOptions {
  /** Candidates taken from each retriever (default 100). */
  depth?: number;
  /** 1-based rank range (inclusive) to sample from, after positives are removed (default [1, depth]). */
  ranks?: [number, number];
  /** Negatives sampled per retriever (default 8); fewer when the range holds fewer. */
  count?: number;
  /** Also fuse the retrievers' rankings (key "fused"): reciprocal-rank fusion (k = 60) or the sum of max-normalised scores. */
  fusion?: 'rrf' | 'sum' | 'none';
  seed?: number;
}

export interface NegativesRecord {
  qid: string;
  pos: string[];
  neg: Record<string, string[]>;
}

/** count items drawn without replacement from the list, in their ranked order. */
function sample(list: string[], count: number, rand: () => number): string[] {
  if (list.length <= count) return list.slice();
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(rand() * list.length));
  return [...picked].sort((a, b) => a - b).map((i) => list[i]);
}

export async function* mineNegatives(
  queries: Iterable<Query> | AsyncIterable<Query>,
  qrels: Qrels,
  retrievers: Record<string, Retriever>,
  opts: MineOptions = {},
): AsyncGenerator<NegativesRecord> {
  const names = Object.keys(retrievers);
  if (names.length === 0) throw new SpladeError('mineNegatives needs at least one retriever', ErrorCode.invalidArgument);
  const depth = expectInteger('depth', opts.depth ?? 100, 1, 10_000);
  const [from, to] = opts.ranks ?? [1, depth];
  expectInteger('ranks[0]', from, 1, depth);
  expectInteger('ranks[1]', to, from, depth);
  const count = expectInteger('count', opts.count ?? 8, 1);
  const fusion = expectOneOf('fusion', opts.fusion ?? 'none', ['rrf', 'sum', 'none'] as const);
  const seed = expectInteger('seed', opts.seed ?? 0, 0, 2 ** 31 - 1);
  for await (const q of queries) {
    const judged = qrels[q.id];
    const pos = judged ? Object.keys(judged).filter((d) => judged[d] > 0) : [];
    if (pos.length === 0) continue; // nothing to train on
    const posSet = new Set(pos);
    const rankings: Record<string, Ranking> = {};
    for (const name of names) rankings[name] = await retrievers[name](q, depth);
    if (fusion !== 'none') {
      const all = names.map((n) => rankings[n]);
      rankings.fused = fusion === 'rrf' ? reciprocalRankFusion(all) : scoreSumFusion(all);
    }
    const neg: Record<string, string[]> = {};
    for (const [name, ranking] of Object.entries(rankings)) {
      const candidates = ranking.docIds.slice(0, depth).filter((d) => !posSet.has(d)).slice(from - 1, to);
      neg[name] = sample(candidates, count, mulberry32(hashSeed(seed, `${name}\u0000${q.id}`)));
    }
    yield { qid: q.id, pos, neg };
  }
}

/** A BM25 index as a retriever. */
export function bm25Retriever(index: { search(q: string, o: { k: number }): { docIds: string[]; scores: Float32Array } }): Retriever {
  return (q, depth) => index.search(q.text, { k: depth });
}

/** A SPLADE model and an InvertedIndex of its document vectors as a retriever. */
export function spladeRetriever(
  model: { encode(texts: string[], o: { kind: 'query' }): Promise<{ indices: Uint32Array; values: Float32Array }[]> },
  index: { search(q: { indices: Uint32Array; values: Float32Array }, o: { k: number }): { docIds?: string[]; ids: Uint32Array; scores: Float32Array } },
): Retriever {
  return async (q, depth) => {
    const [v] = await model.encode([q.text], { kind: 'query' });
    const r = index.search(v, { k: depth });
    return { docIds: r.docIds ?? Array.from(r.ids, String), scores: r.scores };
  };
}
