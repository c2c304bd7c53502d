// The shared exporter interface: every format behind EXPORTERS writes exactly what its own writer
// writes, and `splade export` finds formats (and lists them) through it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import {
  EXPORTERS,
  elasticsearchMapping,
  mapping,
  milvusCollectionSchema,
  qdrantCollectionConfig,
  writeAnseriniCollection,
  writeCiff,
  writeMilvusRows,
  writeOpenSearchBulk,
  writePgvectorCopy,
  writePgvectorSql,
  writeQdrantPoints,
  writeSeismicCollection,
  type SparseDocument,
} from '../lib/index.js';
import { runCli as cli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'splade-exporters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const vocab = ['[PAD]', 'heart', 'lung', 'cell', 'blood'];
const docs: SparseDocument[] = [
  { id: 'a', vector: { indices: Uint32Array.of(1, 3), values: Float32Array.of(0.5, 2.25) } },
  { id: 'b', vector: { indices: Uint32Array.of(2, 3, 4), values: Float32Array.of(1, 0.125, 3) } },
];

describe('EXPORTERS', () => {
  it('lists each format once, and each writes what its own writer writes', async () => {
    expect(EXPORTERS.map((e) => e.name)).toEqual([
      'ciff', 'anserini', 'opensearch', 'elasticsearch', 'qdrant', 'milvus', 'pgvector', 'pgvector-sql', 'seismic',
    ]);
    const direct: Record<string, (path: string) => Promise<unknown>> = {
      ciff: (p) => writeCiff(docs, vocab, p),
      anserini: (p) => writeAnseriniCollection(docs, vocab, p),
      opensearch: (p) => writeOpenSearchBulk(docs, vocab, p, { index: 'idx', field: 'f' }),
      elasticsearch: (p) => writeOpenSearchBulk(docs, vocab, p, { index: 'idx', field: 'f' }),
      qdrant: (p) => writeQdrantPoints(docs, vocab, p, { vectorName: 'f' }),
      milvus: (p) => writeMilvusRows(docs, vocab, p, { field: 'f' }),
      pgvector: (p) => writePgvectorCopy(docs, vocab, p, { table: 'idx', column: 'f' }),
      'pgvector-sql': (p) => writePgvectorSql(docs, vocab, p, { table: 'idx', column: 'f' }),
      seismic: (p) => writeSeismicCollection(docs, vocab, p),
    };
    const printed: Record<string, unknown> = {
      opensearch: mapping('idx', 'f'),
      elasticsearch: elasticsearchMapping('idx', 'f'),
      qdrant: qdrantCollectionConfig('f'),
      milvus: milvusCollectionSchema('idx', 'f', 1),
    };
    for (const e of EXPORTERS) {
      const a = join(dir, `${e.name}.via`), b = join(dir, `${e.name}.direct`);
      const r = await e.write(docs, vocab, a, { indexName: 'idx', field: 'f' });
      await direct[e.name](b);
      expect(r.documents).toBe(2);
      expect(readFileSync(a).equals(readFileSync(b)), e.name).toBe(true);
      expect(r.warnings ?? [], e.name).toEqual([]);
      if (e.name in printed) expect(JSON.parse(r.print!), e.name).toEqual(printed[e.name]);
      else if (e.name === 'pgvector') expect(r.print).toContain(`\\copy "idx" (id, "f") FROM '${a}' WITH (FORMAT text)`);
      else expect(r.print, e.name).toBeUndefined();
    }
  });

  it('splade export takes its formats and their help from EXPORTERS', async () => {
    const vectors = join(dir, 'v.jsonl'), vocabFile = join(dir, 'vocab.txt');
    writeFileSync(vectors, docs.map((d) => JSON.stringify({ id: d.id, indices: [...d.vector.indices], values: [...d.vector.values] })).join('\n') + '\n');
    writeFileSync(vocabFile, vocab.join('\n') + '\n');
    const help = await cli('export', '--help');
    for (const e of EXPORTERS) expect(help.out).toContain(`  ${e.name.padEnd(13)} ${e.description}`);
    const bad = await cli('export', '--vectors', vectors, '--vocab', vocabFile, '--format', 'parquet', '--out', join(dir, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/ciff, anserini, opensearch, elasticsearch, qdrant, milvus, pgvector, pgvector-sql, seismic, got parquet/);
    const ok = await cli('export', '--vectors', vectors, '--vocab', vocabFile, '--format', 'opensearch', '--out', join(dir, 'os.ndjson'), '--index-name', 'idx', '--field', 'f');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toEqual(mapping('idx', 'f'));
    expect(readFileSync(join(dir, 'os.ndjson')).equals(readFileSync(join(dir, 'opensearch.direct')))).toBe(true);
  });

  it("splade export prints an exporter's warnings on stderr", async () => {
    const wide = join(dir, 'wide.jsonl'), bigVocab = join(dir, 'big-vocab.txt');
    const indices = Array.from({ length: 1001 }, (_, i) => i);
    writeFileSync(wide, JSON.stringify({ id: 'w', indices, values: indices.map(() => 0.5) }) + '\n');
    writeFileSync(bigVocab, indices.map((i) => `t${i}`).join('\n') + '\n');
    const r = await cli('export', '--vectors', wide, '--vocab', bigVocab, '--format', 'pgvector-sql', '--out', join(dir, 'wide.sql'));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: 1 of 1 documents have more than 1000 non-zero values/);
    expect(readFileSync(join(dir, 'wide.sql'), 'utf8')).toContain('sparsevec(1001)');
  });
});
