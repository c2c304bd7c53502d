// The pgvector export against real pgvector: PGlite (Postgres compiled to WebAssembly, in process,
// no server, no network) with its bundled pgvector 0.8.1 loads the export, and Postgres's exact
// inner-product ranking (ORDER BY embedding <#> query LIMIT 10, a sequential scan) must equal the
// package's exhaustive search on every query of the five shared collections.
//
// Vectors without pretrained weights: each document and query is the bag of its bert-base-uncased
// word pieces, each weighted by its count times its BM25 idf over the collection (WordPieceIdf, the
// package's inference-free query weighting, applied to documents as well): 30,522 dimensions and
// realistic term statistics. The package's index quantizes impacts (16 bits here) and pgvector sums
// float32, so rankings are compared with a tolerance for ties: at every rank the two lists' exact
// scores (float64 dot products of the float32 vectors) must agree within the quantization bound.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ErrorCode,
  EXPORTERS,
  InvertedIndex,
  readBeirCorpus,
  readBeirQueries,
  sparsevecLiteral,
  SPARSEVEC_MAX_NNZ,
  WordPieceIdf,
  writePgvectorCopy,
  writePgvectorSql,
  type SparseDocument,
  type SparseVector,
} from '../lib/index.js';
import { SpladeTokenizer } from '../lib/model/tokenizer.js';
import { SHARED_DATA } from './helpers/shared-data.js';

const COLLECTIONS = ['cacm', 'cranfield', 'lisa', 'med', 'npl'];
const K = 10;
const dir = mkdtempSync(join(tmpdir(), 'splade-pgvector-'));
let db: PGlite;

beforeAll(async () => {
  db = await PGlite.create({ extensions: { vector } });
  await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
}, 120_000);
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

const tokenizer = SpladeTokenizer.load(join(SHARED_DATA, 'bert-base-uncased'));
const vocab = readFileSync(join(SHARED_DATA, 'bert-base-uncased', 'vocab.txt'), 'utf8').split('\n').slice(0, -1);
// Each text is tokenized once: WordPieceIdf asks for its pieces when counting and again when weighting.
let memo = new Map<string, Int32Array>();
const pieces = (text: string) => {
  let p = memo.get(text);
  if (!p) {
    const ids = tokenizer.encode(text, 1 << 20);
    memo.set(text, (p = ids.subarray(1, ids.length - 1)));
  }
  return p;
};

/** Loads a COPY text file into `table` (created here) through PGlite's /dev/blob. */
async function copyInto(table: string, file: string): Promise<void> {
  await db.exec(`CREATE TABLE ${table} (id text PRIMARY KEY, embedding sparsevec(${vocab.length}))`);
  await db.query(`COPY ${table} (id, embedding) FROM '/dev/blob' WITH (FORMAT text)`, [], { blob: new Blob([readFileSync(file)]) });
}

/** A query as pgvector's documented literal, written here independently of the exporter: 1-based. */
function queryLiteral(q: SparseVector, dim: number): string {
  return `{${Array.from(q.indices, (t, i) => `${t + 1}:${q.values[i]}`).join(',')}}/${dim}`;
}

function dot(a: SparseVector, b: SparseVector): number {
  let s = 0;
  for (let i = 0, j = 0; i < a.indices.length && j < b.indices.length;) {
    if (a.indices[i] === b.indices[j]) s += a.values[i++] * b.values[j++];
    else if (a.indices[i] < b.indices[j]) i++;
    else j++;
  }
  return s;
}

describe('pgvector export in PGlite (pgvector 0.8.1)', () => {
  it('is pgvector 0.8.1 with sparsevec', async () => {
    const { rows } = await db.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
    expect(rows[0].extversion).toBe('0.8.1');
  });

  for (const name of COLLECTIONS) {
    it(`${name}: Postgres's inner-product top ${K} equals the package's exhaustive search`, async () => {
      const base = join(SHARED_DATA, name);
      memo = new Map();
      const idf = new WordPieceIdf(pieces);
      const texts: { id: string; text: string }[] = [];
      for await (const d of readBeirCorpus(join(base, 'corpus.jsonl'))) {
        const text = d.title ? `${d.title} ${d.text}` : d.text;
        texts.push({ id: d.id, text });
        idf.add(text);
      }
      const docs: SparseDocument[] = texts.map((d) => ({ id: d.id, vector: idf.query(d.text) }));
      const queries: SparseVector[] = [];
      for await (const q of readBeirQueries(join(base, 'queries.jsonl'))) queries.push(idf.query(q.text));

      const file = join(dir, `${name}.copy`);
      const r = await writePgvectorCopy(docs, vocab, file, { table: name, column: 'embedding' });
      expect(r.documents).toBe(docs.length);
      await copyInto(name, file);
      const { rows: count } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${name}`);
      expect(count[0].n).toBe(docs.length);

      const index = InvertedIndex.build(docs.map((d) => d.vector), { docIds: docs.map((d) => d.id), impactBits: 16, bmpBlockDocs: 0, vocabSize: vocab.length });
      const L = 2 ** 16 - 1;
      const byId = new Map(docs.map((d) => [d.id, d.vector]));
      let compared = 0, sameIds = 0;
      for (const [qi, q] of queries.entries()) {
        const { rows } = await db.query<{ id: string; score: number }>(
          `SELECT id, -(embedding <#> $1::sparsevec) AS score FROM ${name} ORDER BY embedding <#> $1::sparsevec LIMIT ${K}`,
          [queryLiteral(q, vocab.length)],
        );
        const pg = rows.filter((row) => row.score > 0);
        const ours = index.search(q, { k: K, algorithm: 'exhaustive' }).docIds!;
        // Postgres's scores are the dot products of the exported vectors (float32 sums).
        for (const row of pg) expect(row.score, `${name} query ${qi} doc ${row.id}`).toBeCloseTo(dot(q, byId.get(row.id)!), 2);
        // The same number of matching documents, and at every rank equally good ones: any
        // difference in ids is a tie within the package's quantization bound (scale / 2L per unit
        // query weight, for each of the two scores) and float32 rounding.
        expect(pg.length, `${name} query ${qi}`).toBe(ours.length);
        const bound = (q.values.reduce((s, w) => s + w, 0) * index.scale) / L + 1e-4;
        for (let i = 0; i < ours.length; i++) {
          const a = dot(q, byId.get(pg[i].id)!), b = dot(q, byId.get(ours[i])!);
          expect(Math.abs(a - b), `${name} query ${qi} rank ${i}: ${pg[i].id} (${a}) vs ${ours[i]} (${b})`).toBeLessThanOrEqual(bound + 1e-6 * Math.abs(a));
          compared++;
          if (pg[i].id === ours[i]) sameIds++;
        }
      }
      // Ties are rare: nearly every rank holds the very same document.
      expect(compared).toBeGreaterThan(queries.length * 5);
      expect(sameIds / compared).toBeGreaterThan(0.95);
    }, 300_000);
  }

  it('the SQL script loads the same rows, with an HNSW index on inner product', async () => {
    const texts: { id: string; text: string }[] = [];
    for await (const d of readBeirCorpus(join(SHARED_DATA, 'med', 'corpus.jsonl'))) texts.push({ id: d.id, text: d.text });
    const idf = new WordPieceIdf(pieces);
    for (const t of texts) idf.add(t.text);
    // 1,200 rows: two INSERT batches, the last one partial.
    const docs = texts.map((d) => ({ id: d.id, vector: idf.query(d.text) }));
    docs.push(...docs.slice(0, 1200 - docs.length).map((d) => ({ id: `copy-${d.id}`, vector: d.vector })));
    expect(docs.length).toBe(1200);
    const sql = join(dir, 'med.sql'), copy = join(dir, 'med-sql.copy');
    const r = await writePgvectorSql(docs, vocab, sql, { table: 'med_sql', column: 'embedding' });
    expect(r).toEqual({ documents: 1200, overHnswLimit: 0 });
    await db.exec(readFileSync(sql, 'utf8'));
    await writePgvectorCopy(docs, vocab, copy);
    await copyInto('med_copy', copy);
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM med_sql a JOIN med_copy b USING (id) WHERE a.embedding = b.embedding');
    expect(rows[0].n).toBe(1200);
    const { rows: idx } = await db.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'med_sql' AND indexdef LIKE '%hnsw%'");
    expect(idx).toHaveLength(1);
    expect(idx[0].indexdef).toContain('sparsevec_ip_ops');
  }, 120_000);

  it('keeps ids with quotes, tabs, newlines and backslashes, and writes 1-based indices', async () => {
    const small = ['[PAD]', 'heart', 'lung', 'cell', 'blood'];
    const docs: SparseDocument[] = [
      { id: "o'brien\t\"x\"", vector: { indices: Uint32Array.of(0, 4), values: Float32Array.of(0.5, 2.25) } },
      { id: 'line\nbreak\\n\r', vector: { indices: Uint32Array.of(2), values: Float32Array.of(0.1) } },
      { id: 'empty', vector: { indices: new Uint32Array(0), values: new Float32Array(0) } },
    ];
    expect(sparsevecLiteral(docs[0].vector, 5)).toBe('{1:0.5,5:2.25}/5');
    const copy = join(dir, 'odd.copy'), sql = join(dir, 'odd.sql');
    await writePgvectorCopy(docs, small, copy);
    await writePgvectorSql(docs, small, sql, { table: 'odd sql', column: 'Vec' });
    await db.exec('CREATE TABLE odd_copy (id text PRIMARY KEY, embedding sparsevec(5))');
    await db.query("COPY odd_copy FROM '/dev/blob' WITH (FORMAT text)", [], { blob: new Blob([readFileSync(copy)]) });
    await db.exec(readFileSync(sql, 'utf8'));
    for (const [table, col] of [['odd_copy', 'embedding'], ['"odd sql"', '"Vec"']]) {
      const { rows } = await db.query<{ id: string; v: string }>(`SELECT id, ${col}::text AS v FROM ${table} ORDER BY id`);
      expect(rows.map((x) => [x.id, x.v])).toEqual(
        [['empty', '{}/5'], ['line\nbreak\\n\r', '{3:0.1}/5'], ["o'brien\t\"x\"", '{1:0.5,5:2.25}/5']],
      );
    }
  });

  it(`refuses more than ${SPARSEVEC_MAX_NNZ} non-zeros with a coded error and leaves no file; warns past HNSW's 1,000`, async () => {
    const big = Array.from({ length: 20000 }, (_, i) => `t${i}`);
    const vec = (n: number): SparseVector => ({ indices: Uint32Array.from({ length: n }, (_, i) => i), values: new Float32Array(n).fill(0.5) });
    const over = join(dir, 'over.copy');
    const err = await writePgvectorCopy([{ id: 'a', vector: vec(10) }, { id: 'b', vector: vec(SPARSEVEC_MAX_NNZ + 1) }], big, over).catch((e) => e);
    expect(err.code).toBe(ErrorCode.outOfRange);
    expect(err.message).toMatch(/at most 16000 non-zero values .* for docs\[1\]\.vector but received 16001/);
    expect(() => readFileSync(over)).toThrow();

    const docs = [{ id: 'wide', vector: vec(1001) }, { id: 'max', vector: vec(SPARSEVEC_MAX_NNZ) }, { id: 'narrow', vector: vec(3) }];
    const sql = join(dir, 'wide.sql');
    const r = await EXPORTERS.find((e) => e.name === 'pgvector-sql')!.write(docs, big, sql, { indexName: 'wide' });
    expect(r.documents).toBe(3);
    expect(r.warnings).toEqual([expect.stringMatching(/^2 of 3 documents have more than 1000 non-zero values/)]);
    const text = readFileSync(sql, 'utf8');
    expect(text).not.toMatch(/CREATE INDEX/);
    expect(text).toContain('-- no HNSW index: 2 vectors have more than 1000 non-zero values');
    await db.exec(text); // pgvector takes 16,000 non-zeros, and the script without the index runs
    const { rows } = await db.query<{ id: string; n: number }>('SELECT id, -(splade <#> $1::sparsevec)::int AS n FROM wide ORDER BY id', [sparsevecLiteral(vec(SPARSEVEC_MAX_NNZ), 20000)]);
    expect(rows).toEqual([{ id: 'max', n: 4000 }, { id: 'narrow', n: 1 }, { id: 'wide', n: 250 }]);
  });
});
