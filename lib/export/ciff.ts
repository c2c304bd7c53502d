// CIFF, the Common Index File Format (Lin et al., ECIR 2020; common-index-format v1), which PISA,
// Anserini, Terrier, JASS and BMP import. A CIFF file is a stream of varint-length-prefixed protobuf
// messages: one Header, then Header.num_postings_lists PostingsList messages, then Header.num_docs
// DocRecord messages. Schema (CommonIndexFileFormat.proto, proto3):
//
//   Header       { int32 version = 1; int32 num_postings_lists = 2; int32 num_docs = 3;
//                  int32 total_postings_lists = 4; int32 total_docs = 5;
//                  int64 total_terms_in_collection = 6; double average_doclength = 7;
//                  string description = 8; }
//   Posting      { int32 docid = 1; int32 tf = 2; }          // docid: d-gap (first absolute)
//   PostingsList { string term = 1; int64 df = 2; int64 cf = 3; repeated Posting postings = 4; }
//   DocRecord    { int32 docid = 1; string collection_docid = 2; int32 doclength = 3; }
//
// How SPLADE vectors map onto it (the choices CIFF leaves to the exporter):
// - Docids are 0..n-1 in input order; collection_docid is the document's id.
// - Impacts are quantized to 8 bits and stored as tf: tf = max(1, round(value / scale * 255)),
//   clamped to 255. scale defaults to the largest weight in the collection (so the top weight maps
//   to 255 and nothing clamps); pass `scale` to share one scale across shards or with queries.
//   The scale is recorded in Header.description as `scale=<number>` so ciffToDocuments can map
//   tf back to tf * scale / 255 (error at most scale / 510 per weight).
// - doclength = the sum of the document's quantized impacts (what impact-ordered engines such as
//   JASS and PISA's quantized scorers ignore, and what BM25-style scorers would read as length);
//   total_terms_in_collection is the sum of all doclengths and average_doclength their mean.
// - cf = sum of tf over the postings list; df = its length.
// - Postings lists come in ascending term order, comparing the UTF-8 bytes of the token (the order
//   of Lucene's term dictionary, which Anserini's exporter walks); unused terms get no list.
// - total_postings_lists = num_postings_lists and total_docs = num_docs (a complete export).
// - Fields at their proto3 default (0, "") are omitted, as protobuf's own serializers do.
//
// The writer buffers every posting in memory (8 bytes each, plus growth slack) because the
// postings lists must be written before the documents and each list spans the whole collection.
import { ErrorCode, SpladeError, invalidArgument } from '../errors.js';
import type { SparseVector } from '../sparse.js';
import {
  checkDocument,
  checkPositiveScale,
  checkVocab,
  TokenTable,
  writeAtomically,
  type DocumentSource,
  type SparseDocument,
} from './common.js';
import { corrupt, DelimitedFileReader, ProtoReader, ProtoWriter, varintSize, WireType } from './protobuf.js';

export interface CiffHeader {
  version: number;
  numPostingsLists: number;
  numDocs: number;
  totalPostingsLists: number;
  totalDocs: number;
  totalTermsInCollection: number;
  averageDocLength: number;
  description: string;
}

export interface CiffPostingsList {
  term: string;
  df: number;
  cf: number;
  /** Absolute docids (the gaps decoded), strictly ascending. */
  docids: Uint32Array;
  /** tf per posting: for a splade export, the 8-bit quantized impact. */
  tfs: Int32Array;
}

export interface CiffDocRecord {
  docid: number;
  collectionDocid: string;
  docLength: number;
}

/** One message of a CIFF stream, with the file offset of its body. */
export type CiffRecord =
  | { type: 'header'; offset: number; header: CiffHeader }
  | { type: 'postings'; offset: number; list: CiffPostingsList }
  | { type: 'doc'; offset: number; doc: CiffDocRecord };

export interface CiffWriteOptions {
  /** Weight that maps to tf 255 (larger weights clamp to 255). Default: the collection's maximum. */
  scale?: number;
  /** Free text for Header.description; `; scale=<scale>` is appended to it. */
  description?: string;
}

export const CIFF_VERSION = 1;
const INT32_MAX = 2147483647;
const DEFAULT_DESCRIPTION =
  'splade CIFF export: SPLADE impacts quantized to 8 bits, tf = max(1, round(value / scale * 255)) clamped to 255; ' +
  'doclength = sum of quantized impacts';

/** The 8-bit impact for a weight: max(1, round(value / scale * 255)), clamped to 255. */
export function quantizeImpact(value: number, scale: number): number {
  const q = Math.round((value / scale) * 255);
  return q < 1 ? 1 : q > 255 ? 255 : q;
}

/** The scale recorded in a CIFF description (`scale=<number>`, the last one wins), if any. */
export function ciffScale(description: string): number | undefined {
  let found: number | undefined;
  for (const m of description.matchAll(/(?:^|[\s;,])scale=([^\s;,]+)/g)) {
    const v = Number(m[1]);
    if (Number.isFinite(v) && v > 0) found = v;
  }
  return found;
}

/** Growable postings of one term: docids and raw weights, in arrival (= docid) order. */
class TermPostings {
  docs = new Uint32Array(4);
  values = new Float32Array(4);
  n = 0;

  push(doc: number, value: number): void {
    if (this.n === this.docs.length) {
      const docs = new Uint32Array(this.n * 2);
      docs.set(this.docs);
      this.docs = docs;
      const values = new Float32Array(this.n * 2);
      values.set(this.values);
      this.values = values;
    }
    this.docs[this.n] = doc;
    this.values[this.n] = value;
    this.n++;
  }
}

/**
 * Writes documents as a CIFF file (atomically: temp file, fsync, rename). Consumes `docs` once.
 * Returns the header written and the scale used.
 */
export async function writeCiff(
  docs: DocumentSource,
  vocab: readonly string[],
  path: string,
  opts: CiffWriteOptions = {},
): Promise<{ header: CiffHeader; scale: number }> {
  checkVocab(vocab);
  if (opts.scale !== undefined) checkPositiveScale('opts.scale', opts.scale);
  if (opts.description !== undefined && typeof opts.description !== 'string') {
    invalidArgument('opts.description', 'a string', opts.description);
  }

  // Pass 1: invert into per-term postings.
  const lists: (TermPostings | undefined)[] = new Array(vocab.length);
  const ids: string[] = [];
  const seenIds = new Set<string>();
  let maxValue = 0;
  for await (const raw of docs) {
    const d = ids.length;
    const doc = checkDocument(raw, `docs[${d}]`, vocab.length);
    if (seenIds.has(doc.id)) invalidArgument(`docs[${d}].id`, 'an id not used by an earlier document', doc.id);
    if (d >= INT32_MAX) throw new SpladeError('CIFF holds at most 2^31 - 1 documents', ErrorCode.outOfRange);
    seenIds.add(doc.id);
    ids.push(doc.id);
    const { indices, values } = doc.vector;
    for (let i = 0; i < indices.length; i++) {
      const t = indices[i];
      (lists[t] ??= new TermPostings()).push(d, values[i]);
      if (values[i] > maxValue) maxValue = values[i];
    }
  }
  seenIds.clear();
  const numDocs = ids.length;
  const scale = opts.scale ?? (maxValue > 0 ? maxValue : 1);

  // Terms in UTF-8 byte order; TokenTable refuses empty tokens and two ids sharing one string.
  const table = new TokenTable(vocab);
  const terms: { t: number; bytes: Buffer }[] = [];
  for (let t = 0; t < lists.length; t++) if (lists[t]) terms.push({ t, bytes: Buffer.from(table.get(t), 'utf8') });
  terms.sort((a, b) => Buffer.compare(a.bytes, b.bytes));

  // Quantize (dropping the raw weights as we go) and total the document lengths.
  const docLength = new Float64Array(numDocs);
  const tfLists: Uint8Array[] = new Array(vocab.length);
  const cfs = new Float64Array(vocab.length);
  let totalTerms = 0;
  for (const { t } of terms) {
    const p = lists[t]!;
    const tfs = new Uint8Array(p.n);
    let cf = 0;
    for (let i = 0; i < p.n; i++) {
      const q = quantizeImpact(p.values[i], scale);
      tfs[i] = q;
      cf += q;
      docLength[p.docs[i]] += q;
    }
    p.values = new Float32Array(0);
    tfLists[t] = tfs;
    cfs[t] = cf;
    totalTerms += cf;
  }
  for (let d = 0; d < numDocs; d++) {
    if (docLength[d] > INT32_MAX) {
      throw new SpladeError(`docs[${d}] has a doclength above 2^31 - 1 (int32 in CIFF)`, ErrorCode.outOfRange);
    }
  }

  const header: CiffHeader = {
    version: CIFF_VERSION,
    numPostingsLists: terms.length,
    numDocs,
    totalPostingsLists: terms.length,
    totalDocs: numDocs,
    totalTermsInCollection: totalTerms,
    averageDocLength: numDocs > 0 ? totalTerms / numDocs : 0,
    description: `${opts.description ?? DEFAULT_DESCRIPTION}; scale=${scale}`,
  };

  await writeAtomically(path, async (file) => {
    const w = new ProtoWriter(1 << 20);
    const flushAt = 1 << 20;
    w.delimited(() => writeHeader(w, header));
    for (const { t, bytes } of terms) {
      const p = lists[t]!;
      const tfs = tfLists[t];
      w.delimited(() => {
        w.bytesField(1, bytes);
        w.intField(2, p.n);
        w.intField(3, cfs[t]);
        let prev = 0;
        for (let i = 0; i < p.n; i++) {
          const gap = p.docs[i] - prev;
          prev = p.docs[i];
          // Posting { docid = 1 (gap, omitted when 0); tf = 2 (always >= 1) }, written inline.
          w.tag(4, WireType.len).uint((gap > 0 ? 1 + varintSize(gap) : 0) + 1 + varintSize(tfs[i]));
          if (gap > 0) w.tag(1, WireType.varint).uint(gap);
          w.tag(2, WireType.varint).uint(tfs[i]);
        }
      });
      lists[t] = undefined;
      tfLists[t] = new Uint8Array(0);
      if (w.length >= flushAt) await file.write(w.take());
    }
    for (let d = 0; d < numDocs; d++) {
      w.delimited(() => {
        if (d !== 0) w.intField(1, d);
        w.stringField(2, ids[d]);
        if (docLength[d] !== 0) w.intField(3, docLength[d]);
      });
      if (w.length >= flushAt) await file.write(w.take());
    }
    await file.write(w.take());
  });
  return { header, scale };
}

function writeHeader(w: ProtoWriter, h: CiffHeader): void {
  w.intField(1, h.version);
  if (h.numPostingsLists) w.intField(2, h.numPostingsLists);
  if (h.numDocs) w.intField(3, h.numDocs);
  if (h.totalPostingsLists) w.intField(4, h.totalPostingsLists);
  if (h.totalDocs) w.intField(5, h.totalDocs);
  if (h.totalTermsInCollection) w.intField(6, h.totalTermsInCollection);
  if (h.averageDocLength) w.doubleField(7, h.averageDocLength);
  if (h.description) w.stringField(8, h.description);
}

// ---------------------------------------------------------------------------------------------
// Reading

function readHeader(r: ProtoReader): CiffHeader {
  const h: CiffHeader = {
    version: 0,
    numPostingsLists: 0,
    numDocs: 0,
    totalPostingsLists: 0,
    totalDocs: 0,
    totalTermsInCollection: 0,
    averageDocLength: 0,
    description: '',
  };
  while (!r.done) {
    const at = r.pos;
    const { field, wireType } = r.tag();
    switch (field) {
      case 1: case 2: case 3: case 4: case 5: {
        r.expect(field, wireType, WireType.varint, at);
        const v = r.int32();
        if (field === 1) h.version = v;
        else if (field === 2) h.numPostingsLists = v;
        else if (field === 3) h.numDocs = v;
        else if (field === 4) h.totalPostingsLists = v;
        else h.totalDocs = v;
        break;
      }
      case 6:
        r.expect(field, wireType, WireType.varint, at);
        h.totalTermsInCollection = r.int64();
        break;
      case 7:
        r.expect(field, wireType, WireType.i64, at);
        h.averageDocLength = r.double();
        break;
      case 8:
        r.expect(field, wireType, WireType.len, at);
        h.description = r.string();
        break;
      default:
        r.skip(wireType);
    }
  }
  if (h.numPostingsLists < 0) r.fail(`header num_postings_lists is negative (${h.numPostingsLists})`, 0);
  if (h.numDocs < 0) r.fail(`header num_docs is negative (${h.numDocs})`, 0);
  return h;
}

function readPostingsList(r: ProtoReader, numDocs: number): CiffPostingsList {
  let term = '';
  let df = -1;
  let cf = 0;
  // Each posting takes at least two bytes (key + length), which bounds a trustworthy capacity.
  let docids = new Uint32Array(Math.min(64, (r.bytes.length >> 1) + 1));
  let tfs = new Int32Array(docids.length);
  let n = 0;
  let prev = 0;
  while (!r.done) {
    const at = r.pos;
    const { field, wireType } = r.tag();
    switch (field) {
      case 1:
        r.expect(field, wireType, WireType.len, at);
        term = r.string();
        break;
      case 2:
        r.expect(field, wireType, WireType.varint, at);
        df = r.int64();
        if (df < 0) r.fail(`df is negative (${df})`, at);
        if (df > docids.length && n === 0) {
          const cap = Math.min(df, (r.bytes.length >> 1) + 1);
          docids = new Uint32Array(cap);
          tfs = new Int32Array(cap);
        }
        break;
      case 3:
        r.expect(field, wireType, WireType.varint, at);
        cf = r.int64();
        break;
      case 4: {
        r.expect(field, wireType, WireType.len, at);
        const outer = r.enter();
        let gap = 0;
        let tf = 0;
        while (!r.done) {
          const fat = r.pos;
          const f = r.tag();
          if (f.field === 1) {
            r.expect(1, f.wireType, WireType.varint, fat);
            gap = r.int32();
          } else if (f.field === 2) {
            r.expect(2, f.wireType, WireType.varint, fat);
            tf = r.int32();
          } else r.skip(f.wireType);
        }
        r.leave(outer);
        if (n > 0 ? gap < 1 : gap < 0) r.fail(`posting ${n} of term ${JSON.stringify(term)} has docid gap ${gap} (docids must ascend)`, at);
        const docid = prev + gap;
        if (docid >= numDocs) {
          r.fail(`posting ${n} of term ${JSON.stringify(term)} has docid ${docid}, but the header says ${numDocs} documents`, at);
        }
        prev = docid;
        if (n === docids.length) {
          const grownDocs = new Uint32Array(n * 2);
          grownDocs.set(docids);
          docids = grownDocs;
          const grownTfs = new Int32Array(n * 2);
          grownTfs.set(tfs);
          tfs = grownTfs;
        }
        docids[n] = docid;
        tfs[n] = tf;
        n++;
        break;
      }
      default:
        r.skip(wireType);
    }
  }
  if (df !== n && !(df === -1 && n === 0)) {
    r.fail(`postings list of term ${JSON.stringify(term)} has df ${Math.max(df, 0)} but ${n} postings`, 0);
  }
  return { term, df: n, cf, docids: docids.slice(0, n), tfs: tfs.slice(0, n) };
}

function readDocRecord(r: ProtoReader): CiffDocRecord {
  const doc: CiffDocRecord = { docid: 0, collectionDocid: '', docLength: 0 };
  while (!r.done) {
    const at = r.pos;
    const { field, wireType } = r.tag();
    switch (field) {
      case 1:
        r.expect(field, wireType, WireType.varint, at);
        doc.docid = r.int32();
        break;
      case 2:
        r.expect(field, wireType, WireType.len, at);
        doc.collectionDocid = r.string();
        break;
      case 3:
        r.expect(field, wireType, WireType.varint, at);
        doc.docLength = r.int32();
        break;
      default:
        r.skip(wireType);
    }
  }
  return doc;
}

const KIND = 'CIFF file';

/**
 * Streams a CIFF file message by message (one in memory at a time), checking its structure: a
 * version-1 header, exactly the announced number of postings lists and doc records, ascending
 * docids below num_docs, df matching the postings, nothing after the last record. Any violation,
 * including truncation, throws SpladeError ERR_SPLADE_CORRUPT_FILE naming the file and byte offset.
 */
export async function* streamCiff(path: string): AsyncGenerator<CiffRecord, void, undefined> {
  if (typeof path !== 'string' || path.length === 0) invalidArgument('path', 'a non-empty file path', path);
  const file = await DelimitedFileReader.open(path, KIND);
  try {
    const first = await file.next();
    if (!first) corrupt(file, 0, 'file is empty (expected a CIFF header)');
    const header = readHeader(new ProtoReader(first.bytes, { file: path, kind: KIND, offset: first.offset }));
    if (header.version !== CIFF_VERSION) {
      throw new SpladeError(
        `${path}: CIFF version ${header.version} is not supported (expected ${CIFF_VERSION}), header at byte ${first.offset}`,
        ErrorCode.unsupported,
      );
    }
    yield { type: 'header', offset: first.offset, header };
    for (let i = 0; i < header.numPostingsLists; i++) {
      const m = await file.next();
      if (!m) corrupt(file, file.offset, `file ends after ${i} of ${header.numPostingsLists} postings lists (truncated?)`);
      const list = readPostingsList(new ProtoReader(m.bytes, { file: path, kind: KIND, offset: m.offset }), header.numDocs);
      yield { type: 'postings', offset: m.offset, list };
    }
    for (let i = 0; i < header.numDocs; i++) {
      const m = await file.next();
      if (!m) corrupt(file, file.offset, `file ends after ${i} of ${header.numDocs} doc records (truncated?)`);
      const doc = readDocRecord(new ProtoReader(m.bytes, { file: path, kind: KIND, offset: m.offset }));
      yield { type: 'doc', offset: m.offset, doc };
    }
    if (file.offset < file.size) corrupt(file, file.offset, `${file.size - file.offset} bytes after the last doc record`);
  } finally {
    await file.close();
  }
}

/** Reads a whole CIFF file into memory. */
export async function readCiff(
  path: string,
): Promise<{ header: CiffHeader; postings: CiffPostingsList[]; docs: CiffDocRecord[] }> {
  let header: CiffHeader | undefined;
  const postings: CiffPostingsList[] = [];
  const docs: CiffDocRecord[] = [];
  for await (const rec of streamCiff(path)) {
    if (rec.type === 'header') header = rec.header;
    else if (rec.type === 'postings') postings.push(rec.list);
    else docs.push(rec.doc);
  }
  return { header: header!, postings, docs };
}

/**
 * Turns a CIFF file back into documents over `vocab`'s term ids, in docid order, so an
 * InvertedIndex can be rebuilt from it. Values are tf * scale / 255 when the description records
 * a scale (a splade export), else the raw tf. Every docid 0..num_docs-1 needs exactly one doc
 * record; a term missing from `vocab` is an ERR_SPLADE_INVALID_ARGUMENT. The vectors are views
 * into two shared arrays (one allocation for the whole collection).
 */
export async function ciffToDocuments(path: string, vocab: readonly string[]): Promise<SparseDocument[]> {
  checkVocab(vocab);
  const termIds = new Map<string, number>();
  for (let t = 0; t < vocab.length; t++) {
    // A token listed twice is ambiguous: mark it, and fail only if the file uses it.
    termIds.set(vocab[t], termIds.has(vocab[t]) ? -1 : t);
  }
  let header: CiffHeader | undefined;
  let scale: number | undefined;
  let counts = new Uint32Array(0);
  let ids: (string | undefined)[] = [];
  const lists: { termId: number; list: CiffPostingsList }[] = [];
  const listAt = new Map<number, number>();
  let total = 0;
  for await (const rec of streamCiff(path)) {
    if (rec.type === 'header') {
      header = rec.header;
      scale = ciffScale(header.description);
      counts = new Uint32Array(header.numDocs);
      ids = new Array(header.numDocs);
    } else if (rec.type === 'postings') {
      const { list } = rec;
      const termId = termIds.get(list.term);
      if (termId === undefined || termId < 0) {
        throw new SpladeError(
          `${path}: term ${JSON.stringify(list.term)} (postings list at byte ${rec.offset}) is ${termId === undefined ? 'not in' : 'listed twice in'} the vocab`,
          ErrorCode.invalidArgument,
        );
      }
      if (listAt.has(termId)) {
        corrupt({ file: path, kind: KIND }, rec.offset, `term ${JSON.stringify(list.term)} has a second postings list (first at byte ${listAt.get(termId)})`);
      }
      listAt.set(termId, rec.offset);
      for (let i = 0; i < list.tfs.length; i++) {
        if (list.tfs[i] < 1) {
          corrupt({ file: path, kind: KIND }, rec.offset, `term ${JSON.stringify(list.term)} has tf ${list.tfs[i]} (impacts must be >= 1)`);
        }
        counts[list.docids[i]]++;
      }
      total += list.docids.length;
      lists.push({ termId, list });
    } else {
      const { doc } = rec;
      if (doc.docid < 0 || doc.docid >= ids.length) {
        corrupt({ file: path, kind: KIND }, rec.offset, `doc record has docid ${doc.docid}, outside [0, ${ids.length})`);
      }
      if (ids[doc.docid] !== undefined) corrupt({ file: path, kind: KIND }, rec.offset, `docid ${doc.docid} has two doc records`);
      ids[doc.docid] = doc.collectionDocid;
    }
  }

  // Transpose: lists in term-id order fill each document's slice in ascending term id.
  const numDocs = header!.numDocs;
  const starts = new Float64Array(numDocs + 1);
  for (let d = 0; d < numDocs; d++) starts[d + 1] = starts[d] + counts[d];
  const fillAt = starts.slice(0, numDocs);
  const indices = new Uint32Array(total);
  const values = new Float32Array(total);
  lists.sort((a, b) => a.termId - b.termId);
  for (const { termId, list } of lists) {
    for (let i = 0; i < list.docids.length; i++) {
      const at = fillAt[list.docids[i]]++;
      indices[at] = termId;
      values[at] = scale === undefined ? list.tfs[i] : (list.tfs[i] * scale) / 255;
    }
  }
  const out: SparseDocument[] = new Array(numDocs);
  for (let d = 0; d < numDocs; d++) {
    const vector: SparseVector = {
      indices: indices.subarray(starts[d], starts[d + 1]),
      values: values.subarray(starts[d], starts[d + 1]),
    };
    out[d] = { id: ids[d]!, vector };
  }
  return out;
}
