import { describe, expect, it } from 'vitest';

import { evaluate, SpladeError, type Qrels, type Run } from '../lib/index.js';

const L3 = Math.log2(3);
const L5 = Math.log2(5);

// q1: graded judgments, a relevant document (d4) never retrieved, an unjudged one (d5), a judged
//     non-relevant one (d3).
// q2: score ties (trec_eval: equal scores -> document id descending).
// q3: judged but nothing relevant -> skipped.
// q4: judged relevant, absent from the run -> 0 (missingAsZero) or skipped.
// q5: in the run, not judged -> ignored.
const qrels: Qrels = {
  q1: { d1: 2, d2: 1, d3: 0, d4: 1 },
  q2: { b: 1, x: 0 },
  q3: { z: 0 },
  q4: { y: 1 },
};
const run: Run = {
  q1: { d3: 0.9, d1: 0.8, d5: 0.7, d2: 0.6 },
  q2: { a: 1, b: 1 },
  q3: { z: 5 },
  q5: { w: 1 },
};

describe('evaluate: hand-computed values', () => {
  const metrics = ['ndcg@3', 'ndcg@10', 'mrr@1', 'mrr@10', 'recall@3', 'recall@10', 'p@2', 'p@10', 'map', 'map@2'];
  const r = evaluate(run, qrels, metrics);

  it('q1: graded nDCG, RR, recall, precision, AP', () => {
    // ranking d3(0) d1(2) d5(-) d2(1); ideal grades 2, 1, 1
    const idcg3 = 2 + 1 / L3 + 1 / 2;
    expect(r.perQuery.q1['ndcg@3']).toBeCloseTo((2 / L3) / idcg3, 12);
    expect(r.perQuery.q1['ndcg@10']).toBeCloseTo((2 / L3 + 1 / L5) / idcg3, 12);
    expect(r.perQuery.q1['mrr@1']).toBe(0);
    expect(r.perQuery.q1['mrr@10']).toBe(0.5);
    expect(r.perQuery.q1['recall@3']).toBeCloseTo(1 / 3, 12);
    expect(r.perQuery.q1['recall@10']).toBeCloseTo(2 / 3, 12);
    expect(r.perQuery.q1['p@2']).toBe(0.5);
    expect(r.perQuery.q1['p@10']).toBeCloseTo(0.2, 12);
    expect(r.perQuery.q1.map).toBeCloseTo((1 / 2 + 2 / 4) / 3, 12);
    expect(r.perQuery.q1['map@2']).toBeCloseTo(1 / 2 / 3, 12);
  });

  it('q2: ties are ranked by document id descending, as trec_eval', () => {
    // a and b tie; trec_eval ranks b (the larger id) first, so the relevant b is at rank 1.
    expect(r.perQuery.q2['mrr@1']).toBe(1);
    expect(r.perQuery.q2['ndcg@10']).toBe(1);
    expect(r.perQuery.q2['p@10']).toBeCloseTo(0.1, 12); // divided by k, not by the 2 retrieved
    expect(r.perQuery.q2.map).toBe(1);
    // strcmp order, not numeric: "9" > "10", so "9" comes first and the relevant "10" second.
    const t = evaluate({ q: { '10': 3, '9': 3 } }, { q: { '10': 1 } }, ['mrr@10']);
    expect(t.perQuery.q['mrr@10']).toBe(0.5);
  });

  it('skips queries with no relevant judgment and unjudged run queries; zeros missing ones', () => {
    expect(Object.keys(r.perQuery).sort()).toEqual(['q1', 'q2', 'q4']);
    for (const m of metrics) expect(r.perQuery.q4[m]).toBe(0);
    const mean = (m: string) => (r.perQuery.q1[m] + r.perQuery.q2[m] + 0) / 3;
    for (const m of metrics) expect(r.mean[m]).toBeCloseTo(mean(m), 12);
  });

  it('missingAsZero: false leaves judged queries absent from the run out', () => {
    const s = evaluate(run, qrels, ['mrr@10'], { missingAsZero: false });
    expect(Object.keys(s.perQuery).sort()).toEqual(['q1', 'q2']);
    expect(s.mean['mrr@10']).toBeCloseTo((0.5 + 1) / 2, 12);
  });

  it('accepts trec_eval names and keys results by the name given', () => {
    const s = evaluate(run, qrels, ['ndcg_cut_10', 'recip_rank', 'recall_10', 'P_10', 'map_cut_2', 'NDCG@10', 'ndcg', 'mrr']);
    expect(s.mean.ndcg_cut_10).toBeCloseTo(r.mean['ndcg@10'], 12);
    expect(s.mean['NDCG@10']).toBeCloseTo(r.mean['ndcg@10'], 12);
    expect(s.mean.recip_rank).toBeCloseTo(r.mean['mrr@10'], 12);
    expect(s.mean.recall_10).toBeCloseTo(r.mean['recall@10'], 12);
    expect(s.mean.P_10).toBeCloseTo(r.mean['p@10'], 12);
    expect(s.mean.map_cut_2).toBeCloseTo(r.mean['map@2'], 12);
    expect(s.perQuery.q1.ndcg).toBeCloseTo((2 / L3 + 1 / L5) / (2 + 1 / L3 + 1 / 2), 12);
  });

  it('a perfect run scores 1 everywhere; graded ideal order matters for nDCG', () => {
    const q: Qrels = { q: { a: 1, b: 3, c: 2 } };
    const perfect = evaluate({ q: { b: 3, c: 2, a: 1 } }, q, ['ndcg@10', 'map', 'recall@3', 'mrr@10']);
    for (const v of Object.values(perfect.mean)) expect(v).toBe(1);
    // binary-perfect but graded-wrong order: a c b
    const wrong = evaluate({ q: { a: 3, c: 2, b: 1 } }, q, ['ndcg@10', 'map']);
    expect(wrong.mean.map).toBe(1);
    expect(wrong.mean['ndcg@10']).toBeCloseTo((1 + 2 / L3 + 3 / 2) / (3 + 2 / L3 + 1 / 2), 12);
  });

  it('negative grades count as non-relevant; no evaluated query gives mean 0', () => {
    const s = evaluate({ q: { a: 2, b: 1 } }, { q: { a: -1, b: 1 } }, ['mrr@10', 'ndcg@10']);
    expect(s.mean['mrr@10']).toBe(0.5);
    expect(s.mean['ndcg@10']).toBeCloseTo(1 / L3, 12);
    expect(evaluate({}, {}, ['map']).mean.map).toBe(0);
  });

  it('refuses unknown metrics and malformed input with SpladeError', () => {
    expect(() => evaluate(run, qrels, ['ndcg@0'])).toThrow(SpladeError);
    expect(() => evaluate(run, qrels, ['bpref'])).toThrow(/Expected a metric like 'ndcg@10'.*"bpref"/);
    expect(() => evaluate(run, qrels, [])).toThrow(SpladeError);
    expect(() => evaluate([] as unknown as Run, qrels, ['map'])).toThrow(SpladeError);
    expect(() => evaluate({ q1: { d1: Number.NaN } }, qrels, ['map'])).toThrow(/query q1 document d1/);
    try {
      evaluate(run, qrels, ['recall']);
    } catch (err) {
      expect((err as SpladeError).code).toBe('ERR_SPLADE_INVALID_ARGUMENT');
    }
  });
});
