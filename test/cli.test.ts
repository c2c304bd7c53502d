// The command line end to end on a tiny collection: encode -> index -> search -> eval -> export, plus
// BM25 and the resumable encode. Runs the CLI's main() in-process (same code as `npx splade`).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readRun } from '../lib/data/trec.js';
import { readVectors } from '../lib/data/vectors.js';
import { InvertedIndex } from '../lib/index.js';
import { runCli } from './helpers/cli.js';

const MODEL = join(import.meta.dirname, 'fixtures', 'models', 'bert');
const dir = mkdtempSync(join(tmpdir(), 'splade-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const words = ['heart', 'lung', 'cell', 'blood', 'brain', 'liver', 'kidney', 'bone', 'skin', 'nerve'];
const corpus = Array.from({ length: 40 }, (_, i) => ({ _id: `d${i}`, title: words[i % 10], text: `${words[i % 10]} ${words[(i * 3) % 10]} tissue study ${i}` }));
const queries = words.slice(0, 5).map((w, i) => ({ _id: `q${i}`, text: `${w} tissue` }));
writeFileSync(join(dir, 'corpus.jsonl'), corpus.map((d) => JSON.stringify(d)).join('\n'));
writeFileSync(join(dir, 'queries.jsonl'), queries.map((q) => JSON.stringify(q)).join('\n'));
writeFileSync(join(dir, 'qrels.tsv'), ['query-id\tcorpus-id\tscore', ...queries.map((q, i) => `${q._id}\td${i}\t1`)].join('\n'));

const cli = runCli;

describe('splade CLI', () => {
  it('encodes, indexes, searches, evaluates and exports', async () => {
    const p = (f: string) => join(dir, f);
    expect((await cli('encode', '--model', MODEL, '--input', p('corpus.jsonl'), '--out', p('docs.jsonl'))).code).toBe(0);
    expect((await cli('encode', '--model', MODEL, '--input', p('queries.jsonl'), '--kind', 'query', '--out', p('q.jsonl'))).code).toBe(0);
    const docs = [];
    for await (const r of readVectors(p('docs.jsonl'))) docs.push(r);
    expect(docs.map((d) => d.id)).toEqual(corpus.map((d) => d._id));
    expect(docs.every((d) => d.vector.indices.length > 0)).toBe(true);

    expect((await cli('index', '--vectors', p('docs.jsonl'), '--out', p('idx'))).code).toBe(0);
    const index = InvertedIndex.open(p('idx'));
    expect(index.numDocs).toBe(40);
    expect((await cli('search', '--index', p('idx'), '--queries', p('q.jsonl'), '--out', p('run.trec'), '--k', '10')).code).toBe(0);
    expect((await cli('search', '--index', p('idx'), '--model', MODEL, '--queries', p('queries.jsonl'), '--out', p('run2.trec'), '--k', '10')).code).toBe(0);
    const run = await readRun(p('run.trec'));
    expect(Object.keys(run).sort()).toEqual(queries.map((q) => q._id).sort());
    // Encoding queries on the fly gives the same run as encoding them first.
    expect(await readRun(p('run2.trec'))).toEqual(run);
    // The run holds exactly what the index returns for each query.
    const qv = [];
    for await (const r of readVectors(p('q.jsonl'))) qv.push(r);
    const top = index.search(qv[0].vector, { k: 10 });
    expect(Object.keys(run.q0).sort()).toEqual([...top.docIds!].sort());

    const ev = await cli('eval', '--run', p('run.trec'), '--qrels', p('qrels.tsv'), '--json');
    const mean = JSON.parse(ev.out).mean;
    // nDCG@10 computed here from the run: one relevant document per query (qi -> di, grade 1), so the
    // ideal DCG is 1 and a query scores 1 / log2(rank + 1) when di ranks in its top 10 (trec_eval's
    // order: score descending, equal scores by document id descending).
    const ranks = queries.map((q, i) => Object.entries(run[q._id])
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : 0)).findIndex(([d]) => d === `d${i}`));
    const expected = ranks.reduce((s, r) => s + (r >= 0 && r < 10 ? 1 / Math.log2(r + 2) : 0), 0) / queries.length;
    expect(ranks.some((r) => r >= 0), `ranks ${ranks}`).toBe(true); // the planted documents are found
    expect(mean['ndcg@10'], `ranks ${ranks}`).toBeCloseTo(expected, 12);

    expect((await cli('export', '--vectors', p('docs.jsonl'), '--model', MODEL, '--format', 'anserini', '--out', p('a.jsonl'))).code).toBe(0);
    const lines = readFileSync(p('a.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(40);
    expect(JSON.parse(lines[0]).id).toBe('d0');
  });

  it('BM25 index and search through the CLI find the planted documents', async () => {
    const p = (f: string) => join(dir, f);
    expect((await cli('index', '--bm25', '--corpus', p('corpus.jsonl'), '--out', p('bm25'))).code).toBe(0);
    expect((await cli('search', '--bm25', p('bm25'), '--queries', p('queries.jsonl'), '--out', p('bm25.trec'), '--k', '5')).code).toBe(0);
    const run = await readRun(p('bm25.trec'));
    // Query "heart tissue": documents titled heart (d0, d10, d20, d30) rank first.
    const best = Object.entries(run.q0).sort((a, b) => b[1] - a[1])[0][0];
    expect(['d0', 'd10', 'd20', 'd30']).toContain(best);
  });

  it('mines hard negatives with BM25 and the SPLADE model, fused', async () => {
    const p = (f: string) => join(dir, f);
    const args = ['mine', '--corpus', p('corpus.jsonl'), '--queries', p('queries.jsonl'), '--qrels', p('qrels.tsv'), '--retrievers', 'bm25,splade', '--model', MODEL, '--fusion', 'rrf', '--depth', '10', '--count', '3'];
    expect((await cli(...args, '--out', p('neg.jsonl'))).code).toBe(0);
    const recs = readFileSync(p('neg.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(recs).toHaveLength(5);
    for (const r of recs) {
      expect(Object.keys(r.neg)).toEqual(['bm25', 'splade', 'fused']);
      for (const list of Object.values(r.neg) as string[][]) {
        expect(list.length).toBeLessThanOrEqual(3);
        for (const d of list) expect(r.pos).not.toContain(d);
      }
    }
    // Deterministic for the seed.
    expect((await cli(...args, '--out', p('neg2.jsonl'))).code).toBe(0);
    expect(readFileSync(p('neg2.jsonl'), 'utf8')).toBe(readFileSync(p('neg.jsonl'), 'utf8'));
  });

  it('resumes an interrupted encode from OUT.partial', async () => {
    const p = (f: string) => join(dir, f);
    const full = readFileSync(p('docs.jsonl'), 'utf8').split('\n').filter(Boolean);
    // Interrupted after 15 documents, with a half-written 16th line.
    writeFileSync(p('resume.jsonl.partial'), `${full.slice(0, 15).join('\n')}\n${full[15].slice(0, 20)}`);
    expect((await cli('encode', '--model', MODEL, '--input', p('corpus.jsonl'), '--out', p('resume.jsonl'))).code).toBe(0);
    expect(existsSync(p('resume.jsonl.partial'))).toBe(false);
    expect(readFileSync(p('resume.jsonl'), 'utf8').split('\n').filter(Boolean)).toEqual(full);
  });

  it('bench measures every algorithm on an index; --threads sizes the pool', async () => {
    const p = (f: string) => join(dir, f);
    const r = await cli('bench', '--index', p('idx'), '--queries', p('q.jsonl'), '--k', '5', '--repeat', '1', '--threads', '1');
    expect(r.code).toBe(0);
    for (const a of ['exhaustive', 'wand', 'maxscore', 'bmw']) expect(r.out).toContain(`k=5 ${a}`);
    const { info, setThreads } = await import('../lib/index.js');
    expect(info().threads).toBe(1);
    setThreads(0);
    const e = await cli('bench', '--model', MODEL, '--input', p('corpus.jsonl'), '--limit', '8');
    expect(e.out).toMatch(/encode 8 documents \(\d+ tokens\)/);
  });

  it('reports bad usage with exit code 2 and unknown commands with 1', async () => {
    expect((await cli('info', '--threads', '0')).code).toBe(2);
    expect((await cli('index')).code).toBe(2);
    expect((await cli('search', '--index', join(dir, 'idx'), '--queries', join(dir, 'q.jsonl'), '--out', join(dir, 'x'), '--k', '0')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(1);
    expect((await cli('eval', '--help')).code).toBe(0);
    expect((await cli('encode', '--model', MODEL, '--input', join(dir, 'queries.jsonl'), '--out', join(dir, 'x'), '--precision', 'fp16')).code).toBe(2);
    expect((await cli('encode', '--model', MODEL, '--input', join(dir, 'queries.jsonl'), '--out', join(dir, 'x'), '--device', 'tpu')).code).toBe(2);
  });

  it('encodes in bf16 with --precision bf16: the same terms as fp32, weights close', async () => {
    const p = (f: string) => join(dir, f);
    expect((await cli('encode', '--model', MODEL, '--input', p('corpus.jsonl'), '--out', p('docs-bf16.jsonl'), '--precision', 'bf16')).code).toBe(0);
    const fp32 = new Map<string, Map<number, number>>(), bf16: typeof fp32 = new Map();
    for (const [file, into] of [['docs.jsonl', fp32], ['docs-bf16.jsonl', bf16]] as const) {
      for await (const r of readVectors(p(file))) into.set(r.id, new Map([...r.vector.indices].map((j, k) => [j, r.vector.values[k]])));
    }
    expect([...bf16.keys()]).toEqual([...fp32.keys()]);
    let differs = 0;
    for (const [id, a] of fp32) {
      const b = bf16.get(id)!;
      const scale = Math.max(...a.values());
      for (const [j, w] of a) {
        const err = Math.abs((b.get(j) ?? 0) - w) / scale;
        expect(err, `${id} term ${j}`).toBeLessThan(5e-2);
        if (err > 0) differs++;
      }
    }
    expect(differs).toBeGreaterThan(0);  // it did run in bf16
  });
});
