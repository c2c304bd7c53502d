// `splade fuse` end to end on hand-made runs: every expected order and score is worked out here from
// the definitions (normalised sums, 1 / (60 + rank)), not taken from the library's fusion code.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-fuse-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string) => join(dir, f);

type Scores = Record<string, Record<string, number>>;
function writeTrec(file: string, run: Scores): string {
  const lines = Object.entries(run).flatMap(([q, docs]) => Object.entries(docs).map(([d, s], i) => `${q} Q0 ${d} ${i + 1} ${s} hand`));
  writeFileSync(p(file), `${lines.join('\n')}\n`);
  return p(file);
}

// q1 is in both runs, q2 only in A. Within A's q3 "a" and "b" tie: trec_eval ranks b first.
const A = writeTrec('a.trec', { q1: { d1: 10, d2: 8, d3: 5, d4: 2 }, q2: { d7: 3, d8: 1 }, q3: { a: 5, b: 5 } });
const B = writeTrec('b.trec', { q1: { d3: 4, d5: 3, d1: 1 } });

const cli = runCli;

/** The written file, query by query: [docid, rank, score] in file order. */
function readLines(file: string): Record<string, [string, number, number][]> {
  const out: Record<string, [string, number, number][]> = {};
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const [q, q0, d, rank, score, tag] = line.split(' ');
    expect(q0).toBe('Q0');
    expect(tag).toBe('fused');
    (out[q] ??= []).push([d, Number(rank), Number(score)]);
  }
  return out;
}

function expectQuery(got: [string, number, number][], want: [string, number][]): void {
  expect(got.map(([d]) => d)).toEqual(want.map(([d]) => d));
  expect(got.map(([, r]) => r)).toEqual(want.map((_, i) => i + 1));
  got.forEach(([d, , s], i) => expect(s, d).toBeCloseTo(want[i][1], 12));
}

describe('splade fuse', () => {
  it('max (default): sum of max-normalised scores, a query from one run only kept', async () => {
    const r = await cli('fuse', '--runs', `${A},${B}`, '--out', p('max.trec'));
    expect(r.code).toBe(0);
    expect(r.err).toContain(`wrote ${p('max.trec')}: 3 queries, method max`);
    const got = readLines(p('max.trec'));
    // A/10: d1 1, d2 .8, d3 .5, d4 .2; B/4: d3 1, d5 .75, d1 .25
    expectQuery(got.q1, [['d3', 1.5], ['d1', 1.25], ['d2', 0.8], ['d5', 0.75], ['d4', 0.2]]);
    expectQuery(got.q2, [['d7', 1], ['d8', 1 / 3]]);
    expectQuery(got.q3, [['b', 1], ['a', 1]]);
  });

  it('weights change the order', async () => {
    expect((await cli('fuse', '--runs', `${A},${B}`, '--weights', '1,0.2', '--out', p('w.trec'))).code).toBe(0);
    // d1 1 + .2*.25, d2 .8, d3 .5 + .2*1, d4 .2, d5 .2*.75
    expectQuery(readLines(p('w.trec')).q1, [['d1', 1.05], ['d2', 0.8], ['d3', 0.7], ['d4', 0.2], ['d5', 0.15]]);
    // A weight of 0 leaves B's order alone (A's documents get 0, tied, ranked by id descending).
    expect((await cli('fuse', '--runs', `${A},${B}`, '--weights', '0,1', '--out', p('w0.trec'))).code).toBe(0);
    expectQuery(readLines(p('w0.trec')).q1, [['d3', 1], ['d5', 0.75], ['d1', 0.25], ['d4', 0], ['d2', 0]]);
  });

  it('minmax and zscore, with the floor for documents a run did not retrieve', async () => {
    expect((await cli('fuse', '--runs', `${A},${B}`, '--method', 'minmax', '--out', p('mm.trec'))).code).toBe(0);
    // A (x-2)/8: d1 1, d2 .75, d3 .375, d4 0; B (x-1)/3: d3 1, d5 2/3, d1 0; missing: 0
    expectQuery(readLines(p('mm.trec')).q1, [['d3', 1.375], ['d1', 1], ['d2', 0.75], ['d5', 2 / 3], ['d4', 0]]);

    expect((await cli('fuse', '--runs', `${A},${B}`, '--method', 'zscore', '--out', p('z.trec'))).code).toBe(0);
    const z = (xs: number[]) => {
      const mu = xs.reduce((a, b) => a + b) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / xs.length);
      return (x: number) => (x - mu) / sd;
    };
    const za = z([10, 8, 5, 2]), zb = z([4, 3, 1]);
    const floorB = zb(1);  // what B gives d2 and d4, which it did not retrieve
    const want: [string, number][] = [['d1', za(10) + zb(1)], ['d2', za(8) + floorB], ['d3', za(5) + zb(4)], ['d4', za(2) + floorB], ['d5', za(2) + zb(3)]];
    // d5 is not in A: it gets A's floor, the z-score of A's lowest document (2).
    want.sort((x, y) => y[1] - x[1]);
    expect(want.map(([d]) => d)).toEqual(['d3', 'd1', 'd2', 'd5', 'd4']);
    const got = readLines(p('z.trec'));
    expectQuery(got.q1, want);
    // q2 is not in B at all: B adds 0, so q2's scores are A's z-scores.
    const zq2 = z([3, 1]);
    expectQuery(got.q2, [['d7', zq2(3)], ['d8', zq2(1)]]);
  });

  it('rrf: 1 / (60 + rank) summed, ranks as trec_eval ranks, weights scale each run', async () => {
    const r = await cli('fuse', '--runs', `${A},${B}`, '--method', 'rrf', '--out', p('rrf.trec'));
    expect(r.code).toBe(0);
    expect(r.err).toContain('method rrf');
    const got = readLines(p('rrf.trec'));
    // A ranks d1 d2 d3 d4, B ranks d3 d5 d1. d1 and d3 tie, as do d2 and d5: ties by id descending.
    expectQuery(got.q1, [['d3', 1 / 63 + 1 / 61], ['d1', 1 / 61 + 1 / 63], ['d5', 1 / 62], ['d2', 1 / 62], ['d4', 1 / 64]]);
    expectQuery(got.q2, [['d7', 1 / 61], ['d8', 1 / 62]]);
    // a and b tie in A's scores; trec_eval ranks b first, so b gets rank 1.
    expectQuery(got.q3, [['b', 1 / 61], ['a', 1 / 62]]);

    expect((await cli('fuse', '--runs', `${A},${B}`, '--method', 'rrf', '--weights', '2,1', '--out', p('rrf-w.trec'))).code).toBe(0);
    expectQuery(readLines(p('rrf-w.trec')).q1, [['d1', 2 / 61 + 1 / 63], ['d3', 2 / 63 + 1 / 61], ['d2', 2 / 62], ['d4', 2 / 64], ['d5', 1 / 62]]);
  });

  it('fuses three runs', async () => {
    const C = writeTrec('c.trec', { q1: { d4: 7 } });
    expect((await cli('fuse', '--runs', `${A},${B},${C}`, '--out', p('three.trec'))).code).toBe(0);
    expectQuery(readLines(p('three.trec')).q1, [['d3', 1.5], ['d1', 1.25], ['d4', 1.2], ['d2', 0.8], ['d5', 0.75]]);
  });

  it('--k keeps the top k documents per query', async () => {
    expect((await cli('fuse', '--runs', `${A},${B}`, '--k', '2', '--out', p('k2.trec'))).code).toBe(0);
    const got = readLines(p('k2.trec'));
    expectQuery(got.q1, [['d3', 1.5], ['d1', 1.25]]);
    expectQuery(got.q2, [['d7', 1], ['d8', 1 / 3]]);
    // At a tie the cut keeps what the written ranks put first.
    expect((await cli('fuse', '--runs', `${A},${B}`, '--k', '1', '--method', 'rrf', '--out', p('k1.trec'))).code).toBe(0);
    expect(readLines(p('k1.trec')).q1.map(([d]) => d)).toEqual(['d3']);
  });

  it('rejects bad usage with a clear message and exit code 2, writing nothing', async () => {
    const bad = async (want: RegExp, ...args: string[]) => {
      const r = await cli('fuse', ...args, '--out', p('bad.trec'));
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(want);
      expect(existsSync(p('bad.trec'))).toBe(false);
    };
    await bad(/--runs needs at least two/, '--runs', A);
    await bad(/--runs needs at least two/);
    await bad(/--weights needs one weight per run \(2 runs\), got 3/, '--runs', `${A},${B}`, '--weights', '1,1,1');
    await bad(/--weights needs one weight per run \(2 runs\), got 1/, '--runs', `${A},${B}`, '--weights', '1');
    await bad(/finite number >= 0, got -1 for run 2/, '--runs', `${A},${B}`, '--weights', '1,-1');
    await bad(/finite number >= 0, got x for run 1/, '--runs', `${A},${B}`, '--weights', 'x,1');
    await bad(/finite number >= 0, got 1e999/, '--runs', `${A},${B}`, '--weights', '1e999,1');
    await bad(/at least one weight must be above 0/, '--runs', `${A},${B}`, '--weights', '0,0');
    await bad(/--method must be one of max, minmax, zscore, rrf, got borda/, '--runs', `${A},${B}`, '--method', 'borda');
    await bad(/--k must be an integer >= 1/, '--runs', `${A},${B}`, '--k', '0');
    await bad(/Cannot read .*missing\.trec/, '--runs', `${A},${p('missing.trec')}`);
    writeFileSync(p('corrupt.trec'), 'q1 Q0 d1 1 notanumber x\n');
    await bad(/corrupt\.trec.*score must be a finite number/s, '--runs', `${A},${p('corrupt.trec')}`);
    expect((await cli('fuse', '--runs', `${A},${B}`)).err).toMatch(/--out is required/);
  });

  it('is listed in the command table and has --help', async () => {
    expect((await cli('--help')).out).toMatch(/fuse\s+fuse several TREC runs/);
    const h = await cli('fuse', '--help');
    expect(h.code).toBe(0);
    expect(h.out).toContain('--method M');
  });
});
