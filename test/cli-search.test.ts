// The search-at-scale options of the command line: index --reorder bp and --bmp-block-docs, search
// --algorithm bmp / approximate with --alpha / --beta, and bench's recall column, on vectors written
// here (seeded), checked against the library searched directly.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readRun } from '../lib/data/trec.js';
import { InvertedIndex } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';
import { runCli as cli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-cli-search-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string) => join(dir, f);

const SEED = 77;
const r = mulberry32(SEED);
function vector(len: number, vocab: number) {
  const terms = new Set<number>();
  while (terms.size < len) terms.add(Math.floor(Math.pow(r(), 2) * vocab));
  const indices = [...terms].sort((a, b) => a - b);
  return { indices, values: indices.map(() => Math.round((0.05 + r() * 3) * 1000) / 1000) };
}
const docs = Array.from({ length: 3000 }, (_, i) => ({ id: `doc${i}`, ...vector(5 + Math.floor(r() * 30), 2000) }));
const queries = Array.from({ length: 20 }, (_, i) => ({ id: `q${i}`, ...vector(3 + Math.floor(r() * 10), 2000) }));
writeFileSync(p('docs.jsonl'), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
writeFileSync(p('q.jsonl'), queries.map((q) => JSON.stringify(q)).join('\n') + '\n');

describe('splade index / search / bench: block-max pruning, approximate search, reordering', () => {
  it('index --reorder bp writes a reordered index whose bmp and approximate runs match the library', async () => {
    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('bp.idx'), '--reorder', 'bp', '--bmp-block-docs', '16')).code).toBe(0);
    const ix = InvertedIndex.open(p('bp.idx'));
    expect(ix.reordered).toBe(true);
    expect(ix.hasBlockMaxStore).toBe(true);
    for (const [algorithm, extra] of [['bmp', []], ['approximate', ['--alpha', '0.7', '--beta', '0.8']], ['exhaustive', []]] as const) {
      const out = p(`${algorithm}.trec`);
      expect((await cli('search', '--index', p('bp.idx'), '--queries', p('q.jsonl'), '--out', out, '--k', '10', '--algorithm', algorithm, ...extra)).code).toBe(0);
      const run = await readRun(out);
      for (const q of queries) {
        const opts = algorithm === 'approximate' ? { k: 10, algorithm, alpha: 0.7, beta: 0.8 } : { k: 10, algorithm };
        const want = ix.search({ indices: Uint32Array.from(q.indices), values: Float32Array.from(q.values) }, opts);
        const got = run[q.id] ?? {};
        expect(Object.keys(got).sort(), `seed ${SEED} ${algorithm} ${q.id}`).toEqual([...want.docIds!].sort());
        want.docIds!.forEach((d, i) => expect(got[d]).toBeCloseTo(want.scores[i], 4));
      }
    }
    expect(await readRun(p('bmp.trec'))).toEqual(await readRun(p('exhaustive.trec')));
    ix.dispose();
  });

  it('index --store compact --top-blocks and search --blocks match the library', async () => {
    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('tb.idx'), '--store', 'compact', '--top-blocks', '8', '--bmp-block-docs', '16')).code).toBe(0);
    const ix = InvertedIndex.open(p('tb.idx'));
    expect(ix.store).toBe('compact');
    expect((await cli('search', '--index', p('tb.idx'), '--queries', p('q.jsonl'), '--out', p('tb.trec'), '--k', '10', '--algorithm', 'approximate', '--blocks', '5')).code).toBe(0);
    const run = await readRun(p('tb.trec'));
    let differs = 0;
    for (const q of queries) {
      const qv = { indices: Uint32Array.from(q.indices), values: Float32Array.from(q.values) };
      const want = ix.search(qv, { k: 10, algorithm: 'approximate', blocks: 5 });
      expect(Object.keys(run[q.id] ?? {}).sort(), `seed ${SEED} ${q.id}`).toEqual([...want.docIds!].sort());
      const all = ix.search(qv, { k: 10, algorithm: 'approximate', blocks: 0, alpha: 1 });
      differs += Array.from(all.ids).join() === Array.from(want.ids).join() ? 0 : 1;
    }
    expect(differs, 'five blocks find less than all of them').toBeGreaterThan(0);
    ix.dispose();
    expect((await cli('search', '--index', p('tb.idx'), '--queries', p('q.jsonl'), '--out', p('x.trec'), '--algorithm', 'approximate', '--blocks=-1')).code).toBe(2);
    expect((await cli('search', '--index', p('tb.idx'), '--queries', p('q.jsonl'), '--out', p('x.trec'), '--algorithm', 'bmp', '--blocks', '5')).code).toBe(2);
    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('x.idx'), '--top-blocks', '8')).code).toBe(2);
  });

  it('bench reports every algorithm with its recall against exhaustive', async () => {
    const res = await cli('bench', '--index', p('bp.idx'), '--queries', p('q.jsonl'), '--k', '10', '--repeat', '1', '--alpha', '0.5', '--beta', '0.5');
    expect(res.code).toBe(0);
    const row = (a: string) => res.out.split('\n').find((l) => l.startsWith(`k=10 ${a} `))!;
    for (const a of ['exhaustive', 'wand', 'maxscore', 'bmw', 'bmp']) expect(row(a).trim().split(/\s+/).pop()).toBe('1.000');
    // The approximate row's recall is the fraction of exhaustive's ids that the library's approximate search finds.
    const ix = InvertedIndex.open(p('bp.idx'));
    let found = 0, wanted = 0;
    for (const q of queries) {
      const qv = { indices: Uint32Array.from(q.indices), values: Float32Array.from(q.values) };
      const exact = new Set(ix.search(qv, { k: 10, algorithm: 'exhaustive' }).ids);
      found += Array.from(ix.search(qv, { k: 10, algorithm: 'approximate', alpha: 0.5, beta: 0.5 }).ids).filter((id) => exact.has(id)).length;
      wanted += exact.size;
    }
    expect(row('approximate').trim().split(/\s+/).pop()).toBe((found / wanted).toFixed(3));
    ix.dispose();
  });

  it('refuses bad reorder, knobs and algorithms with exit code 2', async () => {
    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('x.idx'), '--reorder', 'random')).code).toBe(2);
    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('x.idx'), '--bmp-block-docs', '300')).code).toBe(2);
    const search = (...a: string[]) => cli('search', '--index', p('bp.idx'), '--queries', p('q.jsonl'), '--out', p('x.trec'), ...a);
    expect((await search('--algorithm', 'approximate', '--alpha', '0')).code).toBe(2);
    expect((await search('--algorithm', 'approximate', '--beta', '1.5')).code).toBe(2);
    expect((await search('--algorithm', 'maxscore', '--alpha', '0.5')).code).toBe(2);
    expect((await search('--algorithm', 'fast')).code).toBe(2);
    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('small.idx'), '--bmp-block-docs', '0')).code).toBe(0);
    const noStore = await cli('search', '--index', p('small.idx'), '--queries', p('q.jsonl'), '--out', p('x.trec'), '--algorithm', 'bmp');
    expect(noStore.code).not.toBe(0);
  });
});

describe('splade index --into / search --index DIR: a live index', () => {
  it('adds in two runs, deletes ids, and searches the directory: the same run as a single index of the live documents', async () => {
    const live = p('live');
    writeFileSync(p('part1.jsonl'), docs.slice(0, 1500).map((d) => JSON.stringify(d)).join('\n') + '\n');
    writeFileSync(p('part2.jsonl'), docs.slice(1500).map((d) => JSON.stringify(d)).join('\n') + '\n');
    const gone = docs.filter((_, i) => i % 10 === 4).map((d) => d.id);
    writeFileSync(p('gone.txt'), gone.join('\n') + '\n');
    expect((await cli('index', '--vectors', p('part1.jsonl'), '--into', live, '--scale', '4', '--vocab-size', '2000')).code).toBe(0);
    const second = await cli('index', '--vectors', p('part2.jsonl'), '--into', live, '--delete', p('gone.txt'));
    expect(second.code).toBe(0);
    expect(second.err).toMatch(/2700 live documents/);
    const kept = docs.filter((_, i) => i % 10 !== 4);
    writeFileSync(p('kept.jsonl'), kept.map((d) => JSON.stringify(d)).join('\n') + '\n');
    expect((await cli('index', '--vectors', p('kept.jsonl'), '--out', p('kept.idx'), '--scale', '4', '--vocab-size', '2000')).code).toBe(0);
    expect((await cli('search', '--index', live, '--queries', p('q.jsonl'), '--out', p('live.run'), '--k', '50')).code).toBe(0);
    expect((await cli('search', '--index', p('kept.idx'), '--queries', p('q.jsonl'), '--out', p('kept.run'), '--k', '50')).code).toBe(0);
    const [a, b] = [await readRun(p('live.run')), await readRun(p('kept.run'))];
    expect(Object.keys(a).length).toBe(queries.length);
    expect(a).toEqual(b);
    expect((await cli('index', '--into', live, '--delete', p('gone.txt'), '--scale', '5')).code, 'scale is fixed at creation').toBe(2);
    expect((await cli('index', '--vectors', p('part1.jsonl'), '--out', p('x.idx'), '--delete', p('gone.txt'))).code).toBe(2);
  });
});
