// What the model sees (--text words) and inference-free queries (--query-weights idf --corpus) through
// encode and search: checked against the same vectors computed here from the tokenizer and BM25's
// idf formula, not through the code under test.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readRun } from '../lib/data/trec.js';
import { readVectors } from '../lib/data/vectors.js';
import { InvertedIndex, SpladeModel, bm25QueryText, textForModel } from '../lib/index.js';
import type { SparseVector } from '../lib/sparse.js';
import { runCli } from './helpers/cli.js';

const MODEL = join(import.meta.dirname, 'fixtures', 'models', 'bert');
const dir = mkdtempSync(join(tmpdir(), 'splade-cli-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (f: string) => join(dir, f);

const words = ['heart', 'lung', 'cell', 'blood', 'brain', 'liver', 'kidney', 'bone', 'skin', 'nerve'];
const corpus = Array.from({ length: 30 }, (_, i) => ({
  _id: `d${i}`, title: i % 3 ? '' : `The ${words[i % 10]}`, text: `It is a ${words[i % 10]} and the ${words[(i * 7) % 10]}, of tissue ${i} in a study.`,
}));
const queries = words.slice(0, 6).map((w, i) => ({ _id: `q${i}`, text: `what is the ${w} ${w} of a ${words[(i + 4) % 10]}?` }));
writeFileSync(p('corpus.jsonl'), corpus.map((d) => JSON.stringify(d)).join('\n'));
writeFileSync(p('queries.jsonl'), queries.map((q) => JSON.stringify(q)).join('\n'));
const docText = (d: (typeof corpus)[number]) => (d.title ? `${d.title} ${d.text}` : d.text);

const cli = runCli;

async function vectors(path: string): Promise<Map<string, SparseVector>> {
  const m = new Map<string, SparseVector>();
  for await (const r of readVectors(path)) m.set(r.id, r.vector);
  return m;
}

/** count x log(1 + (N - df + 0.5) / (df + 0.5)) per piece of the query, df over the documents' pieces. */
function idfBag(model: SpladeModel, docs: string[], query: string): Map<number, number> {
  const pieces = (t: string) => Array.from(model.tokenize(t, { kind: 'document', maxLength: 1 << 20 })).slice(1, -1);
  const df = new Map<number, number>();
  for (const d of docs) for (const t of new Set(pieces(d))) df.set(t, (df.get(t) ?? 0) + 1);
  const out = new Map<number, number>();
  for (const t of pieces(query)) {
    const n = df.get(t);
    if (n) out.set(t, (out.get(t) ?? 0) + Math.log(1 + (docs.length - n + 0.5) / (n + 0.5)));
  }
  return out;
}

describe('text modes and inference-free queries on the command line', () => {
  it('--text words keeps only the words BM25 keeps', async () => {
    expect(bm25QueryText('It is a heart and the lung, of tissue 3 in a study.')).toBe('heart lung tissue study');
    expect(textForModel('The a of', 'words')).toBe('The a of'); // nothing kept: the text as it was
    expect(textForModel('The heart', 'raw')).toBe('The heart');
    expect(() => textForModel('x', 'stems' as never)).toThrow(/text mode/);
    expect((await cli('encode', '--model', MODEL, '--input', p('corpus.jsonl'), '--text', 'words', '--out', p('docs-words.jsonl'))).code).toBe(0);
    const got = await vectors(p('docs-words.jsonl'));
    const model = await SpladeModel.load(MODEL);
    const want = await model.encode(corpus.map((d) => bm25QueryText(docText(d))), { kind: 'document' });
    const raw = await model.encode(corpus.map(docText), { kind: 'document' });
    corpus.forEach((d, i) => {
      expect(Array.from(got.get(d._id)!.indices)).toEqual(Array.from(want[i].indices));
      expect(Array.from(got.get(d._id)!.values)).toEqual(Array.from(want[i].values));
    });
    // the stop words made a difference to the raw vectors
    expect(corpus.some((_, i) => Array.from(raw[i].indices).join() !== Array.from(want[i].indices).join())).toBe(true);
  });

  it('--query-weights idf: each query its word pieces x idf over --corpus, no encoder pass', async () => {
    expect((await cli('encode', '--model', MODEL, '--input', p('queries.jsonl'), '--kind', 'query', '--text', 'words',
      '--query-weights', 'idf', '--corpus', p('corpus.jsonl'), '--out', p('q-idf.jsonl'))).code).toBe(0);
    const got = await vectors(p('q-idf.jsonl'));
    const model = await SpladeModel.load(MODEL);
    const docs = corpus.map((d) => bm25QueryText(docText(d)));
    for (const q of queries) {
      const want = idfBag(model, docs, bm25QueryText(q.text));
      const v = got.get(q._id)!;
      expect(Array.from(v.indices)).toEqual([...want.keys()].sort((a, b) => a - b));
      v.indices.forEach((t, j) => expect(v.values[j]).toBeCloseTo(want.get(t)!, 5));
    }
    // the query repeats its first word: count 2
    const q0 = got.get('q0')!, heart = idfBag(model, docs, 'heart');
    const [piece, w] = [...heart.entries()][0];
    expect(q0.values[Array.from(q0.indices).indexOf(piece)]).toBeCloseTo(2 * w, 5);
  });

  it('search --model with --text words --query-weights idf gives the index\'s answers to those vectors', async () => {
    expect((await cli('index', '--vectors', p('docs-words.jsonl'), '--out', p('words.idx'))).code).toBe(0);
    expect((await cli('search', '--index', p('words.idx'), '--model', MODEL, '--queries', p('queries.jsonl'), '--text', 'words',
      '--query-weights', 'idf', '--corpus', p('corpus.jsonl'), '--out', p('idf.trec'), '--k', '5')).code).toBe(0);
    const run = await readRun(p('idf.trec'));
    const index = InvertedIndex.open(p('words.idx'));
    const qv = await vectors(p('q-idf.jsonl'));
    for (const q of queries) {
      const top = index.search(qv.get(q._id)!, { k: 5 });
      const ids = top.docIds ?? Array.from(top.ids, String);
      expect(Object.keys(run[q._id]).sort()).toEqual([...ids].sort());
      ids.forEach((d, i) => expect(run[q._id][d]).toBeCloseTo(top.scores[i], 4));
    }
    // the planted word's documents come first: q1 (lung) finds a document with lung in it
    const best = Object.entries(run.q1).sort((a, b) => b[1] - a[1])[0][0];
    expect(docText(corpus.find((d) => d._id === best)!)).toContain('lung');
  });

  it('says what is wrong with the options', async () => {
    const enc = (...a: string[]) => cli('encode', '--model', MODEL, '--input', p('queries.jsonl'), '--out', p('x.jsonl'), ...a);
    let r = await enc('--kind', 'query', '--query-weights', 'idf');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--query-weights idf needs --corpus/);
    r = await enc('--text', 'stems');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--text must be one of raw, words/);
    r = await enc('--query-weights', 'idf', '--corpus', p('corpus.jsonl'));
    expect(r.err).toMatch(/are for --kind query/);
    r = await enc('--kind', 'query', '--query-weights', 'bm25', '--corpus', p('corpus.jsonl'));
    expect(r.err).toMatch(/--query-weights must be encoder, idf or model/);
    r = await enc('--kind', 'query', '--corpus', p('corpus.jsonl'));
    expect(r.err).toMatch(/--corpus is only used with --query-weights idf/);
    writeFileSync(p('empty.jsonl'), '');
    r = await enc('--kind', 'query', '--query-weights', 'idf', '--corpus', p('empty.jsonl'));
    expect(r.err).toMatch(/has no documents/);
    r = await cli('search', '--index', p('words.idx'), '--queries', p('q-idf.jsonl'), '--out', p('x.trec'), '--text', 'words');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/need --model/);
    expect(readFileSync(p('queries.jsonl'), 'utf8')).toContain('q0'); // inputs untouched
  });
});
