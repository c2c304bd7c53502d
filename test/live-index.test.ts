// The live index (IndexWriter + InvertedIndex.open(dir)): refresh, the write lock, background
// merges, bad input and damaged or newer directories (coded errors, the last commit untouched), and
// crash safety: a real writer process killed with SIGKILL at random moments, then checked against
// the exact state of its last reported commit. (Search equality over segments with every algorithm
// is in inverted-index.test.ts.)
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { IndexWriter, InvertedIndex, SpladeError, type SparseVector } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';
import { TEST_SEED } from './helpers/seed.js';
import { checkKilledIndex, killRandomly } from './helpers/live-kill.js';
import { pickMerge, splitForForceMerge } from '../lib/live/merge-policy.js';

const root = mkdtempSync(join(tmpdir(), 'splade-live-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${dirs++}`);

const vec = (indices: number[], values: number[]): SparseVector => ({ indices: Uint32Array.from(indices), values: Float32Array.from(values) });
const ALL = vec([1], [1]);

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, message?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').toBeInstanceOf(SpladeError);
  expect((caught as SpladeError).code).toBe(code);
  if (message) expect((caught as Error).message).toMatch(message);
}

function allIds(ix: InvertedIndex): string[] {
  return ix.numDocs === 0 ? [] : ix.search(ALL, { k: Math.min(10000, ix.numDocs), algorithm: 'exhaustive' }).docIds!.slice().sort();
}

describe('IndexWriter', () => {
  it('a new directory opens at once (empty commit); readers see commits only; refresh moves on, old readers stay', async () => {
    const dir = freshDir();
    const w = await IndexWriter.open(dir);
    const empty = InvertedIndex.open(dir);
    expect(empty.numDocs).toBe(0);
    expect(empty.search(ALL, { k: 5 }).ids.length).toBe(0);
    await w.add([{ id: 'a', vector: vec([1, 5], [1, 2]) }, { id: 'b', vector: vec([1, 6], [2, 1]) }]);
    expect(empty.refresh().numDocs, 'nothing visible before commit').toBe(0);
    await w.commit();
    const r1 = empty.refresh();
    expect(allIds(r1)).toEqual(['a', 'b']);
    await w.update('a', vec([1, 7], [0.5, 3]));
    await w.delete(['b', 'not-there']);
    await w.add((async function* () { yield { id: 'c', vector: vec([1], [3]) }; })());
    await w.commit();
    const r2 = r1.refresh();
    expect(allIds(r2)).toEqual(['a', 'c']);
    expect(allIds(r1), 'the old reader keeps its commit').toEqual(['a', 'b']);
    expect(r2.search(vec([7], [1]), { k: 3 }).docIds).toEqual(['a']);
    expect(empty.numDocs).toBe(0);
    await w.close();
    for (const r of [empty, r1, r2]) r.dispose();
  });

  it('one writer per directory: a second gets ERR_SPLADE_LOCKED; after close it opens', async () => {
    const dir = freshDir();
    const w = await IndexWriter.open(dir);
    await expectCode(IndexWriter.open(dir), 'ERR_SPLADE_LOCKED', /locked/);
    await w.close();
    const again = await IndexWriter.open(dir);
    await again.close();
    await expectCode(again.commit(), 'ERR_SPLADE_INVALID_ARGUMENT', /closed/);
  });

  it('merges in the background, keeps deletions made during a merge, and reclaims deleted documents', async () => {
    const dir = freshDir();
    const w = await IndexWriter.open(dir, { mergeFactor: 2, vocabSize: 100 });
    const r = mulberry32(TEST_SEED);
    const model = new Map<string, SparseVector>();
    for (let b = 0; b < 12; b++) {
      const docs = Array.from({ length: 50 }, (_, j) => ({ id: `b${b}_${j}`, vector: vec([1, 2 + Math.floor(r() * 90)], [1 + r() * 2, 1 + r() * 2]) }));
      await w.add(docs);
      for (const d of docs) model.set(d.id, d.vector);
      const gone = docs.filter((_, j) => j % 3 === 0).map((d) => `b${Math.max(0, b - 1)}_${d.id.split('_')[1]}`);
      await w.delete(gone);
      for (const id of gone) model.delete(id);
      await w.commit();
    }
    await w.close();  // lets the running merge finish and commits it
    const files = readdirSync(dir);
    expect(files.filter((f) => f.endsWith('.idx')).length, `segments left: ${files.join(' ')}`).toBeLessThan(12);
    const ix = InvertedIndex.open(dir);
    expect(allIds(ix)).toEqual([...model.keys()].sort());
    const fresh = InvertedIndex.build([...model.values()], { docIds: [...model.keys()], scale: 8, vocabSize: 100 });
    const q = vec([1, 5, 40], [1, 0.5, 2]);
    expect(Array.from(ix.search(q, { k: 50 }).scores)).toEqual(Array.from(fresh.search(q, { k: 50, algorithm: 'exhaustive' }).scores));
    expect(ix.search(q, { k: 50 }).docIds).toEqual(fresh.search(q, { k: 50, algorithm: 'exhaustive' }).docIds);
    ix.dispose();
    fresh.dispose();
  });

  it('save() of a live reader writes one file with the same results', async () => {
    const dir = freshDir();
    const w = await IndexWriter.open(dir, { vocabSize: 50, ramBudgetMB: 0.0625 });
    const r = mulberry32(TEST_SEED + 1);
    for (let b = 0; b < 3; b++) {
      await w.add(Array.from({ length: 300 }, (_, j) => ({ id: `${b}-${j}`, vector: vec([1, 2 + Math.floor(r() * 40)], [r() * 4 + 0.1, r() * 4 + 0.1]) })));
      await w.delete([`${b}-7`, `${b}-8`]);
      await w.commit();
    }
    await w.close();
    const ix = InvertedIndex.open(dir);
    const file = join(root, 'saved.idx');
    ix.save(file);
    const single = InvertedIndex.open(file);
    const q = vec([1, 3, 9], [0.3, 1, 2]);
    const [a, b] = [single.search(q, { k: 100 }), ix.search(q, { k: 100 })];
    expect([a.ids, a.scores, a.docIds]).toEqual([b.ids, b.scores, b.docIds]);
    expect(single.numDocs).toBe(ix.numDocs);
    ix.dispose();
    single.dispose();
  });
});

describe('merge policy', () => {
  const seg = (docs: number, deleted = 0, busy = false) => ({ docs, deleted, bytes: 8 * 100 * (docs - deleted), busy });
  it('merges mergeFactor adjacent segments of one tier, never a busy one, never above the size cap; rewrites a half-deleted one', () => {
    expect(pickMerge([seg(50000), seg(500), seg(600), seg(700)], 3, Infinity)).toEqual({ start: 1, end: 4 });
    expect(pickMerge([seg(500), seg(50000), seg(600), seg(700)], 3, Infinity)).toBeUndefined();
    expect(pickMerge([seg(500), seg(600, 0, true), seg(700), seg(800)], 3, Infinity)).toBeUndefined();
    expect(pickMerge([seg(500), seg(600), seg(700)], 3, 8 * 100 * 1000)).toBeUndefined();
    expect(pickMerge([seg(500), seg(600, 400)], 3, Infinity)).toEqual({ start: 1, end: 2 });
  });
  it('forceMerge splits into at most n adjacent groups covering every segment', () => {
    expect(splitForForceMerge([10, 10, 10, 10], 2)).toEqual([{ start: 0, end: 2 }, { start: 2, end: 4 }]);
    expect(splitForForceMerge([100, 1, 1, 1], 2)).toEqual([{ start: 0, end: 1 }, { start: 1, end: 4 }]);
    expect(splitForForceMerge([5, 5], 4)).toEqual([{ start: 0, end: 1 }, { start: 1, end: 2 }]);
    expect(splitForForceMerge([5, 5, 5], 1)).toEqual([{ start: 0, end: 3 }]);
  });
});

describe('IndexWriter bad input', () => {
  it('refuses unknown and invalid options, and fixed options that differ from the directory', async () => {
    const dir = freshDir();
    await expectCode(() => IndexWriter.open(dir, { sclae: 3 } as never), 'ERR_SPLADE_INVALID_ARGUMENT', /sclae/);
    await expectCode(() => IndexWriter.open(dir, { scale: -1 }), 'ERR_SPLADE_INVALID_ARGUMENT', /scale/);
    await expectCode(() => IndexWriter.open(dir, { impactBits: 7 as never }), 'ERR_SPLADE_INVALID_ARGUMENT', /impactBits/);
    await expectCode(() => IndexWriter.open(dir, { ramBudgetMB: 0 }), 'ERR_SPLADE_INVALID_ARGUMENT', /ramBudgetMB/);
    await expectCode(() => IndexWriter.open(42 as never), 'ERR_SPLADE_INVALID_ARGUMENT', /dir/);
    const w = await IndexWriter.open(dir, { scale: 3 });
    await w.close();
    await expectCode(() => IndexWriter.open(dir, { scale: 4 }), 'ERR_SPLADE_INVALID_ARGUMENT', /scale/);
    (await IndexWriter.open(dir, { scale: 3 })).close();
  });

  it('bad documents are coded errors; the writer stays usable and the last commit is untouched', async () => {
    const dir = freshDir();
    const w = await IndexWriter.open(dir, { scale: 2, vocabSize: 10 });
    await w.add([{ id: 'ok', vector: vec([1], [1]) }]);
    await w.commit();
    const bad: [unknown, RegExp, string][] = [
      [{ id: 7, vector: vec([1], [1]) }, /id/, 'ERR_SPLADE_INVALID_ARGUMENT'],
      [{ id: '', vector: vec([1], [1]) }, /id/, 'ERR_SPLADE_INVALID_ARGUMENT'],
      [{ id: 'x', vector: vec([2, 1], [1, 1]) }, /ascending/, 'ERR_SPLADE_INVALID_ARGUMENT'],
      [{ id: 'x', vector: vec([1], [Number.NaN]) }, /finite/, 'ERR_SPLADE_INVALID_ARGUMENT'],
      [{ id: 'x', vector: { indices: [1], values: [1] } }, /Uint32Array/, 'ERR_SPLADE_INVALID_ARGUMENT'],
      [{ id: 'x', vector: vec([1], [2.5]) }, /above the index's scale/, 'ERR_SPLADE_OUT_OF_RANGE'],
      [{ id: 'x', vector: vec([10], [1]) }, /vocabulary size/, 'ERR_SPLADE_OUT_OF_RANGE'],
      [null, /document/, 'ERR_SPLADE_INVALID_ARGUMENT'],
    ];
    for (const [doc, message, code] of bad) await expectCode(w.add([{ id: 'before', vector: vec([1], [1]) }, doc as never]), code, message);
    await expectCode(() => w.add(5 as never), 'ERR_SPLADE_INVALID_ARGUMENT', /iterable/);
    await expectCode(() => w.delete([3 as never]), 'ERR_SPLADE_INVALID_ARGUMENT', /ids\[0\]/);
    await expectCode(() => w.forceMerge(0), 'ERR_SPLADE_INVALID_ARGUMENT', /n/);
    const reader = InvertedIndex.open(dir);
    expect(allIds(reader), 'the last commit is untouched').toEqual(['ok']);
    await w.add([{ id: 'after', vector: vec([1, 3], [1, 1]) }]);
    await w.commit();
    expect(allIds(reader.refresh()), 'documents before a bad one were added; the writer still works').toEqual(['after', 'before', 'ok']);
    await w.close();
    reader.dispose();
  });

  it('a directory from a newer version is ERR_SPLADE_UNSUPPORTED; a damaged manifest or segment is ERR_SPLADE_CORRUPT_FILE', async () => {
    const dir = freshDir();
    const w = await IndexWriter.open(dir);
    await w.add([{ id: 'a', vector: vec([1, 2], [1, 1]) }]);
    await w.commit();
    await w.close();
    const manifest = readdirSync(dir).find((f) => f.startsWith('segments_'))!;
    const text = readFileSync(join(dir, manifest), 'utf8');
    const { crc32 } = await import('node:zlib');
    const json = text.split('\n')[0].replace('"version":1', '"version":99');
    writeFileSync(join(dir, manifest), `${json}\n${crc32(json).toString(16)}\n`);
    await expectCode(() => InvertedIndex.open(dir), 'ERR_SPLADE_UNSUPPORTED', /newer version/);
    await expectCode(IndexWriter.open(dir), 'ERR_SPLADE_UNSUPPORTED', /newer version/);
    writeFileSync(join(dir, manifest), text.replace('"docs":1', '"docs":2'));
    await expectCode(() => InvertedIndex.open(dir), 'ERR_SPLADE_CORRUPT_FILE', /checksum/);
    await expectCode(IndexWriter.open(dir), 'ERR_SPLADE_CORRUPT_FILE', /checksum/);
    writeFileSync(join(dir, manifest), text);
    expect(allIds(InvertedIndex.open(dir))).toEqual(['a']);
    for (const ext of ['.vec', '.idx']) {
      const f = readdirSync(dir).find((n) => n.endsWith(ext))!;
      const good = readFileSync(join(dir, f));
      const bad = Buffer.from(good);
      bad[bad.length >> 1] ^= 0x5a;
      writeFileSync(join(dir, f), bad);
      // (the block-max store is checked on its first use, the rest on open)
      if (ext === '.idx') await expectCode(() => InvertedIndex.open(dir).search(ALL, { k: 1, algorithm: 'bmp' }), 'ERR_SPLADE_CORRUPT_FILE');
      else await expectCode(IndexWriter.open(dir), 'ERR_SPLADE_CORRUPT_FILE', /damaged/);
      writeFileSync(join(dir, f), good);
    }
    const again = await IndexWriter.open(dir);
    await again.close();
  });
});

describe('IndexWriter crash safety', () => {
  it('kill -9 at random moments (add, flush, commit, merge) loses no commit and shows nothing uncommitted', async () => {
    const dir = freshDir();
    const result = await killRandomly(dir, { kills: 20, seed: TEST_SEED, maxDelayMs: 2500 });
    expect(result.failures, result.failures.join('\n')).toEqual([]);
    expect(result.kills).toBe(20);
    expect(result.roundsCommitted, 'the writer made progress between kills').toBeGreaterThanOrEqual(5);
    // What the last run left is cleaned up by the next open; then only the commit's files remain.
    const w = await IndexWriter.open(dir);
    await w.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.startsWith('segments_')).length).toBe(1);
    expect(checkKilledIndex(dir, result.lastCommitted)).toEqual([]);
  }, 300_000);  // 20 child processes, each started through tsx: minutes on a loaded 2-core machine
});

