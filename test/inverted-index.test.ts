// InvertedIndex: every pruned algorithm against exhaustive (ids and scores identical), exhaustive
// against a bit-exact JavaScript model of the quantized scores and against the float brute force
// (within the quantization bound), edge cases, persistence, and a fuzzed reader.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { InvertedIndex, setThreads, SpladeError, type SparseVector } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';

/** The exact algorithms: each returns bit for bit the exhaustive top-k. */
const ALGORITHMS = ['exhaustive', 'wand', 'maxscore', 'bmw', 'bmp'] as const;

const rng = mulberry32;

function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Zipfian term sampler over [0, vocab): P(rank r) ~ 1 / (r + 1)^s, ranks shuffled over term ids. */
function zipf(vocab: number, s: number, r: () => number): () => number {
  const cdf = new Float64Array(vocab);
  let acc = 0;
  for (let i = 0; i < vocab; i++) cdf[i] = acc += 1 / Math.pow(i + 1, s);
  const perm = Array.from({ length: vocab }, (_, i) => i);
  for (let i = vocab - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return () => {
    const u = r() * acc;
    let lo = 0, hi = vocab - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return perm[lo];
  };
}

function vector(terms: Set<number>, r: () => number, spread: number): SparseVector {
  const indices = Uint32Array.from([...terms].sort((a, b) => a - b));
  const values = new Float32Array(indices.length);
  // Skewed weights; a few exact duplicates so that tied scores occur.
  for (let i = 0; i < values.length; i++) values[i] = r() < 0.1 ? 1 : Math.exp(spread * gaussian(r)) * 0.5;
  return { indices, values };
}

interface Collection { docs: SparseVector[]; queries: SparseVector[]; vocab: number }

function collection(seed: number, nDocs: number, vocab: number, docLen: number, queryLen: number, s = 1.0): Collection {
  const r = rng(seed);
  const term = zipf(vocab, s, r);
  const docs: SparseVector[] = [];
  for (let d = 0; d < nDocs; d++) {
    const len = r() < 0.02 ? 0 : 1 + Math.floor(r() * 2 * docLen);
    const terms = new Set<number>();
    for (let i = 0; i < len * 3 && terms.size < len; i++) terms.add(term());
    docs.push(vector(terms, r, 0.8));
  }
  const queries: SparseVector[] = [];
  for (let q = 0; q < 12; q++) {
    const len = 1 + Math.floor(r() * 2 * queryLen);
    const terms = new Set<number>();
    for (let i = 0; i < len * 3 && terms.size < len; i++) terms.add(term());
    if (q % 4 === 3) terms.add(vocab - 1); // a term that (probably) few or no documents have
    queries.push(vector(terms, r, 0.6));
  }
  return { docs, queries, vocab };
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** The documented scoring, replayed in JavaScript with float32 rounding: the top-k every algorithm must return. */
function modelTopK(c: Collection, ix: InvertedIndex, q: SparseVector, k: number): { ids: number[]; scores: number[] } {
  const levels = 2 ** ix.impactBits - 1;
  const scale = ix.scale;
  const unit = Math.fround(scale / levels);
  const weights = new Map<number, number>();
  q.indices.forEach((t, i) => weights.set(t, Math.fround(q.values[i] * unit)));
  const toLevel = levels / scale;
  const scored: { id: number; score: number }[] = [];
  c.docs.forEach((d, id) => {
    let s = 0;
    let hit = false;
    // Documents and queries are both in ascending term order: the document's order is the query's.
    d.indices.forEach((t, i) => {
      const w = weights.get(t);
      if (w === undefined) return;
      const qv = Math.min(Math.max(roundHalfEven(d.values[i] * toLevel), 1), levels);
      s = Math.fround(s + Math.fround(w * qv));
      hit = true;
    });
    if (hit) scored.push({ id, score: s });
  });
  scored.sort((a, b) => b.score - a.score || a.id - b.id);
  const top = scored.slice(0, k);
  return { ids: top.map((x) => x.id), scores: top.map((x) => x.score) };
}

function bruteForce(c: Collection, q: SparseVector): Float64Array {
  const w = new Map<number, number>();
  q.indices.forEach((t, i) => w.set(t, q.values[i]));
  const out = new Float64Array(c.docs.length);
  c.docs.forEach((d, id) => d.indices.forEach((t, i) => { out[id] += (w.get(t) ?? 0) * d.values[i]; }));
  return out;
}

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected an error').toBeInstanceOf(SpladeError);
  expect((caught as SpladeError).code).toBe(code);
  if (message) expect((caught as Error).message).toMatch(message);
}

const dir = mkdtempSync(join(tmpdir(), 'splade-index-'));

// CRC-32C (Castagnoli), as the index file's checksums (native/index/crc32c.cpp).
const CRC32C_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** Rewrites the checksums over a changed section (its table entry at `at`), the section table and the header. */
function repairChecksums(buf: Buffer, at: number, offset: number, length: number): void {
  const nSections = buf.readUInt32LE(20);
  buf.writeUInt32LE(crc32c(buf.subarray(offset, offset + length)), at + 4);
  buf.writeUInt32LE(crc32c(buf.subarray(64, 64 + 24 * nSections)), 24);
  buf.writeUInt32LE(0, 16);
  buf.writeUInt32LE(crc32c(buf.subarray(0, 64)), 16);
}
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CASES = [
  { name: 'small, 8-bit, block 16, bmp blocks of 1', seed: 1, nDocs: 400, vocab: 300, docLen: 20, queryLen: 6, blockSize: 16, impactBits: 8 as const, bmpBlockDocs: 1 },
  { name: 'zipf 1.1, 8-bit, block 128', seed: 2, nDocs: 5000, vocab: 3000, docLen: 40, queryLen: 10, blockSize: 128, impactBits: 8 as const },
  { name: 'long queries, 16-bit, block 64', seed: 3, nDocs: 3000, vocab: 1000, docLen: 30, queryLen: 25, blockSize: 64, impactBits: 16 as const },
  { name: 'one document', seed: 4, nDocs: 1, vocab: 50, docLen: 10, queryLen: 5, blockSize: 128, impactBits: 8 as const },
  { name: 'more superblocks, bmp blocks of 7', seed: 5, nDocs: 9000, vocab: 800, docLen: 12, queryLen: 8, blockSize: 32, impactBits: 8 as const, bmpBlockDocs: 7 },
  { name: 'bmp blocks of 256', seed: 6, nDocs: 20000, vocab: 2000, docLen: 10, queryLen: 12, blockSize: 64, impactBits: 8 as const, bmpBlockDocs: 256 },
  { name: 'reordered by bisection', seed: 8, nDocs: 6000, vocab: 1500, docLen: 25, queryLen: 10, blockSize: 64, impactBits: 8 as const, reorder: 'bp' as const },
  { name: 'reordered, 16-bit', seed: 9, nDocs: 3000, vocab: 700, docLen: 20, queryLen: 8, blockSize: 32, impactBits: 16 as const, reorder: 'bp' as const },
];
// Every 8-bit case again with the block-max store as the only copy of the postings: every
// algorithm then reads it through BmpCursor.
const STORES = [
  ...CASES.map((cs) => ({ ...cs, store: 'lists' as const })),
  ...CASES.filter((cs) => cs.impactBits === 8).map((cs) => ({ ...cs, name: `${cs.name}, compact store`, store: 'compact' as const })),
];

describe.each(STORES)('InvertedIndex on a random Zipfian collection: $name (seed $seed)', (cs) => {
  const c = collection(cs.seed, cs.nDocs, cs.vocab, cs.docLen, cs.queryLen, cs.seed === 2 ? 1.1 : 1.0);
  const ix = InvertedIndex.build(c.docs, { blockSize: cs.blockSize, impactBits: cs.impactBits, vocabSize: cs.vocab, bmpBlockDocs: cs.bmpBlockDocs, reorder: cs.reorder, store: cs.store });
  const ks = [1, 10, 100, 10000];
  // The block-max store holds 8-bit impacts only.
  const algorithms = ALGORITHMS.filter((a) => a !== 'bmp' || cs.impactBits === 8);

  it('counts documents and postings', () => {
    expect(ix.numDocs).toBe(c.docs.length);
    expect(ix.numPostings).toBe(c.docs.reduce((a, d) => a + d.indices.length, 0));
    expect(ix.vocabSize).toBe(cs.vocab);
    expect(ix.store).toBe(cs.store);
  });

  it('exhaustive equals the bit-exact model of the quantized scores', () => {
    expect(ix.reordered).toBe(cs.reorder === 'bp' && cs.nDocs > 2);
    for (const q of c.queries) {
      for (const k of ks) {
        const r = ix.search(q, { k, algorithm: 'exhaustive' });
        const m = modelTopK(c, ix, q, k);
        expect(Array.from(r.scores)).toEqual(m.scores);
        if (!ix.reordered) {
          expect(Array.from(r.ids)).toEqual(m.ids);
          continue;
        }
        // Reordered: ids are input positions; ties are broken by the internal order, so only the
        // set of ids at each score is fixed, and each id's own score must be its model score.
        const byScore = (ids: ArrayLike<number>, scores: ArrayLike<number>) => {
          const out = new Map<number, number[]>();
          for (let i = 0; i < ids.length; i++) out.set(scores[i], [...(out.get(scores[i]) ?? []), ids[i]]);
          return out;
        };
        const got = byScore(r.ids, r.scores), want = byScore(m.ids, m.scores);
        const last = m.scores[m.scores.length - 1];
        for (const [score, ids] of want) {
          if (score === last) continue; // the cut may take any of the ties at the k-th score
          expect(got.get(score)?.sort((a, b) => a - b)).toEqual(ids.sort((a, b) => a - b));
        }
        const all = modelTopK(c, ix, q, c.docs.length);
        const trueScore = new Map(all.ids.map((id, i) => [id, all.scores[i]]));
        r.ids.forEach((id, i) => expect(r.scores[i]).toBe(trueScore.get(id)));
      }
    }
  });

  it('exhaustive agrees with the float brute force up to the quantization error', () => {
    const levels = 2 ** cs.impactBits - 1;
    for (const q of c.queries) {
      const exact = bruteForce(c, q);
      // Per posting, rounding to a level is off by at most half a level; values below half a level
      // are raised to level 1 (off by less than one level).
      const unit = ix.scale / levels;
      const w = new Map<number, number>();
      q.indices.forEach((t, i) => w.set(t, q.values[i]));
      const r = ix.search(q, { k: 10000, algorithm: 'exhaustive' });
      for (let i = 0; i < r.ids.length; i++) {
        const d = c.docs[r.ids[i]];
        let bound = 0;
        d.indices.forEach((t, j) => { bound += (w.get(t) ?? 0) * (d.values[j] < unit / 2 ? unit - d.values[j] : unit / 2); });
        expect(Math.abs(r.scores[i] - exact[r.ids[i]])).toBeLessThanOrEqual(bound * (1 + 1e-4) + 1e-6 * exact[r.ids[i]]);
      }
      // Every matching document is returned, up to k = 10000.
      expect(r.ids.length).toBe(Math.min(10000, Array.from(exact).filter((x) => x > 0).length));
      // The exhaustive postings count is the sum of the query terms' list lengths.
      const df = (t: number) => c.docs.filter((d) => d.indices.includes(t)).length;
      expect(r.postingsScored).toBe(Array.from(q.indices).reduce((a, t) => a + df(t), 0));
    }
  });

  it.each(ALGORITHMS.filter((a) => a !== 'exhaustive'))('%s returns exactly the exhaustive top-k', (algorithm) => {
    if (!algorithms.includes(algorithm)) {
      expect(ix.hasBlockMaxStore).toBe(false);
      expectCode(() => ix.search(c.queries[0], { k: 10, algorithm }), 'ERR_SPLADE_UNSUPPORTED', /rebuild/);
      return;
    }
    let pruned = 0, total = 0;
    for (const q of c.queries) {
      for (const k of ks) {
        const ref = ix.search(q, { k, algorithm: 'exhaustive' });
        const r = ix.search(q, { k, algorithm });
        expect(Array.from(r.ids)).toEqual(Array.from(ref.ids));
        expect(Array.from(r.scores)).toEqual(Array.from(ref.scores));
        expect(r.postingsScored).toBeLessThanOrEqual(ref.postingsScored);
        pruned += r.postingsScored;
        total += ref.postingsScored;
      }
    }
    if (cs.nDocs >= 1000) expect(pruned).toBeLessThan(total); // pruning is visible
  });

  it('searchBatch equals search', async () => {
    for (const algorithm of algorithms) {
      for (const threads of [1, 2]) {
        const rs = await ix.searchBatch(c.queries, { k: 10, algorithm, threads });
        expect(rs.length).toBe(c.queries.length);
        rs.forEach((r, i) => {
          const s = ix.search(c.queries[i], { k: 10, algorithm });
          expect(Array.from(r.ids)).toEqual(Array.from(s.ids));
          expect(Array.from(r.scores)).toEqual(Array.from(s.scores));
          expect(r.postingsScored).toBe(s.postingsScored);
        });
      }
    }
  });
});

describe('InvertedIndex edge cases', () => {
  const c = collection(7, 800, 500, 15, 5);
  const ix = InvertedIndex.build(c.docs, { vocabSize: 600, docIds: c.docs.map((_, i) => `doc-${i}`) });
  const q = (indices: number[], values?: number[]) => ({
    indices: Uint32Array.from(indices),
    values: Float32Array.from(values ?? indices.map(() => 1)),
  });

  it.each(ALGORITHMS)('%s: empty query, unknown term, k above the collection', (algorithm) => {
    const empty = ix.search(q([]), { k: 10, algorithm });
    expect(empty.ids.length).toBe(0);
    expect(empty.scores.length).toBe(0);
    expect(empty.postingsScored).toBe(0);
    const none = ix.search(q([599]), { k: 10, algorithm }); // below vocabSize, in no document
    expect(none.ids.length).toBe(0);
    const big = ix.search(q([0, 1, 2, 599]), { k: 10000, algorithm });
    const matching = c.docs.filter((d) => [0, 1, 2].some((t) => d.indices.includes(t))).length;
    expect(big.ids.length).toBe(matching);
    expect(big.docIds).toEqual(Array.from(big.ids).map((i) => `doc-${i}`));
  });

  it('refuses unsorted or duplicate query indices, out-of-vocabulary terms and bad weights', () => {
    for (const algorithm of ALGORITHMS) {
      expectCode(() => ix.search(q([5, 3]), { k: 10, algorithm }), 'ERR_SPLADE_INVALID_ARGUMENT', /strictly ascending/);
      expectCode(() => ix.search(q([3, 3]), { k: 10, algorithm }), 'ERR_SPLADE_INVALID_ARGUMENT', /strictly ascending/);
      expectCode(() => ix.search(q([600]), { k: 10, algorithm }), 'ERR_SPLADE_OUT_OF_RANGE', /vocabulary size 600/);
      expectCode(() => ix.search(q([3], [0]), { k: 10, algorithm }), 'ERR_SPLADE_INVALID_ARGUMENT', /finite and > 0/);
      expectCode(() => ix.search(q([3], [NaN]), { k: 10, algorithm }), 'ERR_SPLADE_INVALID_ARGUMENT');
      // finite weights whose scores would pass the float range (every top score infinite)
      expectCode(() => ix.search(q([3, 4], [3e38, 3e38]), { k: 10, algorithm }), 'ERR_SPLADE_INVALID_ARGUMENT', /too large/);
      const big = ix.search(q([3, 4], [1e30, 1e30]), { k: 10, algorithm }), unit = ix.search(q([3, 4], [1, 1]), { k: 10, algorithm });
      expect(Array.from(big.ids)).toEqual(Array.from(unit.ids));
      expect(big.scores.every((s) => Number.isFinite(s))).toBe(true);
    }
    expectCode(() => ix.search(q([3]), { k: 0 }), 'ERR_SPLADE_INVALID_ARGUMENT', /k but received 0/);
    expectCode(() => ix.search(q([3]), { k: 10001 }), 'ERR_SPLADE_INVALID_ARGUMENT');
    expectCode(() => ix.search(q([3]), { k: 10, algorithm: 'bm25' as never }), 'ERR_SPLADE_INVALID_ARGUMENT', /one of/);
    expectCode(() => ix.search({ indices: [1], values: [1] } as never, { k: 10 }), 'ERR_SPLADE_INVALID_ARGUMENT', /Uint32Array/);
    return expect(ix.searchBatch([q([1]), q([4, 2])], { k: 10 })).rejects.toMatchObject({
      code: 'ERR_SPLADE_INVALID_ARGUMENT',
      message: expect.stringMatching(/query 1/),
    });
  });

  it('refuses bad documents with the document number', () => {
    const good = q([1, 2]);
    expectCode(() => InvertedIndex.build([good, good, q([4, 2])]), 'ERR_SPLADE_INVALID_ARGUMENT', /document 2: indices must be strictly ascending/);
    expectCode(() => InvertedIndex.build([good, q([1, 2], [1, -1])]), 'ERR_SPLADE_INVALID_ARGUMENT', /document 1: values must be finite/);
    expectCode(() => InvertedIndex.build([q([7])], { vocabSize: 5 }), 'ERR_SPLADE_OUT_OF_RANGE', /term 7/);
    expectCode(() => InvertedIndex.build([good], { docIds: ['a', 'b'] }), 'ERR_SPLADE_INVALID_ARGUMENT', /docIds/);
    expectCode(() => InvertedIndex.build([good], { blockSize: 8 }), 'ERR_SPLADE_INVALID_ARGUMENT', /blockSize/);
    expectCode(() => InvertedIndex.build([good], { scale: -1 }), 'ERR_SPLADE_INVALID_ARGUMENT', /scale/);
  });

  it('builds from a generator (streaming) and from an empty collection', () => {
    function* gen() {
      for (const d of c.docs) yield d;
    }
    const streamed = InvertedIndex.build(gen(), { vocabSize: 600 });
    const a = streamed.search(q([0, 5, 9]), { k: 50 });
    const b = ix.search(q([0, 5, 9]), { k: 50 });
    expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
    expect(a.docIds).toBeUndefined();
    const none = InvertedIndex.build([]);
    expect(none.numDocs).toBe(0);
    expect(none.search(q([]), { k: 5 }).ids.length).toBe(0);
  });

  it('a given scale clamps larger values to the top level; scores stay in the original units', () => {
    const docs = [q([1], [0.5]), q([1], [2]), q([1], [4])];
    const x = InvertedIndex.build(docs, { scale: 2 });
    const r = x.search(q([1], [1]), { k: 3, algorithm: 'exhaustive' });
    expect(Array.from(r.ids)).toEqual([1, 2, 0]); // 2 and 4 tie at the top level: lower id first
    expect(r.scores[0]).toBeCloseTo(2, 5);
    expect(r.scores[1]).toBeCloseTo(2, 5);
    expect(r.scores[2]).toBeCloseTo(0.5, 2);
  });

  it('a batch in flight keeps the index alive through dispose', async () => {
    const x = InvertedIndex.build(c.docs, { vocabSize: 600 });
    const ref = x.search(c.queries[0], { k: 10 });
    const pending = x.searchBatch([c.queries[0], c.queries[0]], { k: 10, threads: 2 });
    x.dispose();
    const rs = await pending;
    for (const r of rs) expect(Array.from(r.ids)).toEqual(Array.from(ref.ids));
    await expect(x.searchBatch([c.queries[0]], { k: 10 })).rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT' });
  });

  it('dispose releases the index', () => {
    const x = InvertedIndex.build([q([1])]);
    x.dispose();
    expectCode(() => x.search(q([1]), { k: 1 }), 'ERR_SPLADE_INVALID_ARGUMENT', /disposed/);
  });
});

describe('InvertedIndex files', () => {
  const c = collection(11, 1500, 400, 20, 8);
  const docIds = c.docs.map((_, i) => `id:${i}:é`);
  const ix = InvertedIndex.build(c.docs, { docIds, blockSize: 32 });
  const path = join(dir, 'a.idx');
  ix.save(path);
  const bytes = readFileSync(path);

  it('round-trips: same results, counts and document ids; the file is the reported size', () => {
    const o = InvertedIndex.open(path);
    expect(o.numDocs).toBe(ix.numDocs);
    expect(o.numPostings).toBe(ix.numPostings);
    expect(o.sizeBytes).toBe(bytes.length);
    expect(ix.sizeBytes).toBe(bytes.length);
    for (const q of c.queries) {
      for (const algorithm of ALGORITHMS) {
        const a = ix.search(q, { k: 20, algorithm });
        const b = o.search(q, { k: 20, algorithm });
        expect(Array.from(b.ids)).toEqual(Array.from(a.ids));
        expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
        expect(b.docIds).toEqual(Array.from(a.ids).map((i) => docIds[i]));
      }
    }
    o.dispose();
  });

  it('saves atomically: replaces a file in one step and leaves no temporary file', () => {
    const p = join(dir, 'b.idx');
    const small = InvertedIndex.build([{ indices: Uint32Array.of(1), values: Float32Array.of(1) }]);
    small.save(p);
    const before = InvertedIndex.open(p); // maps the old file
    ix.save(p);
    expect(before.numDocs).toBe(1); // the old mapping is intact: the new file was renamed over it
    expect(before.search({ indices: Uint32Array.of(1), values: Float32Array.of(1) }, { k: 1 }).ids.length).toBe(1);
    expect(InvertedIndex.open(p).numDocs).toBe(ix.numDocs);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    expectCode(() => ix.save(join(dir, 'no-such-dir', 'c.idx')), 'ERR_SPLADE_IO');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses foreign, empty, missing and other-version files', () => {
    const foreign = join(dir, 'foreign.idx');
    writeFileSync(foreign, 'this is not an index, just some text of moderate length...................');
    expectCode(() => InvertedIndex.open(foreign), 'ERR_SPLADE_CORRUPT_FILE', /magic/);
    writeFileSync(foreign, '');
    expectCode(() => InvertedIndex.open(foreign), 'ERR_SPLADE_CORRUPT_FILE');
    expectCode(() => InvertedIndex.open(join(dir, 'missing.idx')), 'ERR_SPLADE_IO');
    const v4 = Buffer.from(bytes);
    v4.writeUInt32LE(4, 8);
    writeFileSync(foreign, v4);
    expectCode(() => InvertedIndex.open(foreign), 'ERR_SPLADE_UNSUPPORTED', /version 4: this build of splade reads versions 1 to 3 \(the file was written by a newer splade/);
  });

  it('opens a format-1 file (written before the block-max store) with the results it gave then', () => {
    const fixture = join(import.meta.dirname, 'fixtures', 'index-v1');
    const old = InvertedIndex.open(join(fixture, 'index.idx'));
    const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as
      { indices: number[]; values: number[]; ids: number[]; scores: number[]; docIds: string[] }[];
    expect(old.hasBlockMaxStore).toBe(false);
    for (const e of expected) {
      const q = { indices: Uint32Array.from(e.indices), values: Float32Array.from(e.values) };
      for (const algorithm of ALGORITHMS.filter((a) => a !== 'bmp')) {
        const r = old.search(q, { k: 10, algorithm });
        expect(Array.from(r.ids)).toEqual(e.ids);
        expect(Array.from(r.scores)).toEqual(e.scores);
        expect(r.docIds).toEqual(e.docIds);
      }
      expectCode(() => old.search(q, { k: 10, algorithm: 'bmp' }), 'ERR_SPLADE_UNSUPPORTED', /rebuild/);
      expectCode(() => old.search(q, { k: 10, algorithm: 'approximate' }), 'ERR_SPLADE_UNSUPPORTED', /rebuild/);
    }
    old.dispose();
  });

  // topBlocks 0: 'approximate' is the same block-max pruning as over the lists (its own tests are below).
  const compact = InvertedIndex.build(c.docs, { docIds, blockSize: 32, bmpBlockDocs: 8, store: 'compact', topBlocks: 0 });
  const listed = InvertedIndex.build(c.docs, { docIds, blockSize: 32, bmpBlockDocs: 8, store: 'compact', topBlocks: 64 });
  const listedPath = join(dir, 'listed.idx');
  listed.save(listedPath);
  const listedBytes = readFileSync(listedPath);
  const lists = InvertedIndex.build(c.docs, { docIds, blockSize: 32, bmpBlockDocs: 8 }); // the same store, with lists
  const compactPath = join(dir, 'compact.idx');
  compact.save(compactPath);
  const compactBytes = readFileSync(compactPath);

  it('store compact: a version-3 file without lists, smaller, with the results of the lists for every algorithm', () => {
    expect(compactBytes.readUInt32LE(8)).toBe(3);
    expect(bytes.readUInt32LE(8)).toBe(2); // indexes with lists stay version 2, for older readers
    expect(compactBytes.length).toBeLessThan(bytes.length);
    const o = InvertedIndex.open(compactPath);
    expect(o.store).toBe('compact');
    expect(o.sizeBytes).toBe(compactBytes.length);
    for (const q of c.queries) {
      for (const algorithm of [...ALGORITHMS, 'approximate'] as const) {
        for (const k of [1, 10, 1000]) {
          const a = lists.search(q, { k, algorithm });
          const b = o.search(q, { k, algorithm });
          expect(Array.from(b.ids)).toEqual(Array.from(a.ids));
          expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
          expect(b.docIds).toEqual(Array.from(a.ids).map((i) => docIds[i]));
        }
      }
      // beta < 1 rescores its finds through cursors over the store.
      const a = lists.search(q, { k: 10, algorithm: 'approximate', beta: 0.5 });
      const b = o.search(q, { k: 10, algorithm: 'approximate', beta: 0.5 });
      expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
    }
    o.dispose();
  });

  it('store compact: damage behind repaired checksums is caught by the structural checks (ERR_SPLADE_CORRUPT_FILE) or leaves a consistent index', () => {
    // The checksums catch random damage first; repairing them exercises the checks of every field.
    const r = rng(97);
    const p = join(dir, 'structure.idx');
    const nSections = compactBytes.readUInt32LE(20);
    const sections = Array.from({ length: nSections }, (_, i) => ({
      at: 64 + 24 * i, id: compactBytes.readUInt32LE(64 + 24 * i),
      offset: Number(compactBytes.readBigUInt64LE(64 + 24 * i + 8)), length: Number(compactBytes.readBigUInt64LE(64 + 24 * i + 16)),
    }));
    const targets = sections.filter((sec) => [1, 6, 7, 11, 12, 13].includes(sec.id) && sec.length > 0);
    expect(targets.map((sec) => sec.id).sort((a, b) => a - b)).toEqual([1, 6, 7, 11, 12, 13]);
    let caught = 0, consistent = 0;
    for (let iter = 0; iter < 400; iter++) {
      const buf = Buffer.from(compactBytes);
      const sec = targets[iter % targets.length];
      const flips = 1 + Math.floor(r() * 2);
      for (let f = 0; f < flips; f++) buf[sec.offset + Math.floor(r() * sec.length)] ^= 1 << Math.floor(r() * 8);
      repairChecksums(buf, sec.at, sec.offset, sec.length);
      writeFileSync(p, buf);
      let o: InvertedIndex;
      try {
        o = InvertedIndex.open(p);
      } catch (err) {
        expect((err as SpladeError).code, `iteration ${iter}`).toBe('ERR_SPLADE_CORRUPT_FILE');
        caught++;
        continue;
      }
      const q = c.queries[iter % c.queries.length];
      let ref: ReturnType<InvertedIndex['search']> | undefined;
      try {
        ref = o.search(q, { k: 20, algorithm: 'exhaustive' });
      } catch (err) {
        expect((err as SpladeError).code, `iteration ${iter}`).toBe('ERR_SPLADE_CORRUPT_FILE');
      }
      for (const algorithm of ALGORITHMS) {
        if (!ref) {
          expectCode(() => o.search(q, { k: 20, algorithm }), 'ERR_SPLADE_CORRUPT_FILE');
          continue;
        }
        const got = o.search(q, { k: 20, algorithm });
        expect(Array.from(got.ids), `iteration ${iter}, ${algorithm}`).toEqual(Array.from(ref.ids));
        expect(Array.from(got.scores), `iteration ${iter}, ${algorithm}`).toEqual(Array.from(ref.scores));
      }
      if (ref) consistent++;
      else caught++;
      o.dispose();
    }
    expect(caught).toBeGreaterThan(200); // most single-bit changes break a rule
    expect(caught + consistent).toBe(400);
  });

  it('store compact: a term that starts anywhere but where the previous one ended is caught, whichever thread checks it', () => {
    // The store is checked in term ranges on the pool's threads: every term is tried, so every range
    // boundary is too, with a pool of 5 (a middle range's start is checked only against the range
    // before it).
    setThreads(5);
    const p = join(dir, 'term-start.idx');
    const nSections = compactBytes.readUInt32LE(20);
    const at = Array.from({ length: nSections }, (_, i) => 64 + 24 * i).find((a) => compactBytes.readUInt32LE(a) === 7)!;
    const offset = Number(compactBytes.readBigUInt64LE(at + 8)), length = Number(compactBytes.readBigUInt64LE(at + 16));
    const vocab = length / 32;
    const q = c.queries[0];
    for (let t = 0; t < vocab; t++) {
      for (const field of [0, 8, 16]) { // first_group, first_block, first_posting
        const buf = Buffer.from(compactBytes);
        const f = offset + 32 * t + field;
        buf.writeBigUInt64LE(buf.readBigUInt64LE(f) + 1n, f);
        repairChecksums(buf, at, offset, length);
        writeFileSync(p, buf);
        const o = InvertedIndex.open(p);
        expectCode(() => o.search(q, { k: 10, algorithm: 'exhaustive' }), 'ERR_SPLADE_CORRUPT_FILE');
        o.dispose();
      }
    }
    setThreads(0);
  });

  it('store compact: damaged top-block lists behind a repaired checksum fail approximate search (ERR_SPLADE_CORRUPT_FILE) or change nothing', () => {
    const r = rng(96);
    const p = join(dir, 'lists-damage.idx');
    const nSections = listedBytes.readUInt32LE(20);
    const at = Array.from({ length: nSections }, (_, i) => 64 + 24 * i).find((a) => listedBytes.readUInt32LE(a) === 14)!;
    expect(at, 'the compact build writes section 14').toBeDefined();
    const offset = Number(listedBytes.readBigUInt64LE(at + 8)), length = Number(listedBytes.readBigUInt64LE(at + 16));
    const o = InvertedIndex.open(listedPath);
    const want = c.queries.map((q) => o.search(q, { k: 10, algorithm: 'approximate', blocks: 3 }));
    const exact = c.queries.map((q) => o.search(q, { k: 10, algorithm: 'exhaustive' }));
    o.dispose();
    let caught = 0;
    for (let iter = 0; iter < 120; iter++) {
      const buf = Buffer.from(listedBytes);
      // Half the flips in the header and term offsets, where a change is structural.
      const span = iter % 2 === 0 ? Math.min(length, 32 + 16 * 8) : length;
      buf[offset + Math.floor(r() * span)] ^= 1 << Math.floor(r() * 8);
      repairChecksums(buf, at, offset, length);
      writeFileSync(p, buf);
      const d = InvertedIndex.open(p);
      const qi = iter % c.queries.length;
      // The exact algorithms never read the lists.
      expect(Array.from(d.search(c.queries[qi], { k: 10, algorithm: 'exhaustive' }).scores)).toEqual(Array.from(exact[qi].scores));
      try {
        const got = d.search(c.queries[qi], { k: 10, algorithm: 'approximate', blocks: 3 });
        expect(Array.from(got.ids), `iteration ${iter}`).toEqual(Array.from(want[qi].ids));
        expect(Array.from(got.scores), `iteration ${iter}`).toEqual(Array.from(want[qi].scores));
      } catch (err) {
        expect((err as SpladeError).code, `iteration ${iter}`).toBe('ERR_SPLADE_CORRUPT_FILE');
        caught++;
      }
      d.dispose();
    }
    expect(caught).toBeGreaterThan(100);
  });

  it.each([
    ['lists', () => bytes],
    ['compact', () => compactBytes],
    ['compact with top-block lists', () => listedBytes],
  ] as const)('fuzz (%s store): random byte flips and truncations give ERR_SPLADE_CORRUPT_FILE (ERR_SPLADE_UNSUPPORTED for a damaged version), never a crash', (store, original) => {
    const bytes = original();
    const r = rng(store === 'lists' ? 99 : store === 'compact' ? 98 : 95);
    const p = join(dir, 'fuzz.idx');
    const q = c.queries[0];
    for (let iter = 0; iter < 300; iter++) {
      const buf = Buffer.from(bytes);
      let data: Buffer;
      if (iter % 3 === 0) {
        data = buf.subarray(0, Math.floor(r() * buf.length));
      } else {
        const flips = 1 + Math.floor(r() * 4);
        // Half the time aim at the header and tables, where a flip changes structure.
        const span = iter % 2 === 0 ? Math.min(buf.length, 512) : buf.length;
        for (let f = 0; f < flips; f++) buf[Math.floor(r() * span)] ^= 1 + Math.floor(r() * 255);
        data = buf;
      }
      writeFileSync(p, data);
      if (data.equals(bytes)) continue;
      // The block-max store is verified on first use: damage there opens, then fails the first
      // search that reads it.
      let opened: InvertedIndex | undefined;
      try {
        opened = InvertedIndex.open(p);
      } catch (err) {
        // A damaged version field names a format this build does not read: that, not damage, is reported.
        const otherVersion = data.length >= 20 && data.subarray(0, 8).equals(bytes.subarray(0, 8)) && ![1, 2, 3].includes(data.readUInt32LE(8));
        expect((err as SpladeError).code, `iteration ${iter}`).toBe(otherVersion ? 'ERR_SPLADE_UNSUPPORTED' : 'ERR_SPLADE_CORRUPT_FILE');
        continue;
      }
      // Without lists, every algorithm reads the (damaged) store (the top-block lists' checksum is checked with it).
      if (store === 'lists') opened.search(q, { k: 10 });
      else for (const algorithm of ['maxscore', 'exhaustive', 'bmw'] as const) expectCode(() => opened!.search(q, { k: 10, algorithm }), 'ERR_SPLADE_CORRUPT_FILE');
      expectCode(() => opened!.search(q, { k: 10, algorithm: 'bmp' }), 'ERR_SPLADE_CORRUPT_FILE');
      expectCode(() => opened!.search(q, { k: 10, algorithm: 'approximate' }), 'ERR_SPLADE_CORRUPT_FILE');
      opened.dispose();
    }
  });
});

describe('InvertedIndex options and approximate search', () => {
  const q = (indices: number[], values?: number[]) => ({
    indices: Uint32Array.from(indices),
    values: Float32Array.from(values ?? indices.map(() => 1)),
  });

  it('refuses options it does not know, and approximate knobs out of range or on another algorithm', async () => {
    const docs = [q([1, 2]), q([2, 3])];
    expectCode(() => InvertedIndex.build(docs, { reorderr: 'bp' } as never), 'ERR_SPLADE_INVALID_ARGUMENT', /reorderr/);
    expectCode(() => InvertedIndex.build(docs, { bmpBlockDocs: 257 }), 'ERR_SPLADE_INVALID_ARGUMENT', /bmpBlockDocs/);
    expectCode(() => InvertedIndex.build(docs, { store: 'packed' } as never), 'ERR_SPLADE_INVALID_ARGUMENT', /store/);
    expectCode(() => InvertedIndex.build(docs, { store: 'compact', impactBits: 16 }), 'ERR_SPLADE_INVALID_ARGUMENT', /store/);
    expectCode(() => InvertedIndex.build(docs, { store: 'compact', bmpBlockDocs: 0 }), 'ERR_SPLADE_INVALID_ARGUMENT', /store/);
    const ix = InvertedIndex.build(docs);
    expectCode(() => ix.search(q([2]), { k: 1, algorithms: 'bmp' } as never), 'ERR_SPLADE_INVALID_ARGUMENT', /algorithms/);
    expectCode(() => ix.search(q([2]), { k: 1, algorithm: 'maxscore', alpha: 0.5 }), 'ERR_SPLADE_INVALID_ARGUMENT', /approximate/);
    for (const bad of [0, -0.1, 1.5, NaN, '0.5']) {
      expectCode(() => ix.search(q([2]), { k: 1, algorithm: 'approximate', alpha: bad as number }), 'ERR_SPLADE_INVALID_ARGUMENT', /alpha/);
      expectCode(() => ix.search(q([2]), { k: 1, algorithm: 'approximate', beta: bad as number }), 'ERR_SPLADE_INVALID_ARGUMENT', /beta/);
    }
    await expect(ix.searchBatch([q([2])], { k: 1, algorithm: 'approximate', beta: 2 })).rejects.toMatchObject({ code: 'ERR_SPLADE_INVALID_ARGUMENT' });
    const none = InvertedIndex.build(docs, { bmpBlockDocs: 0 });
    expect(none.hasBlockMaxStore).toBe(false);
    expect(none.sizeBytes).toBeLessThan(ix.sizeBytes);
    expectCode(() => none.search(q([2]), { k: 1, algorithm: 'bmp' }), 'ERR_SPLADE_UNSUPPORTED', /bmp: false|rebuild/);
  });

  // A fixed collection with topical structure (documents drawn from 2 of 40 topics, in random order):
  // the recall floor of the default knobs, and exact scores for what approximate search returns.
  const seed = 31;
  const r = rng(seed);
  const vocab = 4000, topics = 40;
  const topicTerms = Array.from({ length: topics }, () => Array.from({ length: 60 }, () => Math.floor(r() * vocab)));
  const background = zipf(vocab, 1.0, r);
  const draw = (nTopics: number, len: number, topicShare: number): SparseVector => {
    const ts = Array.from({ length: nTopics }, () => Math.floor(r() * topics));
    const w = new Map<number, number>();
    while (w.size < len) {
      if (r() < topicShare) {
        const t = topicTerms[ts[Math.floor(r() * ts.length)]][Math.floor(r() * 60)];
        w.set(t, 1 + 2 * r());
      } else {
        w.set(background(), 0.2 + 0.8 * r());
      }
    }
    const indices = Uint32Array.from([...w.keys()].sort((a, b) => a - b));
    return { indices, values: Float32Array.from(indices, (t) => w.get(t)!) };
  };
  const docs = Array.from({ length: 30000 }, () => draw(2, 20 + Math.floor(r() * 40), 0.6));
  const queries = Array.from({ length: 60 }, () => draw(1, 5 + Math.floor(r() * 15), 0.7));
  const ix = InvertedIndex.build(docs, { vocabSize: vocab });

  it('alpha = beta = 1 is exact; the defaults keep recall@10 >= 0.95 on a topical collection (not reordered), with exact scores', () => {
    let found = 0, total = 0, scoredApprox = 0, scoredExact = 0;
    for (const [i, qv] of queries.entries()) {
      const exact = ix.search(qv, { k: 10, algorithm: 'exhaustive' });
      const one = ix.search(qv, { k: 10, algorithm: 'approximate', alpha: 1, beta: 1 });
      expect(Array.from(one.ids), `seed ${seed} query ${i}`).toEqual(Array.from(exact.ids));
      expect(Array.from(one.scores)).toEqual(Array.from(exact.scores));
      const approx = ix.search(qv, { k: 10, algorithm: 'approximate' });
      const all = ix.search(qv, { k: 10000, algorithm: 'exhaustive' });
      const trueScore = new Map(Array.from(all.ids, (id, j) => [id, all.scores[j]]));
      approx.ids.forEach((id, j) => expect(approx.scores[j], `seed ${seed} query ${i} doc ${id}`).toBe(trueScore.get(id)));
      for (let j = 1; j < approx.scores.length; j++) expect(approx.scores[j]).toBeLessThanOrEqual(approx.scores[j - 1]);
      const want = new Set(exact.ids);
      found += Array.from(approx.ids).filter((id) => want.has(id)).length;
      total += exact.ids.length;
      scoredApprox += approx.postingsScored;
      scoredExact += ix.search(qv, { k: 10, algorithm: 'bmp' }).postingsScored;
    }
    expect(found / total, `seed ${seed}: recall@10 of the defaults`).toBeGreaterThanOrEqual(0.95);
    expect(scoredApprox).toBeLessThan(scoredExact); // the knobs do skip work
  });

  it('reordering by bisection keeps every exact result and tightens the block bounds bmp searches with', () => {
    const bp = InvertedIndex.build(docs, { vocabSize: vocab, reorder: 'bp' });
    expect(bp.reordered).toBe(true);
    let before = 0, after = 0;
    for (const qv of queries) {
      const a = ix.search(qv, { k: 10, algorithm: 'exhaustive' }), b = bp.search(qv, { k: 10, algorithm: 'bmp' });
      expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
      before += ix.search(qv, { k: 10, algorithm: 'bmp' }).postingsScored;
      after += b.postingsScored;
    }
    // Documents of a topic share blocks once reordered, so fewer blocks reach the k-th score.
    expect(after, `seed ${seed}`).toBeLessThan(before * 0.9);
  });

  it('top-block lists (store compact): whole lists with no block limit and alpha 1 are exact; the search defaults keep recall@10 >= 0.95 with exact scores', async () => {
    const whole = InvertedIndex.build(docs, { vocabSize: vocab, store: 'compact', topBlocks: 1 << 20 });
    const listed = InvertedIndex.build(docs, { vocabSize: vocab, store: 'compact', reorder: 'bp', topBlocks: 64 });
    const none = InvertedIndex.build(docs, { vocabSize: vocab, store: 'compact', reorder: 'bp', topBlocks: 0 });
    expect(none.sizeBytes).toBeLessThan(listed.sizeBytes);
    let found = 0, total = 0, scoredDefault = 0, scoredFew = 0, foundFew = 0;
    for (const [i, qv] of queries.entries()) {
      const exact = ix.search(qv, { k: 10, algorithm: 'exhaustive' });
      for (const k of [1, 10, 100]) {
        const e = ix.search(qv, { k, algorithm: 'exhaustive' });
        const one = whole.search(qv, { k, algorithm: 'approximate', alpha: 1, blocks: 0 });
        expect(Array.from(one.ids), `seed ${seed} query ${i} k ${k}`).toEqual(Array.from(e.ids));
        expect(Array.from(one.scores), `seed ${seed} query ${i} k ${k}`).toEqual(Array.from(e.scores));
      }
      const all = ix.search(qv, { k: 10000, algorithm: 'exhaustive' });
      const trueScore = new Map(Array.from(all.ids, (id, j) => [id, all.scores[j]]));
      const want = new Set(exact.ids);
      for (const opts of [{}, { beta: 0.5 }, { blocks: 2, alpha: 0.5 }]) {
        const approx = listed.search(qv, { k: 10, algorithm: 'approximate', ...opts });
        approx.ids.forEach((id, j) => expect(approx.scores[j], `seed ${seed} query ${i} doc ${id} ${JSON.stringify(opts)}`).toBe(trueScore.get(id)));
        for (let j = 1; j < approx.scores.length; j++) expect(approx.scores[j]).toBeLessThanOrEqual(approx.scores[j - 1]);
      }
      const approx = listed.search(qv, { k: 10, algorithm: 'approximate' });
      found += Array.from(approx.ids).filter((id) => want.has(id)).length;
      total += exact.ids.length;
      scoredDefault += approx.postingsScored;
      const few = listed.search(qv, { k: 10, algorithm: 'approximate', blocks: 4 });
      foundFew += Array.from(few.ids).filter((id) => want.has(id)).length;
      scoredFew += few.postingsScored;
    }
    expect(found / total, `seed ${seed}: recall@10 of the defaults with top-block lists`).toBeGreaterThanOrEqual(0.95);
    expect(scoredFew).toBeLessThan(scoredDefault); // blocks bounds the work
    expect(foundFew).toBeLessThan(found);
    // Past k = 100 the lists hold too few blocks: block-max pruning answers, as on an index without them.
    for (const qv of queries.slice(0, 5)) {
      const a = listed.search(qv, { k: 101, algorithm: 'approximate' }), b = none.search(qv, { k: 101, algorithm: 'approximate' });
      expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
      expect(Array.from(a.scores)).toEqual(Array.from(b.scores));
    }
    const rs = await listed.searchBatch(queries.slice(0, 8), { k: 10, algorithm: 'approximate', blocks: 20, beta: 0.8, threads: 2 });
    rs.forEach((res, i) => {
      const s = listed.search(queries[i], { k: 10, algorithm: 'approximate', blocks: 20, beta: 0.8 });
      expect(Array.from(res.ids)).toEqual(Array.from(s.ids));
      expect(Array.from(res.scores)).toEqual(Array.from(s.scores));
    });
    const docsRoundTrip = join(mkdtempSync(join(tmpdir(), 'splade-topblocks-')), 'listed.idx');
    listed.save(docsRoundTrip);
    const back = InvertedIndex.open(docsRoundTrip);
    for (const qv of queries.slice(0, 10)) {
      expect(Array.from(back.search(qv, { k: 10, algorithm: 'approximate' }).ids)).toEqual(Array.from(listed.search(qv, { k: 10, algorithm: 'approximate' }).ids));
    }
    back.dispose();
    rmSync(dirname(docsRoundTrip), { recursive: true, force: true });
  });

  it('refuses top-block knobs out of range', () => {
    const d = [q([1, 2]), q([2, 3])];
    expectCode(() => InvertedIndex.build(d, { topBlocks: 8 }), 'ERR_SPLADE_INVALID_ARGUMENT', /topBlocks/);
    for (const bad of [-1, 1.5, (1 << 20) + 1, '8']) {
      expectCode(() => InvertedIndex.build(d, { store: 'compact', topBlocks: bad as number }), 'ERR_SPLADE_INVALID_ARGUMENT', /topBlocks/);
    }
    const c = InvertedIndex.build(d, { store: 'compact', topBlocks: 64 });
    for (const bad of [-1, 2.5, (1 << 24) + 1, NaN, '3']) {
      expectCode(() => c.search(q([2]), { k: 1, algorithm: 'approximate', blocks: bad as number }), 'ERR_SPLADE_INVALID_ARGUMENT', /blocks/);
    }
    expectCode(() => c.search(q([2]), { k: 1, algorithm: 'bmp', blocks: 10 }), 'ERR_SPLADE_INVALID_ARGUMENT', /approximate/);
    expect(Array.from(c.search(q([2]), { k: 2, algorithm: 'approximate', blocks: 1 }).ids)).toEqual([0, 1]);
  });

  it('builds top-block lists by default from 4096 blocks on, none below', () => {
    for (const [n, lists] of [[4095, false], [4096, true]] as const) {
      const d = Array.from({ length: n }, (_, i) => q([i % 97, 100 + (i % 13)], [1 + (i % 5), 2]));
      const auto = InvertedIndex.build(d, { store: 'compact', bmpBlockDocs: 1 });
      const none = InvertedIndex.build(d, { store: 'compact', bmpBlockDocs: 1, topBlocks: 0 });
      if (lists) expect(auto.sizeBytes, `${n} blocks`).toBeGreaterThan(none.sizeBytes);
      else expect(auto.sizeBytes, `${n} blocks`).toBe(none.sizeBytes);
      const qv = q([3, 105], [1, 1]);
      expect(Array.from(auto.search(qv, { k: 10, algorithm: 'approximate', alpha: 1, blocks: 0 }).ids)).toEqual(Array.from(none.search(qv, { k: 10, algorithm: 'exhaustive' }).ids));
    }
  });

  it('searchBatch runs approximate search with its knobs', async () => {
    const rs = await ix.searchBatch(queries.slice(0, 8), { k: 10, algorithm: 'approximate', alpha: 0.8, beta: 0.7, threads: 2 });
    rs.forEach((res, i) => {
      const s = ix.search(queries[i], { k: 10, algorithm: 'approximate', alpha: 0.8, beta: 0.7 });
      expect(Array.from(res.ids)).toEqual(Array.from(s.ids));
      expect(Array.from(res.scores)).toEqual(Array.from(s.scores));
    });
  });
});

// A live index (IndexWriter) over several unmerged segments, with deletions and updates, searched
// with every exact algorithm: the same ids, scores, tie order and document ids as exhaustive search
// over a fresh build of its live documents in commit order (with the directory's scale), before and
// after merging.
const LIVE_CASES = [
  { name: '8-bit, block 16, bmp blocks of 4', seed: 11, nDocs: 3000, vocab: 500, docLen: 15, queryLen: 6, blockSize: 16, impactBits: 8 as const, bmpBlockDocs: 4 },
  { name: '16-bit, block 64', seed: 12, nDocs: 2000, vocab: 800, docLen: 20, queryLen: 10, blockSize: 64, impactBits: 16 as const, bmpBlockDocs: 0 },
];

describe.each(LIVE_CASES)('live index over segments with deletions and updates: $name (seed $seed)', (cs) => {
  const c = collection(cs.seed, cs.nDocs, cs.vocab, cs.docLen, cs.queryLen);
  const scale = Math.max(...c.docs.map((d) => Math.max(0, ...d.values)));
  const liveDir = join(dir, `live-${cs.seed}`);
  const algorithms = cs.impactBits === 8 && cs.bmpBlockDocs > 0 ? ALGORITHMS : ALGORITHMS.filter((a) => a !== 'bmp');
  // The model: live documents in commit order (an update moves a document to the end).
  const live = new Map<string, SparseVector>();
  const opts = { scale, impactBits: cs.impactBits, blockSize: cs.blockSize, vocabSize: cs.vocab, bmpBlockDocs: cs.bmpBlockDocs };

  function expectSameAsFresh(reader: InvertedIndex, label: string): void {
    const fresh = InvertedIndex.build([...live.values()], { ...opts, docIds: [...live.keys()] });
    expect(reader.numDocs, label).toBe(fresh.numDocs);
    expect(reader.numPostings, label).toBe(fresh.numPostings);
    for (const algorithm of algorithms) {
      c.queries.forEach((q, qi) => {
        for (const k of [1, 10, 200]) {
          const want = fresh.search(q, { k, algorithm: 'exhaustive' });
          const got = reader.search(q, { k, algorithm });
          const where = `${label}, ${algorithm}, query ${qi}, k ${k} (seed ${cs.seed})`;
          expect(Array.from(got.ids), where).toEqual(Array.from(want.ids));
          expect(Array.from(got.scores), where).toEqual(Array.from(want.scores));
          expect(got.docIds, where).toEqual(want.docIds);
        }
      });
    }
    if (cs.impactBits === 8 && cs.bmpBlockDocs > 0) {
      // approximate search with alpha = beta = 1 is exact: across segments too
      c.queries.forEach((q, qi) => {
        const want = fresh.search(q, { k: 10, algorithm: 'exhaustive' });
        const got = reader.search(q, { k: 10, algorithm: 'approximate', alpha: 1, beta: 1 });
        expect([Array.from(got.ids), Array.from(got.scores)], `${label}, approximate (1, 1), query ${qi} (seed ${cs.seed})`).toEqual([Array.from(want.ids), Array.from(want.scores)]);
      });
    }
    fresh.dispose();
  }

  it('every algorithm equals exhaustive over a fresh build, unmerged and merged; searchBatch too', async () => {
    const { IndexWriter } = await import('../lib/index.js');
    const w = await IndexWriter.open(liveDir, { ...opts, backgroundMerges: false, ramBudgetMB: 0.25 });
    const n = c.docs.length;
    const quarter = Math.ceil(n / 4);
    for (let b = 0; b < 4; b++) {
      const batch = c.docs.slice(b * quarter, (b + 1) * quarter).map((vector, j) => ({ id: `d${b * quarter + j}`, vector }));
      await w.add(batch);
      for (const d of batch) live.set(d.id, d.vector);
      if (b % 2 === 1) await w.commit();
    }
    const gone = Array.from({ length: n }, (_, i) => `d${i}`).filter((_, i) => i % 7 === 3);
    await w.delete(gone);
    for (const id of gone) live.delete(id);
    for (let i = 5; i < n; i += 11) {
      const vector = c.docs[(i * 13) % n];
      await w.update(`d${i}`, vector);
      live.delete(`d${i}`);
      live.set(`d${i}`, vector);
    }
    await w.commit();
    expect(w.numSegments, 'several unmerged segments').toBeGreaterThanOrEqual(4);
    const reader = InvertedIndex.open(liveDir);
    expectSameAsFresh(reader, 'unmerged');
    const qs = c.queries;
    const fresh = InvertedIndex.build([...live.values()], { ...opts, docIds: [...live.keys()] });
    const batch = await reader.searchBatch(qs, { k: 20, algorithm: 'maxscore' });
    batch.forEach((r, i) => {
      const want = fresh.search(qs[i], { k: 20, algorithm: 'exhaustive' });
      expect(Array.from(r.ids), `searchBatch query ${i}`).toEqual(Array.from(want.ids));
      expect(Array.from(r.scores), `searchBatch query ${i}`).toEqual(Array.from(want.scores));
    });
    fresh.dispose();

    await w.forceMerge(1);
    await w.commit();
    expect(w.numSegments).toBe(1);
    const merged = reader.refresh();
    expectSameAsFresh(merged, 'merged into one');
    expectSameAsFresh(reader, 'the old reader, on its own commit');
    await w.close();
    reader.dispose();
    merged.dispose();
  });
});
