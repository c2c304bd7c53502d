// The live index's ids without an id map (lib/live/id-table.ts, IndexWriter's queued deletes):
// updates, deletes and re-adds of ids in the buffer, in flushed segments and in old merged segments,
// across reopens, equal a fresh build of the live documents in commit order, with the real hash and
// with one that makes every id collide with a quarter of all others (so a hash match alone would
// delete the wrong document); a merged segment's .idx is byte for byte a fresh build's; a damaged id
// table is ERR_SPLADE_CORRUPT_FILE; and the writer's memory does not grow with the collection.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { IndexWriter, InvertedIndex, SpladeError, type SparseVector } from '../lib/index.js';
import { setIdHashForTests } from '../lib/live/id-table.js';
import { mulberry32 } from '../lib/random.js';
import { TEST_SEED } from './helpers/seed.js';

const root = mkdtempSync(join(tmpdir(), 'splade-live-ids-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => setIdHashForTests(undefined));
let dirs = 0;
const freshDir = () => join(root, `d${dirs++}`);
const OPTS = { scale: 8, vocabSize: 100, blockSize: 16, bmpBlockDocs: 8 };

function randomVector(r: () => number): SparseVector {
  const terms = new Set<number>([1]);
  const n = 2 + Math.floor(r() * 6);
  while (terms.size < n) terms.add(2 + Math.floor(r() * 98));
  const indices = Uint32Array.from([...terms].sort((a, b) => a - b));
  return { indices, values: Float32Array.from(indices, () => 0.1 + r() * 7) };
}

/** Every live document with its score for a few queries, against a fresh build of the model. */
function expectSameAsFresh(dir: string, model: Map<string, SparseVector>, where: string): void {
  const ix = InvertedIndex.open(dir);
  const fresh = InvertedIndex.build([...model.values()], { docIds: [...model.keys()], scale: OPTS.scale, vocabSize: OPTS.vocabSize });
  try {
    expect(ix.numDocs, where).toBe(model.size);
    const r = mulberry32(TEST_SEED + 7);
    for (let q = 0; q < 4; q++) {
      const query = q === 0 ? { indices: Uint32Array.of(1), values: Float32Array.of(1) } : randomVector(r);
      const got = ix.search(query, { k: model.size, algorithm: 'exhaustive' });
      const want = fresh.search(query, { k: model.size, algorithm: 'exhaustive' });
      expect(got.docIds, `${where}, query ${q}`).toEqual(want.docIds);
      expect(Array.from(got.scores), `${where}, query ${q}`).toEqual(Array.from(want.scores));
    }
  } finally {
    ix.dispose();
    fresh.dispose();
  }
}

describe.each(['real', 'colliding'] as const)('ids with the %s hash', (hash) => {
  it('update, delete and re-add in the buffer, in flushed and in old merged segments, across reopens', async () => {
    if (hash === 'colliding') setIdHashForTests('collide');
    const dir = freshDir();
    const r = mulberry32(TEST_SEED);
    const model = new Map<string, SparseVector>();
    const put = (id: string, v: SparseVector) => {
      model.delete(id);  // a replacement goes to the end, in commit order
      model.set(id, v);
    };
    // a 64 KiB budget: a flush every ~150 documents; mergeFactor 3: merges while adding
    let w = await IndexWriter.open(dir, { ...OPTS, ramBudgetMB: 1 / 16, mergeFactor: 3 });
    const first = Array.from({ length: 700 }, (_, i) => ({ id: `a${i}`, vector: randomVector(r) }));
    await w.add(first);
    for (const d of first) put(d.id, d.vector);
    await w.commit();
    await w.forceMerge(1);  // every a-id now in one old merged segment
    await w.commit();
    expect(w.numSegments).toBe(1);
    expectSameAsFresh(dir, model, 'after forceMerge');

    const v = () => randomVector(r);
    const steps: [string, () => Promise<void>][] = [
      ['update in the merged segment', async () => { const x = v(); await w.update('a5', x); put('a5', x); }],
      ['delete in the merged segment', async () => { await w.delete(['a7', 'a8', 'not-there']); model.delete('a7'); model.delete('a8'); }],
      ['re-add after delete', async () => { const x = v(); await w.add([{ id: 'a7', vector: x }]); put('a7', x); }],
      ['adds that flush', async () => {
        const docs = Array.from({ length: 400 }, (_, i) => ({ id: `b${i}`, vector: v() }));
        await w.add(docs);
        for (const d of docs) put(d.id, d.vector);
      }],
      ['delete in a flushed segment and in the buffer', async () => { await w.delete(['b3', 'b399']); model.delete('b3'); model.delete('b399'); }],
      ['update twice before a commit', async () => {
        const x = v(), y = v();
        await w.update('a9', x);
        await w.update('a9', y);
        put('a9', y);
      }],
      ['add and delete in the buffer', async () => { await w.add([{ id: 'c1', vector: v() }]); await w.delete(['c1']); }],
      ['update of an id added in this batch', async () => { const x = v(); await w.update('b398', x); put('b398', x); }],
    ];
    for (const [what, step] of steps) await step();
    await w.commit();
    expect(w.numDocs).toBe(model.size);
    expectSameAsFresh(dir, model, 'after the first batch of changes');
    await w.close();

    // reopened: the tables are read from disk; every id of a segment is found there
    w = await IndexWriter.open(dir, { ramBudgetMB: 1 / 16, mergeFactor: 3 });
    for (let i = 0; i < 700; i += 13) {
      if (!model.has(`a${i}`)) continue;
      if (i % 2) {
        await w.delete([`a${i}`]);
        model.delete(`a${i}`);
      } else {
        const x = v();
        await w.update(`a${i}`, x);
        put(`a${i}`, x);
      }
    }
    for (const [, step] of steps.slice(0, 3)) await step();
    await w.forceMerge(2);  // queued deletes meet a merge of their segments
    await w.commit();
    expect(w.numDocs).toBe(model.size);
    expectSameAsFresh(dir, model, 'after reopening');
    await w.close();
  }, 120_000);
});

describe('merged segments and id tables', () => {
  it("a merged segment's .idx is byte for byte a fresh build of its documents", async () => {
    const dir = freshDir();
    const r = mulberry32(TEST_SEED + 1);
    const model = new Map<string, SparseVector>();
    const w = await IndexWriter.open(dir, { ...OPTS, backgroundMerges: false });
    for (let b = 0; b < 4; b++) {
      const docs = Array.from({ length: 90 + 7 * b }, (_, i) => ({ id: `s${b}-${i}`, vector: randomVector(r) }));
      await w.add(docs);
      for (const d of docs) model.set(d.id, d.vector);
      await w.commit();
    }
    const gone = [...model.keys()].filter((_, i) => i % 4 === 1);
    await w.delete(gone);
    for (const id of gone) model.delete(id);
    await w.forceMerge(1);
    await w.commit();
    await w.close();
    const idx = readdirSync(dir).filter((f) => f.endsWith('.idx'));
    expect(idx.length).toBe(1);
    const fresh = InvertedIndex.build([...model.values()], { docIds: [...model.keys()], scale: OPTS.scale, vocabSize: OPTS.vocabSize, blockSize: OPTS.blockSize, bmpBlockDocs: OPTS.bmpBlockDocs });
    const file = join(root, 'fresh.idx');
    fresh.save(file);
    fresh.dispose();
    expect(readFileSync(join(dir, idx[0])).equals(readFileSync(file))).toBe(true);
  });

  it('a merge of deleted documents only leaves an empty segment that later updates pass over', async () => {
    const dir = freshDir();
    const r = mulberry32(TEST_SEED + 3);
    const w = await IndexWriter.open(dir, { ...OPTS, backgroundMerges: false });
    await w.add(Array.from({ length: 20 }, (_, i) => ({ id: `z${i}`, vector: randomVector(r) })));
    await w.commit();
    await w.delete(Array.from({ length: 20 }, (_, i) => `z${i}`));
    await w.forceMerge(1);  // the queued deletes resolve first: the merged segment holds nothing
    const x = randomVector(r);
    await w.update('z3', x);
    await w.commit();
    await w.close();
    expectSameAsFresh(dir, new Map([['z3', x]]), 'after the empty merge');
  });

  it('a damaged or truncated id table is ERR_SPLADE_CORRUPT_FILE; restored, the directory opens', async () => {
    const dir = freshDir();
    const r = mulberry32(TEST_SEED + 2);
    const w = await IndexWriter.open(dir, OPTS);
    await w.add(Array.from({ length: 300 }, (_, i) => ({ id: `x${i}`, vector: randomVector(r) })));
    await w.commit();
    await w.close();
    const f = join(dir, readdirSync(dir).find((n) => n.endsWith('.ids'))!);
    const good = readFileSync(f);
    for (const [what, bad] of [
      ['a byte in a block', (() => { const b = Buffer.from(good); b[b.length >> 1] ^= 0x5a; return b; })()],
      ['a byte in the block index', (() => { const b = Buffer.from(good); b[b.length - 3] ^= 0x01; return b; })()],
      ['truncated', good.subarray(0, good.length - 10)],
    ] as const) {
      writeFileSync(f, bad);
      let caught: unknown;
      try {
        await (await IndexWriter.open(dir)).close();
      } catch (err) {
        caught = err;
      }
      expect(caught, what).toBeInstanceOf(SpladeError);
      expect((caught as SpladeError).code, what).toBe('ERR_SPLADE_CORRUPT_FILE');
      expect((caught as Error).message, what).toMatch(/\.ids is damaged/);
    }
    writeFileSync(f, good);
    const again = await IndexWriter.open(dir);
    await again.update('x5', randomVector(r));
    await again.close();
  });
});

describe('writer memory', () => {
  it('does not grow with the collection: 800,000 documents with a 4 MiB budget', () => {
    // A child process (its own heap and RSS): RSS after a GC, once a quarter of the documents are
    // in and at the end. An id map (about 200 bytes a document with these 48-character ids) would
    // add some 115 MiB between the two, and merges holding their segment's ids more (the code
    // before id tables grew by 125 MiB at half these documents); what is left is noise that does not
    // grow with the documents (-10 to +36 MiB in quiet runs, 56 MiB once under a full CI load at
    // 400,000 documents: worker heaps, arenas), so the bound sits between the two.
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'helpers', 'live-memory-child.ts'),
      join(root, 'memory'), '800000', '4'], { encoding: 'utf8', timeout: 240_000 });
    const m = JSON.parse(out.trim().split('\n').pop()!) as { quarter: number; end: number; heapQuarter: number; heapEnd: number };
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    const growth = m.end - m.quarter;
    expect(growth, `RSS ${mib(m.quarter)} MiB at 200,000 documents, ${mib(m.end)} MiB at 800,000; heap ${mib(m.heapQuarter)} -> ${mib(m.heapEnd)} MiB`)
      .toBeLessThan(80 * 2 ** 20);
  }, 300_000);
});
