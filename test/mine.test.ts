import { describe, expect, it } from 'vitest';

import { Bm25Index, bm25Retriever, mineNegatives, reciprocalRankFusion, scoreSumFusion, type Ranking, type Retriever } from '../lib/index.js';

const ranking = (ids: string[]): Ranking => ({ docIds: ids, scores: Float64Array.from(ids, (_, i) => 10 - i) });
const fixed = (ids: string[]): Retriever => () => ranking(ids);
const docs = Array.from({ length: 30 }, (_, i) => `d${i}`);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('fusion', () => {
  it('reciprocal-rank fusion sums 1/(60 + rank)', () => {
    const f = reciprocalRankFusion([ranking(['a', 'b', 'c']), ranking(['c', 'a'])]);
    expect(f.docIds).toEqual(['a', 'c', 'b']);
    expect(f.scores[0]).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(f.scores[1]).toBeCloseTo(1 / 63 + 1 / 61, 12);
  });
  it('score-sum fusion sums max-normalised scores', () => {
    const f = scoreSumFusion([{ docIds: ['a', 'b'], scores: [4, 2] }, { docIds: ['b', 'c'], scores: [10, 5] }]);
    expect(f.docIds).toEqual(['b', 'a', 'c']);
    expect(Array.from(f.scores)).toEqual([1.5, 1, 0.5]);
  });
});

describe('mineNegatives', () => {
  const queries = [{ id: 'q1', text: 'x' }, { id: 'q2', text: 'y' }, { id: 'q3', text: 'unjudged' }];
  const qrels = { q1: { d0: 1, d3: 2, d5: 0 }, q2: { d7: 1 } };

  it('removes positives, samples the rank range, and is deterministic per seed', async () => {
    const opts = { depth: 20, ranks: [2, 12] as [number, number], count: 4, seed: 7 };
    const a = await collect(mineNegatives(queries, qrels, { bm25: fixed(docs) }, opts));
    expect(a.map((r) => r.qid)).toEqual(['q1', 'q2']); // q3 has no positive
    expect(a[0].pos.sort()).toEqual(['d0', 'd3']); // grade 0 is not a positive
    // Ranking without positives for q1: d1 d2 d4 d5 d6 ...; ranks 2..12 are d2 .. d13 minus d3.
    const allowed = docs.filter((d) => d !== 'd0' && d !== 'd3').slice(1, 12);
    for (const d of a[0].neg.bm25) expect(allowed).toContain(d);
    expect(a[0].neg.bm25).toHaveLength(4);
    expect(new Set(a[0].neg.bm25).size).toBe(4);
    // Sampled negatives keep their ranked order.
    expect([...a[0].neg.bm25].sort((x, y) => allowed.indexOf(x) - allowed.indexOf(y))).toEqual(a[0].neg.bm25);
    const b = await collect(mineNegatives(queries, qrels, { bm25: fixed(docs) }, opts));
    expect(b).toEqual(a);
    // A query's negatives do not depend on the other queries.
    const alone = await collect(mineNegatives([queries[1]], qrels, { bm25: fixed(docs) }, opts));
    expect(alone[0]).toEqual(a[1]);
    const c = await collect(mineNegatives(queries, qrels, { bm25: fixed(docs) }, { ...opts, seed: 8 }));
    expect(c.map((r) => r.neg.bm25)).not.toEqual(a.map((r) => r.neg.bm25));
  });

  it('keeps each retriever apart and adds the fused ranking', async () => {
    const rev = [...docs].reverse();
    const recs = await collect(mineNegatives(queries, qrels, { bm25: fixed(docs), splade: fixed(rev) }, { depth: 5, count: 10, fusion: 'rrf' }));
    expect(Object.keys(recs[0].neg)).toEqual(['bm25', 'splade', 'fused']);
    expect(recs[0].neg.bm25).toEqual(['d1', 'd2', 'd4']); // top 5 minus positives d0, d3
    expect(recs[0].neg.splade).toEqual(['d29', 'd28', 'd27', 'd26', 'd25']);
    // Fused top 5 is d0 d29 d1 d28 d2 (equal RRF scores: lower id first); d0 is a positive.
    expect(recs[0].neg.fused).toEqual(['d29', 'd1', 'd28', 'd2']);
  });

  it('mines with a real BM25 index', async () => {
    const corpus = [{ id: 'a', text: 'cats purr softly' }, { id: 'b', text: 'cats and dogs' }, { id: 'c', text: 'dogs bark' }, { id: 'd', text: 'birds sing' }];
    const index = Bm25Index.build(corpus);
    const recs = await collect(mineNegatives([{ id: 'q', text: 'cats' }], { q: { a: 1 } }, { bm25: bm25Retriever(index) }, { depth: 10 }));
    expect(recs[0].neg.bm25).toEqual(['b']);
  });

  it('checks its options', async () => {
    await expect(collect(mineNegatives(queries, qrels, {}))).rejects.toThrow(/at least one retriever/);
    await expect(collect(mineNegatives(queries, qrels, { bm25: fixed(docs) }, { depth: 10, ranks: [5, 20] }))).rejects.toThrow(/ranks\[1\]/);
    await expect(collect(mineNegatives(queries, qrels, { bm25: fixed(docs) }, { fusion: 'max' as never }))).rejects.toThrow(/fusion/);
  });
});
