// Weighted fusion of a BM25 and a SPLADE run (score normalisations, weights, floors), and the
// inference-free idf queries.
import { describe, expect, it } from 'vitest';

import { fuseRuns, normaliseScores, weightedFusion } from '../lib/eval/fusion.js';
import { WordPieceIdf, bm25QueryText } from '../lib/model/idf-query.js';

describe('score normalisation', () => {
  const s = { a: 4, b: 2, c: 0 };
  it('max, min-max and z-score per query, with the floor a missing document gets', () => {
    const max = normaliseScores(s, 'max');
    expect([...max.values.values()]).toEqual([1, 0.5, 0]);
    expect(max.floor).toBe(0);
    const mm = normaliseScores({ a: 5, b: 3, c: 1 }, 'minmax');
    expect([...mm.values.values()]).toEqual([1, 0.5, 0]);
    const z = normaliseScores(s, 'zscore');
    const sd = Math.sqrt(8 / 3);
    expect(z.values.get('a')).toBeCloseTo(2 / sd, 12);
    expect(z.values.get('b')).toBeCloseTo(0, 12);
    expect(z.floor).toBeCloseTo(-2 / sd, 12);
    expect(normaliseScores({ a: 3, b: 3 }, 'zscore').values.get('a')).toBe(0);
    expect(() => normaliseScores(s, 'l2' as never)).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
  });
});

describe('weightedFusion', () => {
  const bm = { q: { a: 4, b: 2, c: 1 } }, sp = { q: { b: 10, d: 5 } };
  it('with max-normalisation and weight 1 it is the score-sum fusion', () => {
    const w = weightedFusion([bm, sp], [1, 1], 'max', 3), ref = fuseRuns([bm, sp], 'sum', 3);
    expect(Object.keys(w.q)).toEqual(Object.keys(ref.q));
    for (const d of Object.keys(ref.q)) expect(w.q[d]).toBeCloseTo(ref.q[d], 12);
  });
  it('the weight moves the order; a missing document gets the run floor', () => {
    expect(Object.keys(weightedFusion([bm, sp], [1, 0.1], 'max', 10).q)).toEqual(['a', 'b', 'c', 'd']);
    expect(Object.keys(weightedFusion([bm, sp], [1, 3], 'max', 10).q)).toEqual(['b', 'd', 'a', 'c']);
    const z = weightedFusion([bm, sp], [1, 1], 'zscore', 10).q;
    // d: BM25 floor (c's z-score) + SPLADE z of 5 among {10, 5} (-1)
    const zc = normaliseScores(bm.q, 'zscore').values.get('c')!;
    expect(z.d).toBeCloseTo(zc - 1, 12);
  });
  it('rejects a weight per run mismatch and negative weights', () => {
    expect(() => weightedFusion([bm, sp], [1], 'max', 3)).toThrow(/2 weights/);
    expect(() => weightedFusion([bm, sp], [1, -1], 'max', 3)).toThrow(/weights\[1\]/);
  });
});

describe('WordPieceIdf', () => {
  const pieces = (t: string) => t.split(' ').filter(Boolean).map((w) => w.charCodeAt(0));
  it('weights each query piece by count x BM25 idf over the documents', () => {
    const idf = new WordPieceIdf(pieces);
    for (const d of ['a b', 'a c', 'a', 'b d']) idf.add(d);
    const N = 4, bm = (df: number) => Math.log(1 + (N - df + 0.5) / (df + 0.5));
    expect(idf.idf(97)).toBeCloseTo(bm(3), 12);
    expect(idf.idf(122)).toBe(0);
    const q = idf.query('b b a z');
    expect(Array.from(q.indices)).toEqual([97, 98]);
    expect(q.values[0]).toBeCloseTo(bm(3), 6);
    expect(q.values[1]).toBeCloseTo(2 * bm(2), 6);
    expect(() => new WordPieceIdf('x' as never)).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
  });
});

describe('bm25QueryText', () => {
  it('keeps the words the BM25 baseline keeps: no stop words, single letters or punctuation', () => {
    expect(bm25QueryText('The theory of I/O: a survey, (part 2) and  Wing-Body tests.')).toBe('theory survey part wing body tests');
    expect(bm25QueryText('of the a')).toBe('');
    // no stemming: BM25 here does not stem either
    expect(bm25QueryText('computers computing')).toBe('computers computing');
  });
});
