// bmp and approximate over a live index's segments as one collection (one native call: every
// segment's superblocks in one best-first order, one top k). Stressed where the cross-segment order
// matters: equal documents in many segments (ties broken by commit order), deletions, updates, k
// above any one segment's size, segments of very different sizes; at the native level, segments of
// different block sizes and quantisation scales; and bad handles, bitmaps and algorithms as coded
// errors. (The parametrised equality over every algorithm is in inverted-index.test.ts.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { IndexWriter, InvertedIndex, SpladeError, type SparseVector } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';
import { openNativeIndex, searchSegments, searchSegmentsBatch, type NativeIndex } from '../lib/search/inverted-index.js';
import { TEST_SEED } from './helpers/seed.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-live-segments-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VOCAB = 300;

/** Random sparse vectors: weights in (0, 2], about len terms, some weights exactly 1 (more ties). */
function randomVectors(r: () => number, n: number, len: number): SparseVector[] {
  return Array.from({ length: n }, () => {
    const terms = new Set<number>();
    const want = 1 + Math.floor(r() * 2 * len);
    // Skewed towards low term ids, so that queries meet many documents.
    while (terms.size < want) terms.add(Math.floor(VOCAB * r() * r()));
    const indices = Uint32Array.from([...terms].sort((a, b) => a - b));
    const values = Float32Array.from(indices, () => (r() < 0.2 ? 1 : 0.05 + 1.95 * r()));
    return { indices, values };
  });
}

async function expectCode(fn: () => unknown, code: string, message?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').toBeInstanceOf(SpladeError);
  expect((caught as SpladeError).code).toBe(code);
  if (message) expect((caught as SpladeError).message).toMatch(message);
}

function idsAndScores(r: { ids: Uint32Array; scores: Float32Array }): [number[], number[]] {
  return [Array.from(r.ids), Array.from(r.scores)];
}

describe(`bmp over segments as one collection (seed ${TEST_SEED})`, () => {
  const r = mulberry32(TEST_SEED);
  // 40 distinct documents, each added many times in different segments: equal scores across segments.
  const distinct = randomVectors(r, 40, 12);
  const queries = [...randomVectors(r, 10, 5), ...distinct.slice(0, 4)];
  const opts = { scale: 2, impactBits: 8 as const, blockSize: 16, vocabSize: VOCAB, bmpBlockDocs: 2 };
  // Segment sizes (a commit after each): one large, several tiny, one of a single document.
  const SIZES = [400, 3, 120, 1, 60, 250, 7, 90, 30, 180];
  const live = new Map<string, SparseVector>();

  function expectSameAsFresh(reader: InvertedIndex, label: string): void {
    const fresh = InvertedIndex.build([...live.values()], { ...opts, docIds: [...live.keys()] });
    queries.forEach((q, qi) => {
      for (const k of [1, 3, 10, 41, 200, 1000]) {
        const want = fresh.search(q, { k, algorithm: 'exhaustive' });
        for (const [algorithm, knobs] of [['bmp', {}], ['approximate', { alpha: 1, beta: 1 }], ['maxscore', {}]] as const) {
          const got = reader.search(q, { k, algorithm, ...knobs });
          const where = `${label}, ${algorithm}, query ${qi}, k ${k} (seed ${TEST_SEED})`;
          expect(idsAndScores(got), where).toEqual(idsAndScores(want));
          expect(got.docIds, where).toEqual(want.docIds);
        }
      }
    });
    fresh.dispose();
  }

  it('ties across segments, deletions, updates and k above every segment: equal to a fresh build in commit order', async () => {
    const w = await IndexWriter.open(join(dir, 'ties'), { ...opts, backgroundMerges: false });
    let n = 0;
    for (const size of SIZES) {
      const batch = Array.from({ length: size }, () => ({ id: `d${n}`, vector: distinct[(n++ * 7) % distinct.length] }));
      await w.add(batch);
      for (const d of batch) live.set(d.id, d.vector);
      await w.commit();
    }
    // Deletions in most segments (the whole one-document segment among them), then updates (to the end).
    const gone = Array.from({ length: n }, (_, i) => `d${i}`).filter((_, i) => i % 5 === 2 || i === 523);
    await w.delete(gone);
    for (const id of gone) live.delete(id);
    for (let i = 1; i < n; i += 37) {
      const vector = distinct[(i * 3) % distinct.length];
      await w.update(`d${i}`, vector);
      live.delete(`d${i}`);
      live.set(`d${i}`, vector);
    }
    await w.commit();
    expect(w.numSegments, "unmerged segments (the emptied one dropped)").toBeGreaterThanOrEqual(SIZES.length);
    const reader = InvertedIndex.open(join(dir, 'ties'));
    expectSameAsFresh(reader, 'unmerged');

    // Tied scores exist across segments (else this test would not test the tie order).
    const fresh = InvertedIndex.build([...live.values()], { ...opts, docIds: [...live.keys()] });
    const top = fresh.search(queries[queries.length - 1], { k: 50, algorithm: 'exhaustive' });
    expect(new Set(top.scores).size, 'tied scores in the top 50').toBeLessThan(top.scores.length);

    // searchBatch goes through the same native path (threads).
    for (const [algorithm, knobs] of [['bmp', {}], ['approximate', { alpha: 1, beta: 1 }]] as const) {
      const batch = await reader.searchBatch(queries, { k: 41, algorithm, threads: 2, ...knobs });
      batch.forEach((res, i) => {
        const want = fresh.search(queries[i], { k: 41, algorithm: 'exhaustive' });
        expect(idsAndScores(res), `searchBatch ${algorithm} query ${i} (seed ${TEST_SEED})`).toEqual(idsAndScores(want));
        expect(res.docIds).toEqual(want.docIds);
      });
    }
    // Approximate settings over segments return exact scores of real, live documents, best first.
    const exact = fresh.search(queries[0], { k: 1000, algorithm: 'exhaustive' });
    const scoreOf = new Map(exact.docIds!.map((id, i) => [id, exact.scores[i]]));
    const approx = reader.search(queries[0], { k: 20, algorithm: 'approximate', alpha: 0.7, beta: 0.6 });
    approx.docIds!.forEach((id, i) => expect(approx.scores[i], `approximate ${id} (seed ${TEST_SEED})`).toBe(scoreOf.get(id)));
    fresh.dispose();

    await w.forceMerge(1);
    await w.commit();
    const merged = reader.refresh();
    expectSameAsFresh(merged, 'merged');
    merged.dispose();
    reader.dispose();
    await w.close();
  });
});

describe(`searchSegments on native indexes (seed ${TEST_SEED})`, () => {
  const r = mulberry32(TEST_SEED + 1);
  const parts = [randomVectors(r, 700, 10), randomVectors(r, 150, 10), randomVectors(r, 333, 10)];
  const queries = randomVectors(r, 8, 6);
  const handles: NativeIndex[] = [];
  afterAll(() => handles.forEach((h) => h.dispose()));

  function open(docs: SparseVector[], o: Parameters<typeof InvertedIndex.build>[1], name: string): NativeIndex {
    const path = join(dir, `${name}.idx`);
    const ix = InvertedIndex.build(docs, o);
    ix.save(path);
    ix.dispose();
    const h = openNativeIndex(path);
    handles.push(h);
    return h;
  }

  function bitmap(n: number, deleted: (d: number) => boolean): Uint8Array {
    const bits = new Uint8Array(Math.ceil(n / 8));
    for (let d = 0; d < n; d++) if (deleted(d)) bits[d >> 3] |= 1 << (d & 7);
    return bits;
  }

  it.each(['lists', 'compact'] as const)('segments of different block sizes, with deletions, store %s: a fresh build of the live documents in order', async (store) => {
    const blockDocs = [1, 32, 7];
    const segs = parts.map((docs, i) => open(docs, { scale: 2, vocabSize: VOCAB, bmpBlockDocs: blockDocs[i], ...(store === 'compact' ? { store } : {}) }, `bd${store}${i}`));
    const deleted = [bitmap(700, (d) => d % 3 === 0), undefined, bitmap(333, (d) => d > 300)];
    // Live documents in order, and the id searchSegments gives each (documents before + position).
    const liveDocs: SparseVector[] = [];
    const key: number[] = [];
    let start = 0;
    parts.forEach((docs, i) => {
      docs.forEach((v, d) => {
        if (deleted[i] && (deleted[i]![d >> 3] >> (d & 7)) & 1) return;
        liveDocs.push(v);
        key.push(start + d);
      });
      start += docs.length;
    });
    const fresh = InvertedIndex.build(liveDocs, { scale: 2, vocabSize: VOCAB });
    for (const [qi, q] of queries.entries()) {
      for (const k of [1, 10, 150, 1200]) {
        const want = fresh.search(q, { k, algorithm: 'exhaustive' });
        const wanted: [number[], number[]] = [Array.from(want.ids, (i) => key[i]), Array.from(want.scores)];
        for (const algorithm of ['bmp', 'approximate']) {
          const got = searchSegments(segs, deleted, q.indices, q.values, k, algorithm, 1, 1, 0);
          expect(idsAndScores(got), `${algorithm} query ${qi} k ${k} (seed ${TEST_SEED})`).toEqual(wanted);
        }
      }
    }
    const offsets = new Uint32Array(queries.length + 1);
    queries.forEach((q, i) => (offsets[i + 1] = offsets[i] + q.indices.length));
    const indices = new Uint32Array(offsets[queries.length]);
    const values = new Float32Array(offsets[queries.length]);
    queries.forEach((q, i) => {
      indices.set(q.indices, offsets[i]);
      values.set(q.values, offsets[i]);
    });
    const batch = await searchSegmentsBatch(segs, deleted, indices, values, offsets, 25, 'bmp', 2, 1, 1, 0);
    batch.forEach((res, i) => expect(idsAndScores(res)).toEqual(idsAndScores(searchSegments(segs, deleted, queries[i].indices, queries[i].values, 25, 'bmp', 1, 1, 0))));
    fresh.dispose();
  });

  it('segments of different stores are refused', async () => {
    const segs = [open(parts[0], { scale: 2, vocabSize: VOCAB }, 'mixl'), open(parts[1], { scale: 2, vocabSize: VOCAB, store: 'compact' }, 'mixc')];
    await expectCode(() => searchSegments(segs, [undefined, undefined], queries[0].indices, queries[0].values, 10, 'bmp', 1, 1, 0), 'ERR_SPLADE_INVALID_ARGUMENT', /one store layout/);
  });

  it('segments of different scales: scores compare as the floats they are, ties by segment order', () => {
    // Scales 2, 4 and 2.5: one document's quantised score differs between them, but each segment's
    // scores are its exhaustive ones, and the merged order is (score desc, id asc) over all.
    const scales = [2, 4, 2.5];
    const segs = parts.map((docs, i) => open(docs, { scale: scales[i], vocabSize: VOCAB, bmpBlockDocs: 4 }, `sc${i}`));
    const alone = parts.map((docs, i) => InvertedIndex.build(docs, { scale: scales[i], vocabSize: VOCAB }));
    for (const [qi, q] of queries.entries()) {
      for (const k of [1, 10, 500]) {
        const all: { score: number; id: number }[] = [];
        let start = 0;
        alone.forEach((ix, i) => {
          const res = ix.search(q, { k, algorithm: 'exhaustive' });
          res.ids.forEach((d, j) => all.push({ score: res.scores[j], id: start + d }));
          start += parts[i].length;
        });
        all.sort((a, b) => b.score - a.score || a.id - b.id);
        const top = all.slice(0, k);
        const got = searchSegments(segs, [undefined, undefined, undefined], q.indices, q.values, k, 'bmp', 1, 1, 0);
        expect(idsAndScores(got), `query ${qi} k ${k} (seed ${TEST_SEED})`).toEqual([top.map((e) => e.id), top.map((e) => e.score)]);
      }
    }
    alone.forEach((ix) => ix.dispose());
  });

  it('bad handles, bitmaps, algorithms and segments are coded errors', async () => {
    const good = open(parts[1], { scale: 2, vocabSize: VOCAB }, 'good');
    const q = queries[0];
    const call = (segs: unknown[], del: unknown[], algorithm = 'bmp', k = 10) =>
      () => searchSegments(segs as NativeIndex[], del as Uint8Array[], q.indices, q.values, k, algorithm, 1, 1, 0);
    await expectCode(call([{}], [undefined]), 'ERR_SPLADE_INVALID_ARGUMENT', /IndexHandle/);
    await expectCode(call([good, 'x'], [undefined, undefined]), 'ERR_SPLADE_INVALID_ARGUMENT', /IndexHandle for segments\[1\]/);
    await expectCode(call([good], []), 'ERR_SPLADE_INVALID_ARGUMENT', /one deletion bitmap/);
    await expectCode(call([good], [new Uint8Array(3)]), 'ERR_SPLADE_INVALID_ARGUMENT', /ceil\(numDocs \/ 8\)/);
    await expectCode(call([good], [new Uint32Array(19)]), 'ERR_SPLADE_INVALID_ARGUMENT', /Uint8Array/);
    await expectCode(call([good], [undefined], 'maxscore'), 'ERR_SPLADE_INVALID_ARGUMENT', /'bmp' or 'approximate'/);
    await expectCode(call([good], [undefined], 'bmp', 0), 'ERR_SPLADE_INVALID_ARGUMENT');
    const wide = open(parts[1], { scale: 2, vocabSize: VOCAB, impactBits: 16 }, 'wide');
    await expectCode(call([good, wide], [undefined, undefined]), 'ERR_SPLADE_UNSUPPORTED');
    const reordered = open(parts[1], { scale: 2, vocabSize: VOCAB, reorder: 'bp' }, 'bp');
    await expectCode(call([good, reordered], [undefined, undefined]), 'ERR_SPLADE_INVALID_ARGUMENT', /reordered/);
    const narrow = parts[1].map((v) => {
      const keep = Array.from(v.indices, (t, i) => i).filter((i) => v.indices[i] < 50);
      return { indices: Uint32Array.from(keep, (i) => v.indices[i]), values: Float32Array.from(keep, (i) => v.values[i]) };
    });
    const small = open(narrow, { scale: 2, vocabSize: 50 }, 'small');
    await expectCode(call([good, small], [undefined, undefined]), 'ERR_SPLADE_OUT_OF_RANGE', /vocabulary/);
    const gone = open(parts[1], { scale: 2, vocabSize: VOCAB }, 'gone');
    gone.dispose();
    await expectCode(call([good, gone], [undefined, undefined]), 'ERR_SPLADE_INVALID_ARGUMENT', /disposed/);
    await expectCode(() => searchSegmentsBatch([good, gone], [undefined, undefined], q.indices, q.values, Uint32Array.of(0, q.indices.length), 10, 'bmp', 1, 1, 1, 0),
      'ERR_SPLADE_INVALID_ARGUMENT', /disposed/);
    // A batch with a query one segment cannot take is rejected before any work.
    await expectCode(() => searchSegmentsBatch([good, small], [undefined, undefined], q.indices, q.values, Uint32Array.of(0, q.indices.length), 10, 'bmp', 1, 1, 1, 0),
      'ERR_SPLADE_OUT_OF_RANGE', /query 0/);
    // No segments: nothing found.
    expect(idsAndScores(searchSegments([], [], q.indices, q.values, 10, 'bmp', 1, 1, 0))).toEqual([[], []]);
  });
});
