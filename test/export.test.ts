// Exporters: CIFF checked byte by byte with an independent wire-format decoder (written here, not
// @bufbuild/protobuf) and against files the previous, hand-written encoder wrote, round trips through readCiff/ciffToDocuments, corrupt and truncated
// files, Anserini JSONL/TSV, and OpenSearch bulk/mapping/query whose scores must equal the sparse
// dot product.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SHARED_DATA } from './helpers/shared-data.js';

import { ErrorCode, SpladeError } from '../lib/errors.js';
import {
  anseriniDocumentLine,
  anseriniQueryTsvLine,
  ciffScale,
  ciffToDocuments,
  escapeFeatureName,
  mapping,
  openSearchBulkLines,
  queryBody,
  readCiff,
  streamCiff,
  unescapeFeatureName,
  writeAnseriniCollection,
  writeAnseriniQueries,
  writeCiff,
  writeOpenSearchBulk,
  type SparseDocument,
} from '../lib/export/index.js';
import { mulberry32 } from '../lib/random.js';

const VOCAB_PATH = join(SHARED_DATA, 'bert-base-uncased', 'vocab.txt');
const CIFF_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ciff');
const vocab = readFileSync(VOCAB_PATH, 'utf8').split('\n').filter((_, i, a) => i < a.length - 1 || a[i] !== '');
const DOT = vocab.indexOf('.');
const termIdOf = new Map(vocab.map((tok, t) => [tok, t]));

// ---------------------------------------------------------------------------------------------
// Test collection: seeded PRNG, Zipfian term ranks mapped through a fixed permutation of the vocab.


function makeCollection(seed: number, numDocs: number, prefix = 'doc'): SparseDocument[] {
  const rand = mulberry32(seed);
  const V = vocab.length;
  const perm = Array.from({ length: V }, (_, i) => i);
  for (let i = V - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const cdf = new Float64Array(V);
  let acc = 0;
  for (let r = 0; r < V; r++) cdf[r] = acc += 1 / Math.pow(r + 1, 1.1);
  const zipf = (): number => {
    const u = rand() * acc;
    let lo = 0;
    let hi = V - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return perm[lo];
  };
  const docs: SparseDocument[] = [];
  for (let d = 0; d < numDocs; d++) {
    const nnz = d % 37 === 5 ? 0 : 1 + Math.floor(rand() * 60);
    const terms = new Set<number>();
    while (terms.size < nnz) terms.add(zipf());
    if (d % 3 === 0) terms.add(DOT); // a token with a dot, for the OpenSearch escaping
    const indices = Uint32Array.from([...terms].sort((a, b) => a - b));
    const values = new Float32Array(indices.length);
    for (let i = 0; i < values.length; i++) {
      const u = rand();
      // Mostly SPLADE-like weights in (0, 3], some tiny ones (quantize to tf 1, round to 0 at *100).
      values[i] = u < 0.08 ? 0.0001 + rand() * 0.004 : rand() * 3 + 1e-3;
    }
    docs.push({ id: d === 7 ? 'dœc-7 «unicode»' : `${prefix}-${d}`, vector: { indices, values } });
  }
  return docs;
}

async function* asAsync<T>(items: T[]): AsyncGenerator<T> {
  for (const x of items) {
    await Promise.resolve();
    yield x;
  }
}

function expectedTf(value: number, scale: number): number {
  return Math.min(255, Math.max(1, Math.round((value / scale) * 255)));
}

async function rejection(p: Promise<unknown>): Promise<SpladeError> {
  try {
    await p;
  } catch (err) {
    return err as SpladeError;
  }
  throw new Error('expected a rejection');
}

// ---------------------------------------------------------------------------------------------
// Independent protobuf wire-format decoder: fields by number with their wire type and raw value.

type Field = { wt: number; v: bigint | Uint8Array };

function varint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('varint past end');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

function decodeFields(buf: Uint8Array): Map<number, Field[]> {
  const out = new Map<number, Field[]>();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = varint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wt = Number(key & 7n);
    let v: bigint | Uint8Array;
    if (wt === 0) [v, pos] = varint(buf, pos);
    else if (wt === 1) {
      v = buf.slice(pos, pos + 8);
      pos += 8;
    } else if (wt === 2) {
      const [len, p2] = varint(buf, pos);
      v = buf.slice(p2, p2 + Number(len));
      if (p2 + Number(len) > buf.length) throw new Error('len past end');
      pos = p2 + Number(len);
    } else if (wt === 5) {
      v = buf.slice(pos, pos + 4);
      pos += 4;
    } else throw new Error(`wire type ${wt}`);
    if (!out.has(field)) out.set(field, []);
    out.get(field)!.push({ wt, v });
  }
  return out;
}

function splitDelimited(buf: Uint8Array): Uint8Array[] {
  const msgs: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [len, p] = varint(buf, pos);
    if (p + Number(len) > buf.length) throw new Error('message past end');
    msgs.push(buf.subarray(p, p + Number(len)));
    pos = p + Number(len);
  }
  return msgs;
}

/** A scalar field per the schema: checks wire type and multiplicity; proto3 default when absent. */
function scalar(m: Map<number, Field[]>, field: number, wt: number): bigint | Uint8Array | undefined {
  const fs = m.get(field);
  if (!fs) return undefined;
  // Plain throws, not expect(): this runs per posting.
  if (fs.length !== 1) throw new Error(`field ${field} occurs ${fs.length} times`);
  if (fs[0].wt !== wt) throw new Error(`field ${field} has wire type ${fs[0].wt}, schema says ${wt}`);
  return fs[0].v;
}
const int = (m: Map<number, Field[]>, f: number): number => Number(BigInt.asIntN(64, (scalar(m, f, 0) as bigint) ?? 0n));
const str = (m: Map<number, Field[]>, f: number): string => new TextDecoder().decode((scalar(m, f, 2) as Uint8Array) ?? new Uint8Array());
const dbl = (m: Map<number, Field[]>, f: number): number => {
  const b = scalar(m, f, 1) as Uint8Array | undefined;
  return b ? new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true) : 0;
};
function onlyFields(m: Map<number, Field[]>, allowed: number[]): void {
  for (const f of m.keys()) if (!allowed.includes(f)) throw new Error(`unexpected field ${f}`);
}

// ---------------------------------------------------------------------------------------------

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'splade-export-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('CIFF', () => {
  const docs = makeCollection(42, 300);

  it('writes a file whose every field matches the CIFF v1 schema', async () => {
    const path = join(dir, 'a.ciff');
    const { header, scale } = await writeCiff(asAsync(docs), vocab, path);
    let maxValue = 0;
    for (const d of docs) for (const v of d.vector.values) maxValue = Math.max(maxValue, v);
    expect(scale).toBe(maxValue);

    // Expected postings, from the inputs.
    const post = new Map<number, { doc: number; tf: number }[]>();
    const docLen = new Array<number>(docs.length).fill(0);
    docs.forEach((d, i) => {
      d.vector.indices.forEach((t, j) => {
        const tf = expectedTf(d.vector.values[j], scale);
        if (!post.has(t)) post.set(t, []);
        post.get(t)!.push({ doc: i, tf });
        docLen[i] += tf;
      });
    });
    const totalTerms = docLen.reduce((a, b) => a + b, 0);

    const msgs = splitDelimited(new Uint8Array(readFileSync(path)));
    expect(msgs.length).toBe(1 + post.size + docs.length);

    const h = decodeFields(msgs[0]);
    onlyFields(h, [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(int(h, 1)).toBe(1);
    expect(int(h, 2)).toBe(post.size);
    expect(int(h, 3)).toBe(docs.length);
    expect(int(h, 4)).toBe(post.size);
    expect(int(h, 5)).toBe(docs.length);
    expect(int(h, 6)).toBe(totalTerms);
    expect(dbl(h, 7)).toBeCloseTo(totalTerms / docs.length, 12);
    expect(ciffScale(str(h, 8))).toBe(scale);
    expect(header.totalTermsInCollection).toBe(totalTerms);

    let prevTerm: Buffer | undefined;
    const seen = new Set<string>();
    for (let i = 1; i <= post.size; i++) {
      const m = decodeFields(msgs[i]);
      onlyFields(m, [1, 2, 3, 4]);
      const term = str(m, 1);
      const termBytes = Buffer.from(term, 'utf8');
      if (prevTerm) expect(Buffer.compare(prevTerm, termBytes), `${term} after ${prevTerm}`).toBe(-1);
      prevTerm = termBytes;
      expect(seen.has(term)).toBe(false);
      seen.add(term);
      const t = termIdOf.get(term)!;
      expect(t, `term ${term}`).toBeDefined();
      const want = post.get(t)!;
      expect(want, `term ${term}`).toBeDefined();
      const ps = m.get(4) ?? [];
      expect(int(m, 2)).toBe(ps.length);
      expect(ps.length).toBe(want.length);
      let docid = 0;
      let cf = 0;
      const got: { docid: number; tf: number }[] = [];
      ps.forEach((p, j) => {
        expect(p.wt).toBe(2);
        const pm = decodeFields(p.v as Uint8Array);
        onlyFields(pm, [1, 2]);
        const gap = int(pm, 1);
        if (j > 0 && gap <= 0) throw new Error(`term ${term}: posting ${j} has gap ${gap}`);
        docid += gap;
        const tf = int(pm, 2);
        if (!(tf >= 1 && tf <= 255)) throw new Error(`term ${term}: tf ${tf} outside [1, 255]`);
        got.push({ docid, tf });
        cf += tf;
      });
      expect(got).toEqual(want.map((w) => ({ docid: w.doc, tf: w.tf })));
      expect(int(m, 3)).toBe(cf);
    }
    for (let d = 0; d < docs.length; d++) {
      const m = decodeFields(msgs[1 + post.size + d]);
      onlyFields(m, [1, 2, 3]);
      expect(int(m, 1)).toBe(d);
      expect(str(m, 2)).toBe(docs[d].id);
      expect(int(m, 3)).toBe(docLen[d]);
    }
    // No temp files left beside it.
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('writes the same bytes as the hand-written encoder it replaced', async () => {
    // test/fixtures/ciff/*.ciff were written by lib/export/protobuf.ts (removed) from these inputs.
    const cases = [
      { file: 'small.ciff', docs: makeCollection(7, 40), opts: {} },
      { file: 'scaled.ciff', docs: makeCollection(8, 30), opts: { scale: 1.5, description: 'fixture' } },
    ];
    for (const { file, docs: input, opts } of cases) {
      const path = join(dir, file);
      await writeCiff(input, vocab, path, opts);
      const got = readFileSync(path);
      const want = readFileSync(join(CIFF_FIXTURES, file));
      const differAt = got.findIndex((b, i) => b !== want[i]);
      expect({ file, length: got.length, differAt }).toEqual({ file, length: want.length, differAt: -1 });
    }
  });

  it('round-trips through readCiff and ciffToDocuments up to quantization', async () => {
    const path = join(dir, 'b.ciff');
    const { header, scale } = await writeCiff(docs, vocab, path);
    const read = await readCiff(path);
    expect(read.header).toEqual(header);
    expect(read.docs.map((d) => d.collectionDocid)).toEqual(docs.map((d) => d.id));
    expect(read.postings.length).toBe(header.numPostingsLists);

    const back = await ciffToDocuments(path, vocab);
    expect(back.length).toBe(docs.length);
    const half = scale / 255 / 2;
    let checked = 0;
    const bad: string[] = [];
    back.forEach((b, d) => {
      const a = docs[d];
      expect(b.id).toBe(a.id);
      expect(Array.from(b.vector.indices)).toEqual(Array.from(a.vector.indices));
      expect(b.vector.values.length).toBe(a.vector.values.length);
      for (let i = 0; i < a.vector.values.length; i++) {
        const v = a.vector.values[i];
        const got = b.vector.values[i];
        const dequant = (expectedTf(v, scale) * scale) / 255;
        if (Math.abs(got - dequant) > 1e-6 * scale) bad.push(`doc ${d} term ${i}: ${got} != tf * scale / 255 = ${dequant}`);
        // Within half a step, except weights below half a step, which keep the smallest impact (tf 1).
        if (v >= half ? Math.abs(got - v) > half * (1 + 1e-6) : Math.abs(got - scale / 255) > 1e-6 * scale) {
          bad.push(`doc ${d} term ${i}: ${got} vs input ${v}`);
        }
        checked++;
      }
    });
    expect(bad.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(1000);
  });

  it('clamps at a given scale and records it', async () => {
    const path = join(dir, 'c.ciff');
    const { scale } = await writeCiff(docs, vocab, path, { scale: 1.5, description: 'test run' });
    expect(scale).toBe(1.5);
    const { header, postings } = await readCiff(path);
    expect(header.description.startsWith('test run')).toBe(true);
    expect(ciffScale(header.description)).toBe(1.5);
    let clamped = 0;
    for (const p of postings) for (const tf of p.tfs) clamped += tf === 255 ? 1 : 0;
    expect(clamped).toBeGreaterThan(100); // weights in (1.5, 3] all map to 255
  });

  it('writes and reads an empty collection', async () => {
    const path = join(dir, 'empty.ciff');
    await writeCiff([], vocab, path);
    const read = await readCiff(path);
    expect(read.header.numDocs).toBe(0);
    expect(read.postings).toEqual([]);
    expect(await ciffToDocuments(path, vocab)).toEqual([]);
  });

  it('rejects truncated and corrupt files with ERR_SPLADE_CORRUPT_FILE, the file and the offset', async () => {
    const good = readFileSync(join(dir, 'b.ciff'));
    const msgs = splitDelimited(new Uint8Array(good));
    const headerEnd = msgs[0].byteOffset + msgs[0].length;
    const cuts = [0, 1, 5, headerEnd, headerEnd + 3, Math.floor(good.length / 2), good.length - 1];
    for (const cut of cuts) {
      const path = join(dir, `cut-${cut}.ciff`);
      writeFileSync(path, good.subarray(0, cut));
      for (const read of [() => readCiff(path), () => ciffToDocuments(path, vocab)]) {
        const err = await rejection(read()); // one at a time: no rejection left unawaited
        expect(err, `cut at ${cut}`).toBeInstanceOf(SpladeError);
        expect(err.code).toBe(ErrorCode.corruptFile);
        expect(err.message).toContain(path);
        expect(err.message).toMatch(/at byte \d+/);
      }
    }
    // A message cut in the middle names where that message starts.
    const mid = join(dir, 'mid.ciff');
    writeFileSync(mid, good.subarray(0, headerEnd + 3));
    expect((await rejection(readCiff(mid))).message).toContain(`at byte ${headerEnd}:`);

    // Trailing bytes after the last record.
    const trailing = join(dir, 'trailing.ciff');
    writeFileSync(trailing, Buffer.concat([good, Buffer.from([0x02, 0x08, 0x01])]));
    const t = await rejection(readCiff(trailing));
    expect(t.code).toBe(ErrorCode.corruptFile);
    expect(t.message).toContain(`at byte ${good.length}:`);

    // A postings list whose docids go backwards (a zero gap after the first posting).
    const varint = WireType.Varint;
    const w = new BinaryWriter();
    w.fork().tag(1, varint).int32(1).tag(2, varint).int32(1).tag(3, varint).int32(2).join();
    w.fork().tag(1, WireType.LengthDelimited).string('the').tag(2, varint).int64(2).tag(3, varint).int64(2);
    w.tag(4, WireType.LengthDelimited).fork().tag(1, varint).int32(1).tag(2, varint).int32(1).join();
    w.tag(4, WireType.LengthDelimited).fork().tag(2, varint).int32(1).join();
    w.join();
    w.fork().tag(2, WireType.LengthDelimited).string('a').join();
    w.fork().tag(1, varint).int32(1).tag(2, WireType.LengthDelimited).string('b').join();
    const bad = join(dir, 'gap.ciff');
    writeFileSync(bad, w.finish());
    const g = await rejection(readCiff(bad));
    expect(g.code).toBe(ErrorCode.corruptFile);
    expect(g.message).toMatch(/docid gap 0/);

    // Wrong version is unsupported, not corrupt.
    const vpath = join(dir, 'v2.ciff');
    writeFileSync(vpath, new BinaryWriter().fork().tag(1, varint).int32(2).join().finish());
    expect((await rejection(readCiff(vpath))).code).toBe(ErrorCode.unsupported);

    // A vocab that lacks a term of the file.
    const e = await rejection(ciffToDocuments(join(dir, 'b.ciff'), vocab.slice(0, 1000)));
    expect(e.code).toBe(ErrorCode.invalidArgument);
    expect(e.message).toMatch(/is not in the vocab/);
  });

  it('streams records in file order', async () => {
    const kinds: string[] = [];
    for await (const rec of streamCiff(join(dir, 'b.ciff'))) kinds.push(rec.type);
    expect(kinds[0]).toBe('header');
    expect(kinds.lastIndexOf('postings')).toBeLessThan(kinds.indexOf('doc'));
    expect(kinds.filter((k) => k === 'doc').length).toBe(docs.length);
  });

  it('refuses bad input and leaves no file behind', async () => {
    const path = join(dir, 'bad.ciff');
    const down = { id: 'x', vector: { indices: Uint32Array.from([5, 3]), values: Float32Array.from([1, 1]) } };
    expect((await rejection(writeCiff([down], vocab, path))).code).toBe(ErrorCode.invalidArgument);
    const oob = { id: 'x', vector: { indices: Uint32Array.from([vocab.length]), values: Float32Array.from([1]) } };
    expect((await rejection(writeCiff([oob], vocab, path))).code).toBe(ErrorCode.outOfRange);
    const neg = { id: 'x', vector: { indices: Uint32Array.from([3]), values: Float32Array.from([-1]) } };
    expect((await rejection(writeCiff([neg], vocab, path))).code).toBe(ErrorCode.invalidArgument);
    const dup = [docs[1], docs[1]];
    expect((await rejection(writeCiff(dup, vocab, path))).message).toMatch(/docs\[1\]\.id/);
    async function* failing(): AsyncGenerator<SparseDocument> {
      yield docs[0];
      throw new Error('source failed');
    }
    await expect(writeCiff(failing(), vocab, path)).rejects.toThrow('source failed');
    const io = await rejection(writeCiff(docs, vocab, join(dir, 'no-such-dir', 'x.ciff')));
    expect(io.code).toBe(ErrorCode.io);
    expect(readdirSync(dir).filter((f) => f.startsWith('bad.ciff') || f.includes('.tmp'))).toEqual([]);
  });
});

describe('Anserini', () => {
  const docs = makeCollection(7, 120);

  it('writes JsonVectorCollection lines with integer weights and vocab tokens', async () => {
    const path = join(dir, 'anserini.jsonl');
    const { documents } = await writeAnseriniCollection(asAsync(docs), vocab, path);
    expect(documents).toBe(docs.length);
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines.length).toBe(docs.length);
    const vocabSet = new Set(vocab);
    let dropped = 0;
    lines.forEach((line, d) => {
      const obj = JSON.parse(line) as { id: string; contents: string; vector: Record<string, number> };
      expect(Object.keys(obj)).toEqual(['id', 'contents', 'vector']);
      expect(obj.id).toBe(docs[d].id);
      expect(obj.contents).toBe('');
      const want: Record<string, number> = {};
      docs[d].vector.indices.forEach((t, i) => {
        const w = Math.round(docs[d].vector.values[i] * 100);
        if (w > 0) want[vocab[t]] = w;
        else dropped++;
      });
      expect(obj.vector).toEqual(want);
      for (const [tok, w] of Object.entries(obj.vector)) {
        expect(vocabSet.has(tok)).toBe(true);
        expect(Number.isInteger(w) && w > 0).toBe(true);
      }
      expect(line).toBe(anseriniDocumentLine(docs[d], vocab));
    });
    expect(dropped).toBeGreaterThan(0);
  });

  it('writes impact queries as TSV with tokens repeated by weight, and as JSON', async () => {
    const queries = makeCollection(11, 20, 'q').map((q, i) => ({ id: String(i), vector: q.vector }));
    const tsv = join(dir, 'queries.tsv');
    await writeAnseriniQueries(queries, vocab, tsv, { quantScale: 10 });
    const lines = readFileSync(tsv, 'utf8').slice(0, -1).split('\n');
    expect(lines.length).toBe(queries.length);
    lines.forEach((line, i) => {
      const [qid, toks, ...rest] = line.split('\t');
      expect(rest).toEqual([]);
      expect(qid).toBe(String(i));
      const counts = new Map<string, number>();
      for (const tok of toks.split(' ').filter((s) => s.length > 0)) counts.set(tok, (counts.get(tok) ?? 0) + 1);
      const want = new Map<string, number>();
      queries[i].vector.indices.forEach((t, j) => {
        const w = Math.round(queries[i].vector.values[j] * 10);
        if (w > 0) want.set(vocab[t], w);
      });
      expect(counts).toEqual(want);
    });
    expect(anseriniQueryTsvLine(queries[0], vocab, { quantScale: 10 })).toBe(lines[0]);

    const json = join(dir, 'queries.jsonl');
    await writeAnseriniQueries(asAsync(queries), vocab, json, { format: 'jsonl' });
    const objs = readFileSync(json, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { qid: string; vector: Record<string, number> });
    expect(objs[3].qid).toBe('3');
    for (const o of objs) for (const w of Object.values(o.vector)) expect(Number.isInteger(w)).toBe(true);

    const tab = { id: 'a\tb', vector: queries[0].vector };
    expect((await rejection(writeAnseriniQueries([tab], vocab, tsv))).message).toMatch(/queries\[0\]\.id/);
    expect((await rejection(writeAnseriniQueries(queries, vocab, tsv, { format: 'xml' as 'tsv' }))).code).toBe(
      ErrorCode.invalidArgument,
    );
  });
});

describe('OpenSearch', () => {
  const docs = makeCollection(99, 150);
  const field = 'splade';

  it('escapes dots reversibly', () => {
    for (const tok of ['.', '...', '##.', '%2E', '%.', 'a.b.', '%25', 'plain']) {
      const e = escapeFeatureName(tok);
      expect(e).not.toContain('.');
      expect(e.length).toBeGreaterThan(0);
      expect(unescapeFeatureName(e)).toBe(tok);
    }
    expect(escapeFeatureName('.')).not.toBe(escapeFeatureName('%2E'));
  });

  it('writes bulk NDJSON whose query scores equal the sparse dot product', async () => {
    const path = join(dir, 'bulk.ndjson');
    const { documents } = await writeOpenSearchBulk(asAsync(docs), vocab, path, { index: 'msmarco-splade', field });
    expect(documents).toBe(docs.length);
    const text = readFileSync(path, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines.length).toBe(2 * docs.length);
    const sources: Record<string, number>[] = [];
    for (let d = 0; d < docs.length; d++) {
      const action = JSON.parse(lines[2 * d]) as Record<string, unknown>;
      expect(action).toEqual({ index: { _index: 'msmarco-splade', _id: docs[d].id } });
      const source = JSON.parse(lines[2 * d + 1]) as Record<string, Record<string, number>>;
      expect(Object.keys(source)).toEqual([field]);
      const feats = source[field];
      const { indices, values } = docs[d].vector;
      expect(Object.keys(feats).length).toBe(indices.length);
      indices.forEach((t, i) => {
        const key = escapeFeatureName(vocab[t]);
        expect(key).not.toContain('.');
        expect(key.length).toBeGreaterThan(0);
        expect(feats[key]).toBeGreaterThan(0);
        expect(Math.fround(feats[key])).toBe(values[i]);
      });
      expect(Object.keys(feats).filter((key) => !termIdOf.has(unescapeFeatureName(key)))).toEqual([]);
      sources.push(feats);
    }
    expect(text).toContain('"%2E":');

    const lineList: string[] = [];
    for await (const l of openSearchBulkLines(docs.slice(0, 2), vocab, { index: 'msmarco-splade', field })) lineList.push(l);
    expect(lineList).toEqual(lines.slice(0, 4));

    // Queries: score each document the way rank_feature linear + bool/should does.
    const queries = makeCollection(5, 15, 'q');
    queries.push({ id: 'dot', vector: { indices: Uint32Array.from([DOT]), values: Float32Array.from([0.75]) } });
    for (const q of queries) {
      const body = queryBody(q.vector, field, 10, vocab) as {
        size: number;
        query: { bool?: { should: { rank_feature: { field: string; linear: object; boost: number } }[] }; match_none?: object };
      };
      expect(body.size).toBe(10);
      if (q.vector.indices.length === 0) {
        expect(body.query).toEqual({ match_none: {} });
        continue;
      }
      const should = body.query.bool!.should;
      expect(should.length).toBe(q.vector.indices.length);
      for (const { rank_feature: rf } of should) {
        expect(rf.linear).toEqual({});
        expect(rf.field.startsWith(`${field}.`)).toBe(true);
        expect(Object.keys(rf).sort()).toEqual(['boost', 'field', 'linear']);
      }
      let matched = 0;
      const engineScores: number[] = [];
      const exactScores: number[] = [];
      docs.forEach((doc, d) => {
        let engine = 0;
        for (const clause of should) {
          const rf = clause.rank_feature;
          const name = rf.field.slice(rf.field.lastIndexOf('.') + 1); // how the engine splits it
          const value = sources[d][name];
          if (value !== undefined) engine += rf.boost * value;
        }
        let exact = 0;
        const a = q.vector;
        const b = doc.vector;
        for (let i = 0, j = 0; i < a.indices.length && j < b.indices.length; ) {
          if (a.indices[i] === b.indices[j]) exact += a.values[i++] * b.values[j++];
          else if (a.indices[i] < b.indices[j]) i++;
          else j++;
        }
        if (exact > 0) matched++;
        engineScores.push(engine);
        exactScores.push(exact);
      });
      const worst = Math.max(...engineScores.map((e, d) => Math.abs(e - exactScores[d]) / Math.max(1, exactScores[d])));
      expect(worst, `query ${q.id}`).toBeLessThan(1e-6);
      if (q.id === 'dot') expect(matched).toBeGreaterThan(10);
    }
  });

  it('builds the mapping and refuses bad names', () => {
    const m = mapping('msmarco-splade', field);
    expect(JSON.parse(JSON.stringify(m))).toEqual({ mappings: { properties: { splade: { type: 'rank_features' } } } });
    expect(mapping('idx', 'ml.tokens')).toEqual({
      mappings: { properties: { ml: { properties: { tokens: { type: 'rank_features' } } } } },
    });
    expect(() => mapping('Bad Name', field)).toThrow(SpladeError);
    expect(() => mapping('idx', 'a..b')).toThrow(/field/);
    expect(() => queryBody({ hello: 1, 'a.b': 2 }, field, 0)).toThrow(/k/);
    const rec = queryBody({ hello: 1, 'a.b': 2 }, field, 3) as { query: { bool: { should: { rank_feature: { field: string } }[] } } };
    expect(rec.query.bool.should.map((s) => s.rank_feature.field)).toEqual(['splade.hello', 'splade.a%2Eb']);
    expect(() => queryBody(docs[0].vector, field, 3)).toThrow(/vocab/);
  });
});
