import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SHARED_DATA } from './helpers/shared-data.js';

import { Bm25Index, SpladeError, wordAnalyzer } from '../lib/index.js';
import { BASELINES, runCollection } from '../bench/bm25/baseline.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-bm25-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DOCS = [
  { id: 'd1', text: 'apple banana apple' },
  { id: 'd2', text: 'banana cherry' },
  { id: 'd3', text: 'cherry cherry cherry date' },
];

describe('Bm25Index: scores computed by hand', () => {
  // N = 3, lengths 3, 2, 4: avgdl = 3. k1 0.9, b 0.4.
  const index = Bm25Index.build(DOCS);
  const norm = (dl: number) => 0.9 * (1 - 0.4 + (0.4 * dl) / 3);

  it('one term', () => {
    const r = index.search('apple', { k: 10 });
    expect(r.docIds).toEqual(['d1']);
    expect(r.scores[0]).toBeCloseTo(Math.log(1 + 2.5 / 1.5) * (2 / (2 + norm(3))), 5);
  });

  it('query terms weigh by their count; stop words and unknown words are dropped', () => {
    const idf = Math.log(1 + 1.5 / 2.5); // banana and cherry: df 2
    const expected = {
      d2: idf * (1 / (1 + norm(2))) + 2 * idf * (1 / (1 + norm(2))),
      d3: 2 * idf * (3 / (3 + norm(4))),
      d1: idf * (1 / (1 + norm(3))),
    };
    const r = index.search('The banana, and cherry CHERRY kiwi', { k: 10 });
    expect(r.docIds).toEqual(['d2', 'd3', 'd1']);
    r.docIds.forEach((d, i) => expect(r.scores[i]).toBeCloseTo(expected[d as keyof typeof expected], 5));
    expect(index.search('banana cherry cherry', { k: 2 }).docIds).toEqual(['d2', 'd3']);
    expect(index.search('the kiwi', { k: 5 })).toEqual({ docIds: [], scores: new Float32Array(0) });
  });

  it('encodes queries as term counts and keeps index statistics', () => {
    const q = index.encodeQuery('cherry banana cherry');
    expect(Array.from(q.values).sort()).toEqual([1, 2]);
    expect(Array.from(q.indices)).toEqual([...q.indices].sort((a, b) => a - b));
    expect(index.numDocs).toBe(3);
    expect(index.numTerms).toBe(4);
    expect(index.numPostings).toBe(6);
    expect(index.avgdl).toBe(3);
  });

  it('k1 and b change the weights as the formula says', () => {
    const idx = Bm25Index.build(DOCS, { k1: 1.2, b: 0.75 });
    const n = 1.2 * (1 - 0.75 + (0.75 * 4) / 3);
    expect(idx.search('date', { k: 1 }).scores[0]).toBeCloseTo(Math.log(1 + 2.5 / 1.5) * (1 / (1 + n)), 5);
  });

  it('equal scores: the document added first ranks first', () => {
    const idx = Bm25Index.build([{ id: 'z', text: 'same words' }, { id: 'a', text: 'same words' }, { id: 'm', text: 'same words' }]);
    expect(idx.search('same', { k: 2 }).docIds).toEqual(['z', 'a']);
  });
});

/** Deterministic pseudo-random corpus over a small vocabulary (Zipf-ish), for the oracle test. */
function randomCorpus(n: number, seed: number): { id: string; text: string }[] {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const vocab = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}x`);
  return Array.from({ length: n }, (_, i) => {
    const len = 1 + Math.floor(rnd() * 40);
    const words = Array.from({ length: len }, () => vocab[Math.floor(vocab.length * rnd() ** 2)]);
    return { id: `doc${i}`, text: words.join(' ') };
  });
}

describe('Bm25Index: term-at-a-time search equals brute-force BM25', () => {
  it('on a random corpus, for many queries and k', () => {
    const docs = randomCorpus(2000, 7);
    const index = Bm25Index.build(docs, { k1: 0.9, b: 0.4 });
    // Independent reference: tokenize, count, score every document directly from the formula.
    const tok = wordAnalyzer();
    const tfs = docs.map((d) => {
      const m = new Map<string, number>();
      for (const t of tok(d.text)) m.set(t, (m.get(t) ?? 0) + 1);
      return m;
    });
    const lens = docs.map((d) => tok(d.text).length);
    const avgdl = lens.reduce((a, b) => a + b, 0) / docs.length;
    const df = new Map<string, number>();
    for (const m of tfs) for (const t of m.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    const queries = randomCorpus(50, 99).map((q) => q.text.split(' ').slice(0, 1 + (q.text.length % 6)).join(' '));
    for (const [qi, q] of queries.entries()) {
      const k = [1, 10, 100][qi % 3];
      const exact = tfs.map((m, d) => {
        let s = 0;
        for (const t of tok(q)) {
          const tf = m.get(t);
          if (!tf) continue;
          const idf = Math.log(1 + (docs.length - df.get(t)! + 0.5) / (df.get(t)! + 0.5));
          s += idf * (tf / (tf + 0.9 * (1 - 0.4 + (0.4 * lens[d]) / avgdl)));
        }
        return s;
      });
      const want = exact.map((s, d) => [s, d] as const).filter(([s]) => s > 0).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
      const got = index.search(q, { k });
      expect(got.docIds.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        expect(Math.abs(got.scores[i] - want[i][0])).toBeLessThanOrEqual(1e-5 * want[i][0]);
        // the same document, or one whose exact score equals it within float32 rounding
        const d = Number(got.docIds[i].slice(3));
        expect(Math.abs(exact[d] - want[i][0])).toBeLessThanOrEqual(1e-5 * want[i][0]);
      }
    }
  });
});

describe('Bm25Index: save and open', () => {
  it('round-trips the dictionary, statistics, ids and postings', () => {
    const docs = randomCorpus(500, 3);
    const index = Bm25Index.build(docs, { stem: true, stopwords: ['w1x'] });
    const p = join(dir, 'idx.bm25');
    index.save(p);
    const back = Bm25Index.open(p);
    expect([back.numDocs, back.numTerms, back.numPostings, back.avgdl, back.k1, back.b])
      .toEqual([index.numDocs, index.numTerms, index.numPostings, index.avgdl, index.k1, index.b]);
    for (const q of ['w0x w3x', 'w1x w2x w2x', 'w5x', 'nothing']) {
      expect(back.search(q, { k: 20 })).toEqual(index.search(q, { k: 20 }));
    }
    expect(readdirSync(dir)).toEqual(['idx.bm25']); // no temporary file left behind
  });

  it('refuses truncated, corrupted and foreign files with ERR_SPLADE_CORRUPT_FILE', () => {
    const p = join(dir, 'good.bm25');
    Bm25Index.build(DOCS).save(p);
    const bytes = readFileSync(p);
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', bytes.subarray(0, bytes.length - 4), /truncated/],
      ['magic', Buffer.concat([Buffer.from('NOTBM25!'), bytes.subarray(8)]), /bad magic bytes/],
      ['empty', Buffer.alloc(0), /bad magic bytes/],
    ];
    const bad = Buffer.from(bytes);
    bad.writeUInt32LE(999, bytes.length - 4 * 6 - 4); // a posting's document number out of range
    cases.push(['posting', bad, /document number 999 out of range at posting 5/]);
    for (const [name, data, message] of cases) {
      const q = join(dir, `bad-${name}.bm25`);
      writeFileSync(q, data);
      let err: unknown;
      try {
        Bm25Index.open(q);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(SpladeError);
      expect((err as SpladeError).code, name).toBe('ERR_SPLADE_CORRUPT_FILE');
      expect((err as SpladeError).message, name).toMatch(message);
      rmSync(q);
    }
    rmSync(p);
    expect(() => Bm25Index.open(join(dir, 'missing.bm25'))).toThrow(/Cannot read/);
  });
});

describe('Bm25Index: options and misuse', () => {
  it("'wordpiece' uses the tokenizer hook, also after open", () => {
    const pieces = (t: string) => t.split(/\s+/).flatMap((w) => (w.length > 3 ? [w.slice(0, 3), `##${w.slice(3)}`] : [w]));
    expect(() => Bm25Index.build(DOCS, { analyzer: 'wordpiece' })).toThrow(/needs a tokenize function/);
    const idx = Bm25Index.build(DOCS, { analyzer: 'wordpiece', tokenize: pieces });
    expect(idx.search('app', { k: 5 }).docIds).toEqual(['d1']);
    const p = join(dir, 'wp.bm25');
    idx.save(p);
    expect(() => Bm25Index.open(p)).toThrow(/needs a tokenize function/);
    expect(Bm25Index.open(p, { tokenize: pieces }).search('banana', { k: 5 }).docIds).toEqual(['d2', 'd1']);
    rmSync(p);
  });

  it('builds from a generator (one pass) and from an async stream', async () => {
    function* gen() { yield* DOCS; }
    const a = Bm25Index.build(gen());
    const b = await Bm25Index.buildAsync((async function* () { yield* DOCS; })());
    expect(a.search('cherry', { k: 3 })).toEqual(b.search('cherry', { k: 3 }));
    expect(a.search('cherry', { k: 3 }).docIds).toEqual(['d3', 'd2']);
  });

  it('checks its arguments', () => {
    const idx = Bm25Index.build(DOCS);
    expect(() => idx.search('apple', { k: 0 })).toThrow(/Expected a positive integer for k but received 0/);
    expect(() => idx.search(3 as never, { k: 1 })).toThrow(SpladeError);
    expect(() => Bm25Index.build([{ id: 'x', text: 5 }] as never)).toThrow(/Expected a string text for document 0/);
    expect(() => Bm25Index.build([{ text: 'x' }] as never)).toThrow(/non-empty string id for document 0/);
    expect(() => Bm25Index.build(DOCS, { b: 2 })).toThrow(/\[0, 1\] for b/);
    expect(() => Bm25Index.build(DOCS, { analyzer: 'bpe' as never })).toThrow(/one of 'words', 'wordpiece'/);
    expect(() => Bm25Index.build(DOCS, { backend: 'native' }).save('/tmp/never')).toThrow(expect.objectContaining({ code: 'ERR_SPLADE_UNSUPPORTED' }));
  });
});

// Correctness against an outside implementation: BASELINES.md (Lucene-variant BM25, title + text,
// lower-cased words, English stop words, no stemming, trec_eval definitions).
const DATA = SHARED_DATA;
describe('BM25 against the outside baseline', () => {
  for (const c of ['cranfield', 'med', 'cacm'] as const) {
    it(`${c}: nDCG@10, RR@10 and Recall@100 within 0.01 (k1 0.9, b 0.4)`, async () => {
      const { ev } = await runCollection(join(DATA, c), { k1: 0.9, b: 0.4 });
      const [ndcg, rr, recall] = BASELINES['k1=0.9,b=0.4'][c];
      expect(Math.abs(ev.mean['ndcg@10'] - ndcg)).toBeLessThanOrEqual(0.01);
      expect(Math.abs(ev.mean['mrr@10'] - rr)).toBeLessThanOrEqual(0.01);
      expect(Math.abs(ev.mean['recall@100'] - recall)).toBeLessThanOrEqual(0.01);
    });
  }

  // The native InvertedIndex (16-bit impacts, MaxScore) must rank as the exact TS oracle does, up
  // to quantization: same metrics to 0.002 and nearly the same top 10.
  for (const c of ['cranfield', 'med'] as const) {
    it(`${c}: the native InvertedIndex backend agrees with the exact term-at-a-time oracle`, async () => {
      const exact = await runCollection(join(DATA, c), { k1: 0.9, b: 0.4, backend: 'ts' });
      const native = await runCollection(join(DATA, c), { k1: 0.9, b: 0.4, backend: 'native' });
      for (const m of ['ndcg@10', 'mrr@10', 'recall@100']) expect(Math.abs(native.ev.mean[m] - exact.ev.mean[m])).toBeLessThanOrEqual(0.002);
      let same = 0, total = 0;
      for (const qid of Object.keys(exact.run)) {
        const top = (r: Record<string, number>) => Object.entries(r).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([d]) => d);
        const a = new Set(top(exact.run[qid]));
        for (const d of top(native.run[qid])) if (a.has(d)) same++;
        total += a.size;
      }
      expect(same / total).toBeGreaterThan(0.98);
    });
  }
});
