// The exports for engines this machine cannot run (Qdrant, Milvus, Elasticsearch, Seismic) checked
// against the engines' own documented examples (test/fixtures/export-schemas, README there names
// the pages): the documented data written through each exporter must come out in the documented
// shape, with the documented names and values.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import {
  ErrorCode,
  elasticsearchMapping,
  elasticsearchQueryBody,
  milvusCollectionSchema,
  qdrantCollectionConfig,
  qdrantPointId,
  writeMilvusRows,
  writeOpenSearchBulk,
  writeQdrantPoints,
  writeSeismicCollection,
  type SparseDocument,
} from '../lib/index.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'export-schemas');
const fixture = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'splade-export-schemas-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A document from { index: value } pairs. */
function doc(id: string, entries: [number, number][]): SparseDocument {
  return { id, vector: { indices: Uint32Array.from(entries, (e) => e[0]), values: Float32Array.from(entries, (e) => e[1]) } };
}

const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

describe('Qdrant (qdrant.tech, Sparse Vectors)', () => {
  const q = fixture('qdrant.json');

  it("writes the documented point, plus the document id in the payload, and the documented collection config", async () => {
    const point = q.upsertPoints.points[0];
    const vocab = Array.from({ length: 8 }, (_, i) => `t${i}`);
    const file = join(dir, 'points.jsonl');
    const entries = point.vector.text.indices.map((t: number, i: number) => [t, point.vector.text.values[i]]);
    expect(await writeQdrantPoints([doc(String(point.id), entries)], vocab, file, { vectorName: 'text' })).toEqual({ documents: 1 });
    expect(lines(file)).toEqual([{ ...point, payload: { doc_id: '129' } }]);
    // Lines batch into the documented upsert body.
    expect({ points: lines(file).map(({ payload: _, ...p }) => p) }).toEqual(q.upsertPoints);
    expect(qdrantCollectionConfig('text')).toEqual(q.createCollection);
  });

  it('gives every document a point id Qdrant takes: an unsigned integer or a UUID', () => {
    expect(qdrantPointId('0')).toBe(0);
    expect(qdrantPointId('9007199254740991')).toBe(9007199254740991);
    // Python: uuid.uuid5(uuid.NAMESPACE_URL, 'doc7'), and for ids that only look like integers.
    expect(qdrantPointId('doc7')).toBe('2eb81053-633d-5094-8e2a-5eed70012b15');
    expect(qdrantPointId('MED-1')).toBe('529a1dd9-d4eb-5528-9f7d-513f80a01f49');
    for (const id of ['007', '-1', '9007199254740992', '1.5']) expect(qdrantPointId(id)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(qdrantPointId('550e8400-e29b-41d4-a716-446655440000')).toBe('550e8400-e29b-41d4-a716-446655440000');
  });
});

describe('Milvus (milvus.io, Sparse Vector and bulk insert)', () => {
  const m = fixture('milvus.json');

  it('writes the documented rows ({ "dim": value }) under the documented root key, with a VarChar id', async () => {
    const docs = m.insert.data.map((row: { sparse_vector: Record<string, number> }, i: number) =>
      doc(`d${i}`, Object.entries(row.sparse_vector).map(([k, v]) => [Number(k), v])));
    const vocab = Array.from({ length: 1001 }, (_, i) => `t${i}`);
    const file = join(dir, 'rows.json');
    expect(await writeMilvusRows(docs, vocab, file, { field: 'sparse_vector' })).toEqual({ documents: 2, maxIdBytes: 2 });
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(written)).toEqual(Object.keys(m.bulkImportFile));
    expect(written.rows.map(({ id: _, ...rest }: Record<string, unknown>) => rest)).toEqual(m.insert.data);
    expect(written.rows.map((r: { id: string }) => r.id)).toEqual(['d0', 'd1']);
    // One row a line, so that rows can be cut into insert batches by line.
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(5);
    const schema = milvusCollectionSchema('my_sparse_collection', 'sparse_vector', 2) as { collectionName: string; schema: { fields: unknown[] } };
    expect(schema.collectionName).toBe(m.insert.collectionName);
    expect(schema.schema.fields).toContainEqual(m.vectorField);
    expect(schema.schema.fields).toContainEqual({ fieldName: 'id', dataType: 'VarChar', isPrimary: true, elementTypeParams: { max_length: 2 } });
  });

  it('writes an empty collection as valid JSON and refuses names Milvus refuses', async () => {
    const file = join(dir, 'empty.json');
    await writeMilvusRows([], ['a'], file);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ rows: [] });
    for (const field of ['id', '1x', 'a-b', '']) {
      await expect(writeMilvusRows([], ['a'], file, { field })).rejects.toMatchObject({ code: ErrorCode.invalidArgument });
    }
  });
});

describe('Elasticsearch sparse_vector (elastic.co, field type and sparse_vector query)', () => {
  const e = fixture('elasticsearch.json');

  /** Elasticsearch reads a dotted property name as an object path: {"a.b": x} = {"a": {"properties": {"b": x}}}. */
  function expandDots(props: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(props)) {
      const parts = k.split('.');
      let node: Record<string, unknown> = { [parts[parts.length - 1]]: v };
      for (let i = parts.length - 2; i >= 0; i--) node = { [parts[i]]: { properties: node } };
      Object.assign(out, node);
    }
    return out;
  }

  it('creates the documented mapping and query', () => {
    expect(elasticsearchMapping('my-index', 'text.tokens')).toEqual({ mappings: { properties: expandDots(e.mapping.mappings.properties) } });
    expect(elasticsearchQueryBody(e.query.query.sparse_vector.query_vector, 'ml.tokens', 10)).toEqual({ size: 10, ...e.query });
  });

  it("scores the documented example: the exported document's weights times the query's", async () => {
    const vocab = Object.keys(e.scoring.stored);
    const file = join(dir, 'es.ndjson');
    const stored = doc('1', Object.values(e.scoring.stored as Record<string, number>).map((v, i) => [i, v]));
    await writeOpenSearchBulk([stored], vocab, file, { index: 'my-index', field: 'ml.tokens' });
    const [action, source] = lines(file);
    expect(action).toEqual({ index: { _index: 'my-index', _id: '1' } });
    const body = elasticsearchQueryBody(e.scoring.queryVector, 'ml.tokens', 10) as { query: { sparse_vector: { query_vector: Record<string, number> } } };
    const docVector: Record<string, number> = source.ml.tokens;
    const score = Object.entries(body.query.sparse_vector.query_vector).reduce((s, [t, w]) => s + w * (docVector[t] ?? 0), 0);
    expect(score).toBeCloseTo(e.scoring.score, 6);
  });

  it('escapes dots in tokens the same way in documents and queries', async () => {
    const vocab = ['[PAD]', 'u.s', '##.', '50%'];
    const file = join(dir, 'dots.ndjson');
    await writeOpenSearchBulk([doc('d', [[1, 1.5], [2, 0.5], [3, 2]])], vocab, file, { index: 'i', field: 'splade' });
    const source = lines(file)[1].splade;
    expect(source).toEqual({ 'u%2Es': 1.5, '##%2E': 0.5, '50%25': 2 });
    expect(Object.keys(source).some((k) => k.includes('.'))).toBe(false);
    const body = elasticsearchQueryBody({ indices: Uint32Array.of(1, 3), values: Float32Array.of(2, 1) }, 'splade', 5, vocab);
    expect(body).toEqual({ size: 5, query: { sparse_vector: { field: 'splade', query_vector: { 'u%2Es': 2, '50%25': 1 } } } });
    expect(elasticsearchQueryBody({}, 'splade', 5)).toEqual({ size: 5, query: { match_none: {} } });
  });
});

describe('Seismic (TusKANNy/seismic README, JSONL collection)', () => {
  const s = fixture('seismic.json');

  it('writes lines with the documented fields: integer id where the id is one, content, token -> score', async () => {
    const vocab = ['[PAD]', ...Object.keys(s.documentVector), ...Object.keys(s.query)];
    const file = join(dir, 'seismic.jsonl');
    const written = await writeSeismicCollection([doc('0', [[1, 2.45]]), doc('doc7', [[2, 3.5], [3, 3.5], [4, 0.4]])], vocab, file);
    expect(written).toEqual({ documents: 2 });
    const [a, b] = lines(file);
    expect(Object.keys(a)).toEqual(Object.keys(s.fields));
    expect(a).toEqual({ id: 0, content: '', vector: s.documentVector });
    expect(b).toEqual({ id: 'doc7', content: '', vector: s.query });
  });
});
