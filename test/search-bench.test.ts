// The search benchmark's parts (bench/search): the generated collections are deterministic,
// streamed and have the statistics their files state; the alias sampler draws its law; the flags
// make the rows the harness promises; the measurement finds exact algorithms exact and says loudly
// when one is not; a saved index is reused only for what it holds.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import type { SparseVector } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';
import { argsForCollection, parseBenchArgs, parseSearchOptions, searchSettings } from '../bench/search/args.js';
import { buildOrOpen } from '../bench/search/build-index.js';
import type { BenchCollection } from '../bench/search/collection.js';
import { exactnessWarnings, measureSettings, type SettingFigures } from '../bench/search/measure.js';
import { AliasTable, zipfWeights } from '../bench/search/sampling.js';
import { spladeCollection } from '../bench/search/splade-collection.js';
import { topicalCollection } from '../bench/search/topical-collection.js';
import { uniformCollection } from '../bench/search/uniform-collection.js';

const SEED = 7;
const dir = mkdtempSync(join(tmpdir(), 'search-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const take = (c: BenchCollection, n: number) => [...(c.documents(n) as Iterable<SparseVector>)];

// declared lengths: [min, max] terms of a document and of a query
const GENERATED = [
  { make: spladeCollection, docs: [1, 180], queries: [1, 38] },
  { make: uniformCollection, docs: [60, 180], queries: [10, 40] },
  { make: topicalCollection, docs: [60, 180], queries: [10, 40] },
] as const;

function checkShape(v: SparseVector, vocab: number, [lo, hi]: readonly [number, number], what: string): void {
  expect(v.indices.length, `${what} length`).toBeGreaterThanOrEqual(lo);
  expect(v.indices.length, `${what} length`).toBeLessThanOrEqual(hi);
  expect(v.values.length).toBe(v.indices.length);
  for (let i = 0; i < v.indices.length; i++) {
    if (i > 0 && !(v.indices[i] > v.indices[i - 1])) throw new Error(`${what}: indices not strictly ascending at ${i}`);
    if (v.indices[i] >= vocab) throw new Error(`${what}: term ${v.indices[i]} out of the vocabulary`);
    if (!(v.values[i] > 0) || !Number.isFinite(v.values[i])) throw new Error(`${what}: weight ${v.values[i]} at ${i}`);
  }
}

describe.each(GENERATED)('generated collection $make.name (seed 7)', ({ make, docs, queries }) => {
  const c = make(SEED);

  it('gives the same documents and queries on every run, and others for another seed', () => {
    const a = take(c, 300), b = take(make(SEED), 300), other = take(make(SEED + 1), 300);
    expect(b).toEqual(a);
    expect(other).not.toEqual(a);
    expect(c.queries(50)).toEqual(make(SEED).queries(50));
    // the first documents do not depend on how many are asked for
    expect(take(c, 10)).toEqual(a.slice(0, 10));
  });

  it('has the declared lengths, ascending distinct terms and positive weights', () => {
    const ds = take(c, 2000);
    ds.forEach((d, i) => checkShape(d, c.vocabSize, docs, `document ${i}`));
    const mean = ds.reduce((s, d) => s + d.indices.length, 0) / ds.length;
    expect(mean).toBeGreaterThan(115);
    expect(mean).toBeLessThan(125);
    (c.queries(300) as SparseVector[]).forEach((q, i) => checkShape(q, c.vocabSize, queries, `query ${i}`));
  });
});

/** Mean weight of the postings of the `head` most frequent terms over that of all the others. */
function headOverTailWeight(ds: SparseVector[], vocab: number, head: number): number {
  const df = new Uint32Array(vocab);
  for (const d of ds) for (const t of d.indices) df[t]++;
  const frequent = new Set(Array.from(df.keys()).sort((a, b) => df[b] - df[a]).slice(0, head));
  const sum = [0, 0], n = [0, 0];
  for (const d of ds) d.indices.forEach((t, i) => { const h = frequent.has(t) ? 0 : 1; sum[h] += d.values[i]; n[h]++; });
  return sum[0] / n[0] / (sum[1] / n[1]);
}

describe('weights against term frequency (seed 7, 3000 documents)', () => {
  it('uniform: frequent terms weigh as much as rare ones', () => {
    const r = headOverTailWeight(take(uniformCollection(SEED), 3000), 30522, 50);
    expect(r).toBeGreaterThan(0.9);
    expect(r).toBeLessThan(1.1);
  });

  it('splade: frequent terms weigh far less', () => {
    expect(headOverTailWeight(take(spladeCollection(SEED), 3000), 30522, 50)).toBeLessThan(0.3);
  });
});

describe('AliasTable', () => {
  it('draws each index with its weight (seed 11, 200k draws)', () => {
    const weights = zipfWeights(10, 1);
    const table = new AliasTable(weights);
    const r = mulberry32(11);
    const counts = new Float64Array(10);
    const draws = 200_000;
    for (let i = 0; i < draws; i++) counts[table.sample(r())]++;
    const total = weights.reduce((a, b) => a + b, 0);
    for (let i = 0; i < 10; i++) {
      const p = weights[i] / total;
      // 5 standard deviations of a binomial count
      expect(Math.abs(counts[i] - p * draws), `index ${i}`).toBeLessThan(5 * Math.sqrt(draws * p * (1 - p)));
    }
  });
});

describe('flags', () => {
  it('puts exhaustive first, one row per setting, algorithms named only by --opts last', () => {
    const opts = parseSearchOptions(['maxscore:{}', 'approximate:{"heapFactor":0.9}', 'approximate:{"heapFactor":0.7}']);
    expect(searchSettings(['maxscore', 'bmw'], opts)).toEqual([
      { algorithm: 'exhaustive', options: {} },
      { algorithm: 'maxscore', options: {} },
      { algorithm: 'bmw', options: {} },
      { algorithm: 'approximate', options: { heapFactor: 0.9 } },
      { algorithm: 'approximate', options: { heapFactor: 0.7 } },
    ]);
  });

  it('reads settings from a JSON file and refuses malformed ones', () => {
    const file = join(dir, 'opts.json');
    writeFileSync(file, JSON.stringify({ approximate: [{ heapFactor: 0.8 }, {}], bmp: { blockSize: 64 } }));
    expect(parseSearchOptions([`@${file}`])).toEqual([
      { algorithm: 'approximate', options: { heapFactor: 0.8 } },
      { algorithm: 'approximate', options: {} },
      { algorithm: 'bmp', options: { blockSize: 64 } },
    ]);
    expect(() => parseSearchOptions(['approximate'])).toThrow(/ALG:\{json\}/);
    expect(() => parseSearchOptions(['approximate:{heapFactor}'])).toThrow(/not valid JSON/);
    expect(() => parseSearchOptions(['approximate:[1]'])).toThrow(/JSON object/);
  });

  it('checks the rest and hands each collection to a child with its own --json', () => {
    const c = parseBenchArgs(['--collection', 'uniform,topical', '--docs', '5000', '--k', '10,100', '--build', '{"reorder":"bp"}', '--save', '/x/{collection}.idx'])!;
    expect(c).toMatchObject({ collections: ['uniform', 'topical'], docs: 5000, ks: [10, 100], build: { reorder: 'bp' }, index: '/x/{collection}.idx', rebuild: true });
    expect(() => parseBenchArgs(['--collection', 'msmarco'])).toThrow(/--collection/);
    expect(() => parseBenchArgs(['--docs', '0'])).toThrow(/--docs/);
    expect(() => parseBenchArgs(['--build', 'bp'])).toThrow(/--build/);
    expect(argsForCollection(['--collection', 'a,b', '--json=out.json', '--k', '10'], 'uniform', '/t/u.json'))
      .toEqual(['--k', '10', '--collection', 'uniform', '--json', '/t/u.json']);
  });
});

describe('measurement and index reuse (uniform, seed 7, 3000 documents)', () => {
  const c = uniformCollection(SEED);
  const id = { collection: 'uniform', docs: 3000, seed: SEED, build: {}, docIds: false };
  const path = join(dir, 'uniform.idx');

  it('finds the exact algorithms exact, and reuses the saved index only for the same collection', async () => {
    const built = await buildOrOpen(c, id, path, false);
    expect(built.reused).toBe(false);
    expect(built.figures.docs).toBe(3000);
    expect(built.figures.postings).toBe(take(c, 3000).reduce((s, d) => s + d.indices.length, 0));
    const settings = searchSettings(['wand', 'maxscore', 'bmw'], []);
    const rows = measureSettings(built.index, c.queries(40) as SparseVector[], 10, settings, 2, true);
    built.index.dispose();
    expect(rows.map((r) => r.algorithm)).toEqual(['exhaustive', 'wand', 'maxscore', 'bmw']);
    for (const r of rows) {
      expect(r).toMatchObject({ recall: 1, minRecall: 1, differing: 0, exact: true });
      expect(r.timesMs).toHaveLength(40);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
    }
    expect(rows[2].postingsScored).toBeLessThan(rows[0].postingsScored);
    expect(exactnessWarnings(rows)).toEqual([]);

    const again = await buildOrOpen(c, id, path, false);
    expect(again.reused).toBe(true);
    expect(again.figures).toEqual(built.figures);
    again.index.dispose();
    await expect(buildOrOpen(c, { ...id, docs: 2000 }, path, false)).rejects.toThrow(/holds/);
    await expect(buildOrOpen(c, { ...id, build: { blockSize: 64 } }, path, false)).rejects.toThrow(/holds/);
  });

  it('warns loudly about an exact algorithm that is not, and not about approximate search', () => {
    const row = (algorithm: string, recall: number): SettingFigures => ({
      k: 10, algorithm, options: {}, meanMs: 1, p50Ms: 1, p99Ms: 1, postingsScored: 1, recall, minRecall: recall, differing: recall < 1 ? 3 : 0, exact: algorithm !== 'approximate',
    });
    const warnings = exactnessWarnings([row('bmp', 0.98), row('approximate', 0.9), row('maxscore', 1)]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/WARNING: bmp at k = 10 .* 3 queries/);
  });
});
