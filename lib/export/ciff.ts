// CIFF, the Common Index File Format (Lin et al., ECIR 2020; common-index-format v1), which PISA,
// Anserini, Terrier, JASS and BMP import. A CIFF file is a stream of varint-length-prefixed protobuf
// messages: one Header, then Header.num_postings_lists PostingsList messages, then Header.num_docs
// DocRecord messages. The schema is lib/export/proto/CommonIndexFileFormat.proto; @bufbuild/protobuf
// encodes and decodes the Header and DocRecord messages from the code generated from it.
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
// PostingsList messages are written and read field by field with the library's wire-level
// BinaryWriter/BinaryReader, straight from and into typed arrays: one Posting object per posting
// (toBinary/fromBinary) takes 3x the time to write and 10x to read a large list.
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';

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
  type Exporter,
} from './common.js';
import { corrupt, DelimitedFileReader } from './delimited-file.js';
import type { Header } from './gen/CommonIndexFileFormat_pb.js';

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

/**
 * @bufbuild/protobuf's message API and the schema generated from CIFF's .proto, imported on first
 * use: they take longer to import than the rest of the package, and most programs never touch CIFF.
 */
type Proto = typeof import('@bufbuild/protobuf') & typeof import('@bufbuild/protobuf/wire') & typeof import('./gen/CommonIndexFileFormat_pb.js');
let proto: Promise<Proto> | undefined;
function loadProto(): Promise<Proto> {
  proto ??= Promise.all([import('@bufbuild/protobuf'), import('@bufbuild/protobuf/wire'), import('./gen/CommonIndexFileFormat_pb.js')]).then(
    ([pb, wire, gen]) => ({ ...pb, ...wire, ...gen }),
  );
  return proto;
}

/** Protobuf wire types (the library's WireType enum, which is only there once loadProto ran). */
const VARINT = 0;
const LEN = 2;

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

  const pb = await loadProto();
  await writeAtomically(path, async (file) => {
    await file.write(pb.sizeDelimitedEncode(pb.HeaderSchema, toProtoHeader(pb, header)));
    for (const { t, bytes } of terms) {
      const p = lists[t]!;
      const tfs = tfLists[t];
      const w = new pb.BinaryWriter().fork(); // fork() ... join() prefixes the message with its size
      w.tag(1, LEN).bytes(bytes);
      w.tag(2, VARINT).int64(p.n);
      w.tag(3, VARINT).int64(cfs[t]);
      let prev = 0;
      for (let i = 0; i < p.n; i++) {
        const gap = p.docs[i] - prev;
        prev = p.docs[i];
        // Posting { docid = 1 (the gap; omitted when 0, as proto3 omits defaults); tf = 2 (>= 1) },
        // its size computed here: a fork() per posting costs more than the rest of the loop.
        w.tag(4, LEN).uint32((gap > 0 ? 1 + varintSize(gap) : 0) + 1 + varintSize(tfs[i]));
        if (gap > 0) w.tag(1, VARINT).uint32(gap);
        w.tag(2, VARINT).uint32(tfs[i]);
      }
      await file.write(w.join().finish());
      lists[t] = undefined;
      tfLists[t] = new Uint8Array(0);
    }
    for (let d = 0; d < numDocs; d++) {
      const doc = pb.create(pb.DocRecordSchema, { docid: d, collectionDocid: ids[d], doclength: docLength[d] });
      await file.write(pb.sizeDelimitedEncode(pb.DocRecordSchema, doc));
    }
  });
  return { header, scale };
}

/** Bytes of the varint encoding of a value below 2^32. */
function varintSize(v: number): number {
  return v < 1 << 7 ? 1 : v < 1 << 14 ? 2 : v < 1 << 21 ? 3 : v < 1 << 28 ? 4 : 5;
}

function toProtoHeader(pb: Proto, h: CiffHeader): Header {
  return pb.create(pb.HeaderSchema, {
    version: h.version,
    numPostingsLists: h.numPostingsLists,
    numDocRecords: h.numDocs,
    totalPostingsLists: h.totalPostingsLists,
    totalDocs: h.totalDocs,
    totalTermsInCollection: BigInt(h.totalTermsInCollection),
    averageDoclength: h.averageDocLength,
    description: h.description,
  });
}

// ---------------------------------------------------------------------------------------------
// Reading

const KIND = 'CIFF file';

interface RawMessage {
  offset: number;
  bytes: Uint8Array;
}

/** Decodes one message with its schema; a malformed one is corrupt at the offset of its body. */
function decode<Desc extends DescMessage>(pb: Proto, path: string, schema: Desc, m: RawMessage): MessageShape<Desc> {
  try {
    return pb.fromBinary(schema, m.bytes);
  } catch (err) {
    corrupt({ file: path, kind: KIND }, m.offset, `${schema.name} message: ${(err as Error).message}`);
  }
}

/** An int64 field as a number; values beyond 2^53 cannot be exact and are refused as corrupt. */
function safeNumber(path: string, v: bigint | string, what: string, at: number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) corrupt({ file: path, kind: KIND }, at, `${what} ${v} is outside ±(2^53 - 1)`);
  return n;
}

function readHeader(pb: Proto, path: string, m: RawMessage): CiffHeader {
  const h = decode(pb, path, pb.HeaderSchema, m);
  const fail = (what: string): never => corrupt({ file: path, kind: KIND }, m.offset, what);
  if (h.numPostingsLists < 0) fail(`header num_postings_lists is negative (${h.numPostingsLists})`);
  if (h.numDocRecords < 0) fail(`header num_doc_records is negative (${h.numDocRecords})`);
  return {
    version: h.version,
    numPostingsLists: h.numPostingsLists,
    numDocs: h.numDocRecords,
    totalPostingsLists: h.totalPostingsLists,
    totalDocs: h.totalDocs,
    totalTermsInCollection: safeNumber(path, h.totalTermsInCollection, 'total_terms_in_collection', m.offset),
    averageDocLength: h.averageDoclength,
    description: h.description,
  };
}

/** The wire type of each PostingsList field (1 term, 2 df, 3 cf, 4 postings) and Posting field (1 docid, 2 tf). */
const LIST_WIRE = [-1, LEN, VARINT, VARINT, LEN];
const POSTING_WIRE = [-1, VARINT, VARINT];

function readPostingsList(pb: Proto, path: string, m: RawMessage, numDocs: number): CiffPostingsList {
  const r = new pb.BinaryReader(m.bytes);
  let at = 0;
  const fail = (what: string): never => corrupt({ file: path, kind: KIND }, m.offset + at, what);
  let term = '';
  let df = -1;
  let cf = 0;
  // Each posting takes at least two bytes (key + length), which bounds a trustworthy capacity.
  let docids = new Uint32Array(Math.min(64, (m.bytes.length >> 1) + 1));
  let tfs = new Int32Array(docids.length);
  let n = 0;
  let prev = 0;
  try {
    while (r.pos < r.len) {
      at = r.pos;
      const [field, wireType] = r.tag();
      if (field >= LIST_WIRE.length) {
        r.skip(wireType, field);
        continue;
      }
      if (wireType !== LIST_WIRE[field]) fail(`field ${field} has wire type ${wireType}, expected ${LIST_WIRE[field]}`);
      if (field === 1) term = r.string(true);
      else if (field === 2) {
        df = safeNumber(path, r.int64(), 'df', m.offset + at);
        if (df < 0) fail(`df is negative (${df})`);
        if (df > docids.length && n === 0) {
          const cap = Math.min(df, (m.bytes.length >> 1) + 1);
          docids = new Uint32Array(cap);
          tfs = new Int32Array(cap);
        }
      } else if (field === 3) cf = safeNumber(path, r.int64(), 'cf', m.offset + at);
      else {
        const end = r.uint32() + r.pos;
        if (end > r.len) fail(`posting of ${end - r.pos} bytes runs past the end of its postings list`);
        let gap = 0;
        let tf = 0;
        while (r.pos < end) {
          const [f, wt] = r.tag();
          if (f >= POSTING_WIRE.length) r.skip(wt, f);
          else if (wt !== POSTING_WIRE[f]) fail(`posting field ${f} has wire type ${wt}, expected ${POSTING_WIRE[f]}`);
          else if (f === 1) gap = r.int32();
          else tf = r.int32();
        }
        if (r.pos !== end) fail('posting runs past its declared length');
        if (n > 0 ? gap < 1 : gap < 0) fail(`posting ${n} of term ${JSON.stringify(term)} has docid gap ${gap} (docids must ascend)`);
        const docid = prev + gap;
        if (docid >= numDocs) fail(`posting ${n} of term ${JSON.stringify(term)} has docid ${docid}, but the header says ${numDocs} documents`);
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
      }
    }
  } catch (err) {
    if (err instanceof SpladeError) throw err;
    fail(`PostingsList message: ${(err as Error).message}`);
  }
  at = 0;
  if (df !== n && !(df === -1 && n === 0)) fail(`postings list of term ${JSON.stringify(term)} has df ${Math.max(df, 0)} but ${n} postings`);
  return { term, df: n, cf, docids: docids.slice(0, n), tfs: tfs.slice(0, n) };
}

function readDocRecord(pb: Proto, path: string, m: RawMessage): CiffDocRecord {
  const doc = decode(pb, path, pb.DocRecordSchema, m);
  return { docid: doc.docid, collectionDocid: doc.collectionDocid, docLength: doc.doclength };
}

/**
 * Streams a CIFF file message by message (one in memory at a time), checking its structure: a
 * version-1 header, exactly the announced number of postings lists and doc records, ascending
 * docids below num_docs, df matching the postings, nothing after the last record. Any violation,
 * including truncation, throws SpladeError ERR_SPLADE_CORRUPT_FILE naming the file and byte offset.
 */
export async function* streamCiff(path: string): AsyncGenerator<CiffRecord, void, undefined> {
  if (typeof path !== 'string' || path.length === 0) invalidArgument('path', 'a non-empty file path', path);
  const pb = await loadProto();
  const file = await DelimitedFileReader.open(path, KIND);
  try {
    const first = await file.next();
    if (!first) corrupt(file, 0, 'file is empty (expected a CIFF header)');
    const header = readHeader(pb, path, first);
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
      const list = readPostingsList(pb, path, m, header.numDocs);
      yield { type: 'postings', offset: m.offset, list };
    }
    for (let i = 0; i < header.numDocs; i++) {
      const m = await file.next();
      if (!m) corrupt(file, file.offset, `file ends after ${i} of ${header.numDocs} doc records (truncated?)`);
      const doc = readDocRecord(pb, path, m);
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

export const ciffExporter: Exporter = {
  name: 'ciff',
  description: 'Common Index File Format (PISA, Anserini, Terrier, BMP), impacts quantized to 8 bits',
  write: async (docs, vocab, path) => ({ documents: (await writeCiff(docs, vocab, path)).header.numDocs }),
};
