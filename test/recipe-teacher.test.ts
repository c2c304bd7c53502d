// BM25 as the distillation teacher: pair scores equal to Bm25Index's search scores, statistics per
// collection prefix, and the teacher file the trainer reads for marginmse.
import { describe, expect, it } from 'vitest';

import { Bm25Index } from '../lib/bm25/index.js';
import { Bm25PairScorer } from '../lib/bm25/pair-scorer.js';
import { bm25TeacherScores } from '../lib/recipe/bm25-teacher.js';

const docs = [
  { id: 'a', text: 'the wing body interference at supersonic speeds' },
  { id: 'b', text: 'boundary layer transition on a flat plate, flat plate heat transfer' },
  { id: 'c', text: 'supersonic flow past a wing: the wing tip and the wing root' },
  { id: 'd', text: 'heat transfer in laminar flow' },
  { id: 'e', text: 'an empty-ish record' },
];

describe('Bm25PairScorer', () => {
  it('scores every (query, document) pair as Bm25Index ranks them (same k1, b, analyzer)', () => {
    for (const [k1, b] of [[0.9, 0.4], [1.2, 0.75]]) {
      const index = Bm25Index.build(docs, { k1, b });
      const scorer = new Bm25PairScorer(docs, { k1, b });
      for (const q of ['supersonic wing', 'flat plate heat transfer transfer', 'laminar boundary layer flow', 'wing wing']) {
        const r = index.search(q, { k: docs.length });
        expect(r.docIds.length).toBeGreaterThan(0);
        r.docIds.forEach((d, i) => expect(scorer.score(q, d)).toBeCloseTo(r.scores[i], 5));
        // a document the search did not return shares no term with the query
        for (const d of docs) if (!r.docIds.includes(d.id)) expect(scorer.score(q, d.id)).toBe(0);
      }
    }
  });

  it('repeated query terms count (qtf), longer documents weigh less', () => {
    const s = new Bm25PairScorer(docs);
    expect(s.score('wing wing', 'c')).toBeCloseTo(2 * s.score('wing', 'c'), 12);
    const t = new Bm25PairScorer([{ id: 'short', text: 'heat' }, { id: 'long', text: 'heat and other words in a long text' }, { id: 'x', text: 'cold' }]);
    expect(t.score('heat', 'short')).toBeGreaterThan(t.score('heat', 'long'));
  });

  it('bad input is a clear error', () => {
    const s = new Bm25PairScorer(docs);
    expect(() => s.score('wing', 'zz')).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
    expect(() => new Bm25PairScorer([docs[0], docs[0]])).toThrow(/given twice/);
  });
});

describe('bm25TeacherScores', () => {
  const corpus = [
    ...docs.map((d) => ({ id: `x/${d.id}`, title: '', text: d.text })),
    { id: 'y/1', title: 'wing', text: 'a wing and a tail' },
    { id: 'y/2', title: '', text: 'tail fins only' },
  ];
  const queries = [{ id: 'x/q', text: 'supersonic wing' }, { id: 'y/q', text: 'wing tail' }];
  const records = [
    { qid: 'x/q', pos: ['x/c'], neg: { bm25: ['x/a', 'x/d'] } },
    { qid: 'y/q', pos: ['y/1'], neg: { bm25: ['y/2'] } },
  ];

  it('scores each record\'s positives and negatives within its own collection, times scale', () => {
    const out = bm25TeacherScores(corpus, queries, records, { perCollection: true, scale: 0.5 });
    const x = new Bm25PairScorer(docs.map((d) => ({ id: `x/${d.id}`, text: d.text })));
    const y = new Bm25PairScorer([{ id: 'y/1', text: 'wing a wing and a tail' }, { id: 'y/2', text: 'tail fins only' }]);
    expect(Object.keys(out[0].scores).sort()).toEqual(['x/a', 'x/c', 'x/d']);
    expect(out[0].scores['x/c']).toBeCloseTo(0.5 * x.score('supersonic wing', 'x/c'), 12);
    expect(out[0].scores['x/d']).toBe(0);
    // the title is part of the document; y's statistics are its own two documents
    expect(out[1].scores['y/1']).toBeCloseTo(0.5 * y.score('wing tail', 'y/1'), 12);
    expect(out[1].scores['y/1']).toBeGreaterThan(out[1].scores['y/2']);
    expect(out[1]).toMatchObject(records[1]);
    // over the merged corpus the statistics differ (N, df, avgdl)
    const merged = bm25TeacherScores(corpus, queries, records, { scale: 0.5 });
    expect(merged[1].scores['y/1']).not.toBeCloseTo(out[1].scores['y/1'], 6);
  });

  it('a record naming an unknown query or document, or a bad scale, is a clear error', () => {
    expect(() => bm25TeacherScores(corpus, queries, [{ qid: 'x/none', pos: ['x/a'], neg: {} }])).toThrow(/no query "x\/none"/);
    expect(() => bm25TeacherScores(corpus, queries, [{ qid: 'x/q', pos: ['y/1'], neg: {} }], { perCollection: true })).toThrow(/no document "y\/1"/);
    expect(() => bm25TeacherScores(corpus, queries, records, { scale: 0 })).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_INVALID_ARGUMENT' }));
  });
});
