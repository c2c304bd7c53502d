import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, describe, expect, it } from 'vitest';

import {
  SpladeError, loadBeir, readBeirCorpus, readBeirQueries, readLines, readMsMarcoCollection, readMsMarcoQueries,
  readQrels, readRun, writeRun, type RunEntry,
} from '../lib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<SpladeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SpladeError);
    return err as SpladeError;
  }
  throw new Error('expected a rejection');
}

const CORPUS = [
  { _id: 'd1', title: 'Wing', text: 'A wing in a slipstream.' },
  { _id: 'd2', text: 'no title here' },
  { _id: 3, title: 'numeric id', text: 'ünïcödé – text' },
].map((o) => JSON.stringify(o)).join('\n') + '\n';

function beirDir(name: string, gz: boolean): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'qrels'), { recursive: true });
  const put = (file: string, text: string) => writeFileSync(join(d, gz ? `${file}.gz` : file), gz ? gzipSync(text) : text);
  put('corpus.jsonl', CORPUS);
  put('queries.jsonl', '{"_id":"q1","text":"wing"}\r\n{"_id":"q2","text":"title"}\r\n');
  put('qrels/test.tsv', 'query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td2\t1\n');
  return d;
}

describe('BEIR layout', () => {
  for (const gz of [false, true]) {
    it(`loadBeir reads corpus, queries and qrels (${gz ? 'gzipped' : 'plain'})`, async () => {
      const ds = await loadBeir(beirDir(gz ? 'beir-gz' : 'beir', gz), 'test');
      expect(ds.queries).toEqual([{ id: 'q1', text: 'wing' }, { id: 'q2', text: 'title' }]);
      expect(ds.qrels).toEqual({ q1: { d1: 2, d2: 0 }, q2: { d2: 1 } });
      const docs = await collect(ds.corpus());
      expect(docs).toEqual([
        { id: 'd1', title: 'Wing', text: 'A wing in a slipstream.' },
        { id: 'd2', title: '', text: 'no title here' },
        { id: '3', title: 'numeric id', text: 'ünïcödé – text' },
      ]);
      expect(await collect(ds.corpus())).toHaveLength(3); // re-startable
    });
  }

  it('detects gzip by magic bytes, not by name', async () => {
    const p = join(dir, 'corpus-gz-no-suffix.jsonl');
    writeFileSync(p, gzipSync(CORPUS));
    expect((await collect(readBeirCorpus(p))).map((d) => d.id)).toEqual(['d1', 'd2', '3']);
    const fake = join(dir, 'fake.jsonl.gz');
    writeFileSync(fake, CORPUS);
    expect((await rejection(collect(readBeirCorpus(fake)))).message).toMatch(/not gzip data/);
  });

  it('a bad line is an error naming file and line', async () => {
    const p = join(dir, 'bad.jsonl');
    writeFileSync(p, '{"_id":"a","text":"x"}\n\n{"_id":"b","text":"y"\n');
    const err = await rejection(collect(readBeirCorpus(p)));
    expect(err.code).toBe('ERR_SPLADE_CORRUPT_FILE');
    expect(err.message).toContain(`${p}:3: invalid JSON`);
    writeFileSync(p, '{"_id":"a","text":"x"}\n{"text":"y"}\n');
    expect((await rejection(collect(readBeirCorpus(p)))).message).toContain(`${p}:2: missing or empty "_id"`);
    writeFileSync(p, '{"_id":"a","text":7}\n');
    expect((await rejection(collect(readBeirQueries(p)))).message).toContain(`${p}:1: "text" must be a string`);
  });

  it('a truncated gzip file is a corrupt-file error', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ _id: `d${i}`, text: `text ${i} `.repeat(20) })).join('\n');
    const gz = gzipSync(lines);
    const p = join(dir, 'truncated.jsonl.gz');
    writeFileSync(p, gz.subarray(0, Math.floor(gz.length / 2)));
    const err = await rejection(collect(readBeirCorpus(p)));
    expect(err.code).toBe('ERR_SPLADE_CORRUPT_FILE');
    expect(err.message).toMatch(/truncated\.jsonl\.gz: corrupt or truncated gzip data/);
  });

  it('a missing file is an io error', async () => {
    expect((await rejection(loadBeir(join(dir, 'nope')))).code).toBe('ERR_SPLADE_IO');
    expect((await rejection(collect(readLines(join(dir, 'nope.txt'))))).code).toBe('ERR_SPLADE_IO');
  });

  it('streams: the first documents arrive before the file is read through', async () => {
    const p = join(dir, 'big.jsonl.gz');
    const n = 200_000;
    writeFileSync(p, gzipSync(Array.from({ length: n }, (_, i) => `{"_id":"${i}","text":"t"}`).join('\n')));
    const it = readBeirCorpus(p);
    const first = await it.next();
    expect(first.value).toEqual({ id: '0', title: '', text: 't' });
    await it.return(undefined); // stops early, closes the stream
    let count = 0;
    for await (const _ of readBeirCorpus(p)) count++;
    expect(count).toBe(n);
  });
});

describe('MS MARCO TSV and TREC qrels', () => {
  it('reads collection.tsv and queries tsv, plain or gzipped', async () => {
    const text = '0\tThe presence of communication\n1\tsecond\tpassage with a tab\n';
    const p = join(dir, 'collection.tsv');
    writeFileSync(p, text);
    writeFileSync(`${p}.gz`, gzipSync(text));
    for (const file of [p, `${p}.gz`]) {
      expect(await collect(readMsMarcoCollection(file))).toEqual([
        { id: '0', title: '', text: 'The presence of communication' },
        { id: '1', title: '', text: 'second\tpassage with a tab' },
      ]);
    }
    const q = join(dir, 'queries.dev.tsv');
    writeFileSync(q, '1048585\twhat is paula deen\'s brother\n');
    expect(await collect(readMsMarcoQueries(q))).toEqual([{ id: '1048585', text: "what is paula deen's brother" }]);
    writeFileSync(q, '1\tok\nno tab here\n');
    const err = await rejection(collect(readMsMarcoQueries(q)));
    expect(err.message).toContain(`${q}:2: expected "id<TAB>text"`);
  });

  it('reads TREC qrels (qid iter docid rel) and checks them', async () => {
    const p = join(dir, 'qrels.dev.tsv');
    writeFileSync(p, '1185869\t0\t0\t1\n1185868 0 16 1\n1185868 0 17 2\n');
    expect(await readQrels(p)).toEqual({ '1185869': { '0': 1 }, '1185868': { '16': 1, '17': 2 } });
    expect(await readQrels(p, { format: 'trec' })).toEqual(await readQrels(p));
    writeFileSync(p, '1 0 16 1\n1 0 17 x\n');
    expect((await rejection(readQrels(p))).message).toContain(`${p}:2: relevance must be an integer`);
    writeFileSync(p, '1 0 16 1\n1 0 16 2\n');
    expect((await rejection(readQrels(p))).message).toContain(`${p}:2: document 16 is judged 1 earlier`);
    writeFileSync(p, '1 0 16\n');
    expect((await rejection(readQrels(p, { format: 'trec' }))).message).toContain(`${p}:1: expected 4 fields`);
  });
});

describe('TREC runs', () => {
  it('writes score-descending, ties by id descending, ranks from 1; reads back', async () => {
    const p = join(dir, 'run.trec');
    await writeRun(p, { q1: { a: 0.5, b: 2, c: 0.5 }, q2: { x: 1.25 } }, { tag: 'bm25' });
    expect(readFileSync(p, 'utf8')).toBe(
      'q1 Q0 b 1 2 bm25\nq1 Q0 c 2 0.5 bm25\nq1 Q0 a 3 0.5 bm25\nq2 Q0 x 1 1.25 bm25\n');
    expect(await readRun(p)).toEqual({ q1: { a: 0.5, b: 2, c: 0.5 }, q2: { x: 1.25 } });
  });

  it('takes a stream of search results and keeps the top k', async () => {
    const p = join(dir, 'run2.trec');
    async function* entries(): AsyncGenerator<RunEntry> {
      yield { queryId: '7', docIds: ['d1', 'd2', 'd3'], scores: new Float32Array([3, 1, 2]) };
    }
    await writeRun(p, entries(), { k: 2 });
    expect(readFileSync(p, 'utf8')).toBe('7 Q0 d1 1 3 splade\n7 Q0 d3 2 2 splade\n');
  });

  it('is atomic: a failed write leaves the old file and no temporary file', async () => {
    const sub = join(dir, 'atomic');
    mkdirSync(sub);
    const p = join(sub, 'run.trec');
    await writeRun(p, { q: { d: 1 } });
    const before = readFileSync(p, 'utf8');
    function* failing(): Generator<RunEntry> {
      yield { queryId: 'q', docIds: ['d'], scores: [1] };
      yield { queryId: 'q 2', docIds: ['d'], scores: [1] }; // whitespace in an id
    }
    expect((await rejection(writeRun(p, failing()))).message).toMatch(/without whitespace/);
    await rejection(writeRun(p, { q: { d: Number.NaN } }));
    expect(readFileSync(p, 'utf8')).toBe(before);
    expect(readdirSync(sub)).toEqual(['run.trec']);
    expect((await rejection(writeRun(join(dir, 'no', 'such', 'dir.trec'), { q: { d: 1 } }))).code).toBe('ERR_SPLADE_IO');
  });

  it('a bad run line names file and line', async () => {
    const p = join(dir, 'bad.trec');
    writeFileSync(p, 'q Q0 d 1 1.5 t\nq Q0 e 2 abc t\n');
    expect((await rejection(readRun(p))).message).toContain(`${p}:2: score must be a finite number`);
    writeFileSync(p, 'q Q0 d 1 1.5 t\nq Q0 d 2 1 t\n');
    expect((await rejection(readRun(p))).message).toContain(`${p}:2: document d appears twice`);
    writeFileSync(p, 'q Q0 d 1 1.5\n');
    expect((await rejection(readRun(p))).message).toContain(`${p}:1: expected 6 fields`);
  });
});
