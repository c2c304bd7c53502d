/*
 * Bm25Index: Lucene's BM25 as a sparse dot product.
 *
 * Scoring (Lucene >= 8 BM25Similarity, Anserini's defaults k1 = 0.9, b = 0.4):
 *   idf(t)      = ln(1 + (N - df + 0.5) / (df + 0.5))
 *   w(t, d)     = idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl))
 *   score(q, d) = sum over query terms t of qtf(t) * w(t, d)       (qtf: count of t in the query)
 * Lucene before 8 multiplied w by (k1 + 1); that constant factor changes no ranking, so it is left
 * out (scores then equal Lucene 8+ scores up to Lucene's lossy one-byte length norm, which is not
 * reproduced: dl here is the exact number of terms after analysis). N counts every document added,
 * empty ones included; avgdl = total terms / N.
 *
 * So a document is a SparseVector of w(t, d) over a term dictionary built from the corpus, a query a
 * SparseVector of term counts, and the score is their dot product: exactly what InvertedIndex serves.
 *
 * Build memory: one pass over `docs` (a generator is fine, nothing is read twice). The analysed
 * documents are kept as flat typed arrays (term id u32 + weight f32 per distinct term per document,
 * plus the dictionary and one length per document); BM25 weights then replace the term counts in
 * place once N, df and avgdl are known, and the TS backend transposes them into postings (peak ~ 2x
 * the postings). The texts themselves are never kept.
 */
import { readFileSync } from 'node:fs';

import { writeFileAtomicSync } from '../data/atomic.js';
import { ErrorCode, SpladeError, expectFinite, expectInteger, expectOneOf } from '../errors.js';
import { analyzerConfig, analyzerFromConfig, type AnalyzerConfig, type TokenizeFn } from './analyzer.js';
import { InvertedIndex } from '../search/inverted-index.js';
import { TaatBackend, docVectorViews, type Bm25SearchBackend, type DocVectors } from './backend.js';
import type { SparseVector } from '../sparse.js';

/** BM25's (Lucene's) idf of a term in df of N documents: ln(1 + (N - df + 0.5) / (df + 0.5)). */
export function bm25Idf(N: number, df: number): number {
  return Math.log(1 + (N - df + 0.5) / (df + 0.5));
}

/** BM25's length normalisation of a document of dl terms: k1 (1 - b + b dl / avgdl). */
export function bm25LengthNorm(k1: number, b: number, dl: number, avgdl: number): number {
  return k1 * (1 - b + (avgdl > 0 ? (b * dl) / avgdl : 0));
}

/** w(t, d) = idf(t) * tf / (tf + norm): the one BM25 term weight (index and pair scorer alike). */
export function bm25Weight(idf: number, tf: number, norm: number): number {
  return idf * (tf / (tf + norm));
}

export interface Bm25BuildOptions {
  k1?: number; // default 0.9
  b?: number; // default 0.4
  analyzer?: 'words' | 'wordpiece'; // default 'words'
  /** Porter stemming ('words' only). Default false. */
  stem?: boolean;
  /** Stop words ('words' only): true (default) = Lucene's English list, false = none, or a list. */
  stopwords?: boolean | string[];
  /** Minimum term length ('words' only). Default 2. */
  minLength?: number;
  /** The tokenizer for analyzer 'wordpiece' (e.g. the encoder's WordPiece tokenizer). */
  tokenize?: TokenizeFn;
  /** Search engine: 'ts' (exact term-at-a-time oracle, default; save() needs it) or 'native' (the compressed InvertedIndex with MaxScore). */
  backend?: 'ts' | 'native';
}

export interface Bm25SearchResult {
  docIds: string[];
  scores: Float32Array;
}

interface Header {
  format: 'splade-bm25';
  version: 1;
  k1: number;
  b: number;
  numDocs: number;
  numTerms: number;
  numPostings: number;
  avgdl: number;
  analyzer: AnalyzerConfig;
  backend: 'ts';
  termsBytes: number;
  docIdsBytes: number;
}

const MAGIC = 'SPLDBM25';

/** Growable typed arrays for the one-pass build. */
class GrowU32 {
  a = new Uint32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  take(): Uint32Array {
    return this.a.slice(0, this.n);
  }
}

/** Builds the dictionary and the analysed documents one document at a time. */
export class Bm25Builder {
  readonly dict = new Map<string, number>();
  readonly df = new GrowU32();
  readonly docIds: string[] = [];
  readonly docLen = new GrowU32();
  readonly docOffsets: number[] = [0];
  readonly terms = new GrowU32();
  readonly tfs = new GrowU32();
  totalLen = 0;
  private readonly lastDoc = new GrowU32(); // per term: the last document it was seen in
  private readonly count = new GrowU32(); // per term: its count in that document
  private readonly local: number[] = []; // the current document's distinct terms

  constructor(private readonly tokenize: TokenizeFn) {}

  add(doc: unknown, position: number): void {
    if (doc === null || typeof doc !== 'object') throw new SpladeError(`Expected {id, text} documents but document ${position} is ${doc === null ? 'null' : typeof doc}`, ErrorCode.invalidArgument);
    const { id, text } = doc as { id?: unknown; text?: unknown };
    if (typeof id !== 'string' || id === '') throw new SpladeError(`Expected a non-empty string id for document ${position} but received ${typeof id === 'string' ? '""' : typeof id}`, ErrorCode.invalidArgument);
    if (typeof text !== 'string') throw new SpladeError(`Expected a string text for document ${position} (id ${id}) but received ${typeof text}`, ErrorCode.invalidArgument);
    // Per-term scratch (lastDoc, count) instead of a Map per document: no allocation per document.
    const toks = this.tokenize(text);
    const docNo = this.docIds.length;
    const local = this.local;
    local.length = 0;
    for (let i = 0; i < toks.length; i++) {
      let t = this.dict.get(toks[i]);
      if (t === undefined) {
        t = this.dict.size;
        this.dict.set(toks[i], t);
        this.df.push(0);
        this.lastDoc.push(0xffffffff);
        this.count.push(0);
      }
      if (this.lastDoc.a[t] !== docNo) {
        this.lastDoc.a[t] = docNo;
        this.count.a[t] = 1;
        local.push(t);
      } else {
        this.count.a[t]++;
      }
    }
    local.sort((x, y) => x - y);
    for (let i = 0; i < local.length; i++) {
      const t = local[i];
      this.terms.push(t);
      this.tfs.push(this.count.a[t]);
      this.df.a[t]++;
    }
    this.docIds.push(id);
    this.docLen.push(toks.length);
    this.totalLen += toks.length;
    this.docOffsets.push(this.terms.n);
  }

  /** Document vectors of BM25 weights. */
  finish(k1: number, b: number): { vectors: DocVectors; avgdl: number; terms: string[] } {
    const N = this.docIds.length;
    const avgdl = N > 0 ? this.totalLen / N : 0;
    const numTerms = this.dict.size;
    const idf = new Float64Array(numTerms);
    for (let t = 0; t < numTerms; t++) {
      const df = this.df.a[t];
      idf[t] = bm25Idf(N, df);
    }
    const terms = this.terms.take();
    const weights = new Float32Array(terms.length);
    const offsets = Float64Array.from(this.docOffsets);
    for (let d = 0; d < N; d++) {
      const norm = bm25LengthNorm(k1, b, this.docLen.a[d], avgdl);
      for (let p = offsets[d]; p < offsets[d + 1]; p++) weights[p] = bm25Weight(idf[terms[p]], this.tfs.a[p], norm);
    }
    return { vectors: { numDocs: N, numTerms, offsets, terms, weights }, avgdl, terms: Array.from(this.dict.keys()) };
  }
}

function checkOptions(opts: Bm25BuildOptions): Required<Pick<Bm25BuildOptions, 'k1' | 'b' | 'analyzer' | 'backend'>> {
  if (opts === null || typeof opts !== 'object') throw new SpladeError('Expected an options object for Bm25Index.build', ErrorCode.invalidArgument);
  const k1 = expectFinite('k1', opts.k1 ?? 0.9);
  const b = expectFinite('b', opts.b ?? 0.4);
  if (k1 < 0) throw new SpladeError(`Expected a non-negative number for k1 but received ${k1}`, ErrorCode.invalidArgument);
  if (b < 0 || b > 1) throw new SpladeError(`Expected a number in [0, 1] for b but received ${b}`, ErrorCode.invalidArgument);
  const analyzer = expectOneOf('analyzer', opts.analyzer ?? 'words', ['words', 'wordpiece'] as const);
  const backend = expectOneOf('backend', opts.backend ?? 'ts', ['ts', 'native'] as const);
  if (opts.minLength !== undefined) expectInteger('minLength', opts.minLength, 1);
  return { k1, b, analyzer, backend };
}

/**
 * THE place where a search engine is chosen for the document vectors: 'ts' is the exact
 * term-at-a-time oracle (and what save() stores); 'native' builds the compressed InvertedIndex
 * (16-bit impacts, so BM25 weights keep about 5 significant digits) and searches it with MaxScore.
 */
function makeBackend(kind: 'ts' | 'native', vectors: DocVectors): Bm25SearchBackend {
  switch (kind) {
    case 'ts':
      return TaatBackend.fromDocVectors(vectors);
    case 'native':
      return new NativeBackend(vectors);
  }
}

class NativeBackend implements Bm25SearchBackend {
  readonly kind = 'native' as const;
  readonly numDocs: number;
  readonly numPostings: number;
  private readonly index: InvertedIndex;

  constructor(vectors: DocVectors) {
    this.index = InvertedIndex.build(docVectorViews(vectors), { impactBits: 16, vocabSize: Math.max(1, vectors.numTerms) });
    this.numDocs = vectors.numDocs;
    this.numPostings = this.index.numPostings;
  }

  search(q: SparseVector, k: number): { ids: Uint32Array; scores: Float32Array } {
    const { ids, scores } = this.index.search(q, { k: Math.min(k, 10_000), algorithm: 'maxscore' });
    return { ids, scores };
  }
}

export class Bm25Index {
  private constructor(
    readonly k1: number,
    readonly b: number,
    readonly avgdl: number,
    private readonly analyzer: AnalyzerConfig,
    private readonly tokenize: TokenizeFn,
    private readonly dict: Map<string, number>,
    private readonly docIds: string[],
    private readonly backend: Bm25SearchBackend,
  ) {}

  get numDocs(): number {
    return this.docIds.length;
  }

  get numTerms(): number {
    return this.dict.size;
  }

  get numPostings(): number {
    return this.backend.numPostings;
  }

  /** Builds the index from `{ id, text }` documents in one pass (a generator is fine). */
  static build(docs: Iterable<{ id: string; text: string }>, opts: Bm25BuildOptions = {}): Bm25Index {
    const { builder, cfg, tokenize, checked } = Bm25Index.start(docs, opts);
    let i = 0;
    for (const doc of docs) builder.add(doc, i++);
    return Bm25Index.finish(builder, cfg, tokenize, checked);
  }

  /** Same as build, from an async stream (e.g. readBeirCorpus / readMsMarcoCollection). */
  static async buildAsync(docs: AsyncIterable<{ id: string; text: string }> | Iterable<{ id: string; text: string }>, opts: Bm25BuildOptions = {}): Promise<Bm25Index> {
    const { builder, cfg, tokenize, checked } = Bm25Index.start(docs, opts);
    let i = 0;
    for await (const doc of docs) builder.add(doc, i++);
    return Bm25Index.finish(builder, cfg, tokenize, checked);
  }

  private static start(docs: unknown, opts: Bm25BuildOptions) {
    const checked = checkOptions(opts);
    if (docs === null || typeof docs !== 'object' || !(Symbol.iterator in docs || Symbol.asyncIterator in docs)) {
      throw new SpladeError('Expected an iterable of { id, text } documents for docs', ErrorCode.invalidArgument);
    }
    const wordOpts = { stopwords: opts.stopwords, stem: opts.stem, minLength: opts.minLength };
    const cfg = analyzerConfig(checked.analyzer, wordOpts);
    const tokenize = analyzerFromConfig(cfg, opts.tokenize);
    return { builder: new Bm25Builder(tokenize), cfg, tokenize, checked };
  }

  private static finish(builder: Bm25Builder, cfg: AnalyzerConfig, tokenize: TokenizeFn, o: { k1: number; b: number; backend: 'ts' | 'native' }): Bm25Index {
    const { vectors, avgdl } = builder.finish(o.k1, o.b);
    const backend = makeBackend(o.backend, vectors);
    return new Bm25Index(o.k1, o.b, avgdl, cfg, tokenize, builder.dict, builder.docIds, backend);
  }

  /** The query as a SparseVector of term counts over this index's dictionary (unknown terms dropped). */
  encodeQuery(query: string): SparseVector {
    const counts = new Map<number, number>();
    for (const tok of this.tokenize(query)) {
      const t = this.dict.get(tok);
      if (t !== undefined) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    const ids = Array.from(counts.keys()).sort((x, y) => x - y);
    return { indices: Uint32Array.from(ids), values: Float32Array.from(ids, (t) => counts.get(t)!) };
  }

  /** The top k documents for a query, best first (ties: the document added first wins). */
  search(query: string, opts: { k: number }): Bm25SearchResult {
    if (typeof query !== 'string') throw new SpladeError(`Expected a string for query but received ${query === null ? 'null' : typeof query}`, ErrorCode.invalidArgument);
    if (opts === null || typeof opts !== 'object') throw new SpladeError('Expected an options object { k } for search', ErrorCode.invalidArgument);
    const k = expectInteger('k', opts.k, 1);
    const q = this.encodeQuery(query);
    if (q.indices.length === 0) return { docIds: [], scores: new Float32Array(0) };
    const { ids, scores } = this.backend.search(q, k);
    return { docIds: Array.from(ids, (i) => this.docIds[i]), scores };
  }

  /** Writes dictionary, statistics, document ids and postings to one file, atomically. */
  save(path: string): void {
    if (typeof path !== 'string' || path === '') throw new SpladeError('Expected a file path for save', ErrorCode.invalidArgument);
    const be = this.backend;
    if (!(be instanceof TaatBackend)) throw new SpladeError(`save() of a '${be.kind}' backend is not supported yet`, ErrorCode.unsupported);
    const termsJson = Buffer.from(JSON.stringify(Array.from(this.dict.keys())));
    const docIdsJson = Buffer.from(JSON.stringify(this.docIds));
    const header: Header = {
      format: 'splade-bm25', version: 1, k1: this.k1, b: this.b, numDocs: this.numDocs, numTerms: this.numTerms,
      numPostings: be.numPostings, avgdl: this.avgdl, analyzer: this.analyzer, backend: 'ts',
      termsBytes: termsJson.length, docIdsBytes: docIdsJson.length,
    };
    const headerJson = Buffer.from(JSON.stringify(header));
    const pre = Buffer.alloc(16);
    pre.write(MAGIC, 0, 'latin1');
    pre.writeUInt32LE(1, 8);
    pre.writeUInt32LE(headerJson.length, 12);
    const textLen = 16 + headerJson.length + termsJson.length + docIdsJson.length;
    const pad = Buffer.alloc((8 - (textLen % 8)) % 8);
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    writeFileAtomicSync(path, [pre, headerJson, termsJson, docIdsJson, pad, bytes(be.termOffsets), bytes(be.postDocs), bytes(be.postWeights)]);
  }

  /** Opens a file written by save(). `tokenize` is needed again for a 'wordpiece' index. */
  static open(path: string, opts: { tokenize?: TokenizeFn } = {}): Bm25Index {
    if (typeof path !== 'string' || path === '') throw new SpladeError('Expected a file path for open', ErrorCode.invalidArgument);
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      throw new SpladeError(`Cannot read ${path}: ${(err as Error).message}`, ErrorCode.io, { cause: err });
    }
    const corrupt = (what: string) => new SpladeError(`${path}: not a valid BM25 index file (${what})`, ErrorCode.corruptFile);
    if (buf.length < 16 || buf.toString('latin1', 0, 8) !== MAGIC) throw corrupt('bad magic bytes');
    if (buf.readUInt32LE(8) !== 1) throw corrupt(`unsupported version ${buf.readUInt32LE(8)}`);
    const hLen = buf.readUInt32LE(12);
    if (16 + hLen > buf.length) throw corrupt('truncated header');
    let h: Header;
    let terms: unknown;
    let docIds: unknown;
    try {
      h = JSON.parse(buf.toString('utf8', 16, 16 + hLen)) as Header;
      let at = 16 + hLen;
      if (!(Number.isInteger(h.termsBytes) && Number.isInteger(h.docIdsBytes)) || at + h.termsBytes + h.docIdsBytes > buf.length) throw corrupt('truncated dictionary');
      terms = JSON.parse(buf.toString('utf8', at, (at += h.termsBytes)));
      docIds = JSON.parse(buf.toString('utf8', at, at + h.docIdsBytes));
    } catch (err) {
      if (err instanceof SpladeError) throw err;
      throw corrupt(`bad header or dictionary: ${(err as Error).message}`);
    }
    const { numDocs, numTerms, numPostings } = h;
    if (h.format !== 'splade-bm25' || ![numDocs, numTerms, numPostings].every((n) => Number.isInteger(n) && n >= 0)
      || !Array.isArray(terms) || terms.length !== numTerms || !Array.isArray(docIds) || docIds.length !== numDocs) {
      throw corrupt('inconsistent header');
    }
    let at = 16 + hLen + h.termsBytes + h.docIdsBytes;
    at += (8 - (at % 8)) % 8;
    const expected = at + 8 * (numTerms + 1) + 8 * numPostings;
    if (buf.length !== expected) throw corrupt(`size ${buf.length} bytes, expected ${expected}${buf.length < expected ? ': truncated' : ''}`);
    // readFileSync gives a fresh, 8-byte-aligned allocation for files this size; copy if not.
    const view = <T>(Ctor: { new(b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }, n: number): T => {
      const off = buf.byteOffset + at;
      const arr = off % Ctor.BYTES_PER_ELEMENT === 0
        ? new Ctor(buf.buffer as ArrayBuffer, off, n)
        : new Ctor(buf.buffer.slice(off, off + n * Ctor.BYTES_PER_ELEMENT) as ArrayBuffer, 0, n);
      at += n * Ctor.BYTES_PER_ELEMENT;
      return arr;
    };
    const termOffsets = view(Float64Array, numTerms + 1);
    const postDocs = view(Uint32Array, numPostings);
    const postWeights = view(Float32Array, numPostings);
    if (termOffsets[0] !== 0 || termOffsets[numTerms] !== numPostings) throw corrupt('bad posting offsets');
    for (let t = 0; t < numTerms; t++) if (!(termOffsets[t + 1] >= termOffsets[t])) throw corrupt(`bad posting offsets at term ${t}`);
    for (let p = 0; p < numPostings; p++) {
      if (postDocs[p] >= numDocs) throw corrupt(`document number ${postDocs[p]} out of range at posting ${p}`);
      if (!(postWeights[p] > 0) || !Number.isFinite(postWeights[p])) throw corrupt(`bad weight at posting ${p}`);
    }
    const dict = new Map<string, number>();
    (terms as unknown[]).forEach((t, i) => dict.set(String(t), i));
    const tokenize = analyzerFromConfig(h.analyzer, opts.tokenize);
    const backend = new TaatBackend(numDocs, termOffsets, postDocs, postWeights);
    return new Bm25Index(h.k1, h.b, h.avgdl, h.analyzer, tokenize, dict, (docIds as unknown[]).map(String), backend);
  }
}
