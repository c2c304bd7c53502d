// InvertedIndex: a compressed, memory-mappable inverted index over SparseVectors with exact
// (rank-safe) top-k search: exhaustive document-at-a-time, WAND, MaxScore, block-max WAND and
// block-max pruning (BMP, over a second, block-grouped copy of the postings), and approximate search
// (BMP with its alpha / beta knobs).
//
// Scores: a posting's value v is stored as an impact level q = clamp(round(v / scale * L), 1, L)
// with L = 2^impactBits - 1 (255 by default) and scale = the largest value in the collection unless
// given. Query weights stay float. score(doc) = sum over query terms t in ascending term order of
// w_t * q_t * (scale / L), in float32, i.e. in the original units up to the quantization error
// (at most scale / (2L) per term and unit query weight). Every algorithm returns exactly the
// exhaustive top-k: the same ids and bitwise the same scores, best first, ties broken by the lower
// internal document number (the order documents were given to build, or the reordered one).
import { callNative, callNativeAsync, ErrorCode, expectFinite, expectInteger, expectOneOf, expectString, invalidArgument, SpladeError } from '../errors.js';
import { loadAddon } from '../native.js';
import { checkSparseShape, type SparseVector } from '../sparse.js';
import { SegmentedIndex } from '../live/segmented-index.js';
import { statSync } from 'node:fs';

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;  // the native open reports what is wrong with it
  }
}

export type SearchAlgorithm = 'exhaustive' | 'wand' | 'maxscore' | 'bmw' | 'bmp' | 'approximate';
const ALGORITHMS: readonly SearchAlgorithm[] = ['exhaustive', 'wand', 'maxscore', 'bmw', 'bmp', 'approximate'];

/**
 * The knobs of `algorithm: 'approximate'`, which may skip documents that belong in the top k (the
 * scores it returns are exact). On an index with top-block lists (store 'compact', BuildOptions.
 * topBlocks), for k up to 100, it scores the `blocks` best-ranked blocks that its terms' lists point
 * at; otherwise it is block-max pruning, where alpha = beta = 1 is exact search (the same as 'bmp').
 */
export interface ApproximateOptions {
  /** (0, 1], default 0.9: a block is visited only while its score bound x alpha reaches the k-th best score. Lower is faster. */
  alpha?: number;
  /** (0, 1], default 1 (every term; lower loses recall quickly, see bench/RESULTS.md): search with the heaviest query terms that carry this share of the query's bound mass. Lower is faster. */
  beta?: number;
  /**
   * 0..2^24, default 100: with top-block lists, the blocks (of bmpBlockDocs documents) scored a
   * query, best ranked first; 0: all its terms' lists reach. Fewer is faster; recall@10 per setting in
   * bench/RESULTS.md. Indexes without the lists ignore it.
   */
  blocks?: number;
}
export const APPROXIMATE_DEFAULTS: Readonly<Required<ApproximateOptions>> = Object.freeze({ alpha: 0.9, beta: 1, blocks: 100 });

export interface BuildOptions {
  /** External ids, one per document, stored in the index and returned with results. */
  docIds?: string[];
  /** The value that maps to the top impact level; default: the largest value seen. Larger values are clamped. */
  scale?: number;
  /** Postings per compressed block, 16..1024 (default 128). */
  blockSize?: number;
  /** Impact precision: 8 (default) or 16 bits. */
  impactBits?: 8 | 16;
  /** Number of term ids (query terms must be below it); default: one more than the largest term seen. */
  vocabSize?: number;
  /**
   * Documents per block of the block-max store that 'bmp' and 'approximate' search (1..256, default
   * 32); 0 leaves the store out (a smaller file; those two algorithms then throw). 8-bit impacts only.
   */
  bmpBlockDocs?: number;
  /**
   * 'bp' numbers documents by recursive graph bisection (Dhulipala et al., KDD 2016) before the lists
   * are written: documents that share terms sit together, so lists compress better and the block
   * bounds of 'bmp', 'approximate' and 'bmw' are tighter. Result ids still mean input positions.
   * Default 'none' (input order). It costs build time and, while building, 4 bytes a posting.
   */
  reorder?: 'none' | 'bp';
  /**
   * Where the postings live. 'lists' (default): compressed inverted lists for 'exhaustive', 'wand',
   * 'maxscore' and 'bmw', plus the block-max store for 'bmp' and 'approximate' (every posting twice).
   * 'compact': the block-max store only, which every algorithm then reads (a smaller file, same
   * results; needs impactBits 8 and bmpBlockDocs > 0; files of format version 3).
   */
  store?: 'lists' | 'compact';
  /**
   * Store 'compact' only: for 'approximate', each term's `topBlocks` blocks of highest max impact,
   * listed best first (impact-ordered block lists in the manner of Seismic's pruned lists), 0..2^20;
   * default 1024, or one in 64 of the index's blocks where that is less (at least 64), and none under
   * 4096 blocks (about 131k documents at bmpBlockDocs 32: there block-max pruning finds more of the
   * top 10 in less time); 0 leaves them out ('approximate' is then block-max pruning with alpha /
   * beta). 8 bytes a listed block, plus a directory of 16 bytes per 10 (term, superblock) groups;
   * bench/RESULTS.md gives the size, speed and recall at each setting.
   */
  topBlocks?: number;
}
const BUILD_OPTIONS = ['docIds', 'scale', 'blockSize', 'impactBits', 'vocabSize', 'bmpBlockDocs', 'reorder', 'store', 'topBlocks'];

export interface SearchOptions extends ApproximateOptions {
  /** How many documents to return, 1..10000. */
  k: number;
  /**
   * Default 'maxscore'. 'exhaustive', 'wand', 'maxscore', 'bmw' and 'bmp' return the same results
   * (they differ in speed; see bench/RESULTS.md); 'approximate' may miss some, and takes alpha / beta / blocks.
   */
  algorithm?: SearchAlgorithm;
}
const SEARCH_OPTIONS = ['k', 'algorithm', 'alpha', 'beta', 'blocks'];

export interface SearchBatchOptions extends ApproximateOptions {
  k: number;
  /** As in search (default 'maxscore'). */
  algorithm?: SearchAlgorithm | string;
  /** Threads for the batch (default: the native pool's size). */
  threads?: number;
}

/**
 * Only documents holding at least one query term are returned, so fewer than k when fewer match
 * (none for an empty query).
 */
export interface SearchResult {
  /** Internal document numbers (0-based, in build order), best first. */
  ids: Uint32Array;
  scores: Float32Array;
  /** The external ids of `ids`, when the index stores them. */
  docIds?: string[];
  /** Postings whose score was computed: how much work pruning left. */
  postingsScored: number;
}

export interface IndexStats {
  numDocs: number; numPostings: number; vocabSize: number; sizeBytes: number;
  blockSize: number; impactBits: number; scale: number; hasDocIds: boolean; reordered: boolean; hasBmp: boolean;
  /** false: the block-max store is the only copy of the postings (store 'compact'); absent means true. */
  hasLists?: boolean;
}
/** searchBatch's results carry their docIds (read while the batch holds the index: see dispose()). */
export interface NativeResult { ids: Uint32Array; scores: Float32Array; postingsScored: number; docIds?: string[] }
interface NativeBuilder {
  add(indices: Uint32Array, values: Float32Array, offsets: Uint32Array): void;
  readonly numDocs: number;
}
/** What an InvertedIndex searches: one native index (a file or a build), or a live index's segments (lib/live). */
export interface NativeIndex {
  /**
   * deleted: a bitmap over the documents (bit d % 8 of byte d / 8), never returned when set; floor:
   * only documents scoring strictly above it are returned.
   */
  search(indices: Uint32Array, values: Float32Array, k: number, algorithm: string, alpha: number, beta: number, blocks: number,
    deleted?: Uint8Array, floor?: number): NativeResult;
  searchBatch(indices: Uint32Array, values: Float32Array, offsets: Uint32Array, k: number, algorithm: string, threads: number,
    alpha: number, beta: number, blocks: number, deleted?: Uint8Array): Promise<NativeResult[]>;
  save(path: string): void;
  docIds(ids: Uint32Array): string[] | undefined;
  stats(): IndexStats;
  documentFrequencies(out: Uint32Array): void;
  dispose(): void;
}
interface IndexAddon {
  IndexBuilder: new (blockSize: number, impactBits: number, scale: number, vocabSize: number, bmpBlockDocs: number,
    reorder: 'none' | 'bp', store: 'lists' | 'compact', topBlocks: number) => NativeBuilder;
  IndexHandle: {
    new (how: 'open', path: string): NativeIndex;
    new (how: 'build', builder: NativeBuilder, docIds: string[] | undefined): NativeIndex;
  };
  searchSegments(segments: NativeIndex[], deleted: (Uint8Array | undefined)[], indices: Uint32Array, values: Float32Array, k: number,
    algorithm: string, alpha: number, beta: number, blocks: number): NativeResult;
  searchSegmentsBatch(segments: NativeIndex[], deleted: (Uint8Array | undefined)[], indices: Uint32Array, values: Float32Array,
    offsets: Uint32Array, k: number, algorithm: string, threads: number, alpha: number, beta: number, blocks: number): Promise<NativeResult[]>;
}

const addon = () => loadAddon<IndexAddon>();

/**
 * 'bmp' or 'approximate' over several native indexes (a live index's segments, from openNativeIndex
 * or a build) as one collection, in one native call: the superblocks of all of them in one
 * best-first order into one top k. deleted: per segment, undefined or its deletion bitmap. Result
 * ids number the documents of all segments in order (those of the segments before, plus the input
 * position); ids, scores and tie order are those of one index over the documents in that order.
 */
export function searchSegments(segments: NativeIndex[], deleted: (Uint8Array | undefined)[], indices: Uint32Array, values: Float32Array,
  k: number, algorithm: string, alpha: number, beta: number, blocks: number): NativeResult {
  return callNative(() => addon().searchSegments(segments, deleted, indices, values, k, algorithm, alpha, beta, blocks));
}

/** searchSegments for a batch of queries (concatenated, as searchBatch), on native threads. */
export function searchSegmentsBatch(segments: NativeIndex[], deleted: (Uint8Array | undefined)[], indices: Uint32Array, values: Float32Array,
  offsets: Uint32Array, k: number, algorithm: string, threads: number, alpha: number, beta: number, blocks: number): Promise<NativeResult[]> {
  return callNativeAsync(() => addon().searchSegmentsBatch(segments, deleted, indices, values, offsets, k, algorithm, threads, alpha, beta, blocks));
}

/** Maps an index file read-only (a live index's segments are such files). */
export function openNativeIndex(path: string): NativeIndex {
  return callNative(() => new (addon().IndexHandle)('open', path));
}

// Documents are fed to the native builder in chunks of concatenated arrays.
const CHUNK_POSTINGS = 1 << 18;
const CHUNK_DOCS = 8192;

export class InvertedIndex {
  #native: NativeIndex | undefined;
  readonly #stats: IndexStats;
  /** Where open() found it (a file or a live index directory), for refresh(). */
  readonly #path: string | undefined;

  private constructor(native: NativeIndex, path?: string) {
    this.#native = native;
    this.#stats = native.stats();
    this.#path = path;
  }

  /**
   * Builds an index from any iterable of SparseVectors (streamed: documents are copied in chunks
   * into the native builder, never all held in JavaScript). Document i gets internal id i.
   */
  static build(docs: Iterable<SparseVector>, opts: BuildOptions = {}): InvertedIndex {
    if (docs === null || typeof docs !== 'object' || typeof (docs as Iterable<SparseVector>)[Symbol.iterator] !== 'function') {
      invalidArgument('docs', 'an iterable of SparseVector', docs);
    }
    const feed = new BuildFeed(opts);
    for (const doc of docs) feed.add(doc);
    return new InvertedIndex(feed.finish());
  }

  /** As build, from an async stream (e.g. vectors read from a file), with the same memory behaviour. */
  static async buildAsync(docs: AsyncIterable<SparseVector> | Iterable<SparseVector>, opts: BuildOptions = {}): Promise<InvertedIndex> {
    if (docs === null || typeof docs !== 'object' || !(Symbol.asyncIterator in docs || Symbol.iterator in docs)) {
      invalidArgument('docs', 'an iterable or async iterable of SparseVector', docs);
    }
    const feed = new BuildFeed(opts);
    for await (const doc of docs) feed.add(doc);
    return new InvertedIndex(feed.finish());
  }

  /**
   * Memory-maps an index file read-only; searches read it in place. A directory is a live index
   * (IndexWriter): its newest commit opens as one index over all its segments, deletions filtered,
   * with the results of a fresh build over its live documents in commit order.
   */
  static open(path: string): InvertedIndex {
    expectString('path', path);
    if (isDirectory(path)) return new InvertedIndex(SegmentedIndex.open(path), path);
    return new InvertedIndex(openNativeIndex(path), path);
  }

  /**
   * A reader on the newest commit of what open() opened (the file as it is now, for a file); this
   * reader keeps working on its own until disposed. An index from build() has nothing newer: itself.
   */
  refresh(): InvertedIndex {
    this.#live();
    return this.#path === undefined ? this : InvertedIndex.open(this.#path);
  }

  /** Writes the index to path atomically (temporary file, fsync, rename): never a half-written index. */
  save(path: string): void {
    expectString('path', path);
    const native = this.#live();
    callNative(() => native.save(path));
  }

  search(q: SparseVector, opts: SearchOptions): SearchResult {
    checkSparseShape('q', q);
    const { k, algorithm, alpha, beta, blocks } = this.#checkOptions(opts, SEARCH_OPTIONS);
    const native = this.#live();
    const r = callNative(() => native.search(q.indices, q.values, k, algorithm, alpha, beta, blocks));
    return this.#withDocIds(r);
  }

  /** Runs the queries in parallel on native threads, off the event loop. */
  async searchBatch(qs: SparseVector[], opts: SearchBatchOptions): Promise<SearchResult[]> {
    if (!Array.isArray(qs)) invalidArgument('qs', 'an array of SparseVector', qs);
    const { k, algorithm, alpha, beta, blocks } = this.#checkOptions(opts, [...SEARCH_OPTIONS, 'threads']);
    const threads = opts.threads === undefined ? 0 : expectInteger('threads', opts.threads, 1, 1024);
    let total = 0;
    for (let i = 0; i < qs.length; i++) {
      checkSparseShape(`qs[${i}]`, qs[i]);
      total += qs[i].indices.length;
    }
    const indices = new Uint32Array(total);
    const values = new Float32Array(total);
    const offsets = new Uint32Array(qs.length + 1);
    for (let i = 0, at = 0; i < qs.length; i++) {
      indices.set(qs[i].indices, at);
      values.set(qs[i].values, at);
      at += qs[i].indices.length;
      offsets[i + 1] = at;
    }
    const native = this.#live();
    const rs = await callNativeAsync(() => native.searchBatch(indices, values, offsets, k, algorithm, threads, alpha, beta, blocks));
    return rs.map((r) => this.#withDocIds(r));
  }

  get numDocs(): number { return this.#stats.numDocs; }
  get numPostings(): number { return this.#stats.numPostings; }
  /** Bytes of the index image (the file size once saved). */
  get sizeBytes(): number { return this.#stats.sizeBytes; }
  get vocabSize(): number { return this.#stats.vocabSize; }
  get scale(): number { return this.#stats.scale; }
  get blockSize(): number { return this.#stats.blockSize; }
  get impactBits(): number { return this.#stats.impactBits; }
  /** Whether documents were reordered at build time (result ids still mean input positions). */
  get reordered(): boolean { return this.#stats.reordered; }
  /** Whether the index holds the block-max store that 'bmp' and 'approximate' search. */
  get hasBlockMaxStore(): boolean { return this.#stats.hasBmp; }
  /** 'compact' when the block-max store is the only copy of the postings (BuildOptions.store). */
  get store(): 'lists' | 'compact' { return this.#stats.hasLists === false ? 'compact' : 'lists'; }

  /** Each term's document frequency (postings in its list), indexed by term id: (vocabSize). */
  documentFrequencies(): Uint32Array {
    const out = new Uint32Array(this.#stats.vocabSize);
    const native = this.#live();
    callNative(() => native.documentFrequencies(out));
    return out;
  }

  /** Releases the native index (unmaps the file); later calls throw. Batches in flight finish first. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
  [Symbol.dispose](): void { this.dispose(); }

  #live(): NativeIndex {
    if (!this.#native) throw new SpladeError('This InvertedIndex was disposed', ErrorCode.invalidArgument);
    return this.#native;
  }

  #checkOptions(opts: SearchOptions | SearchBatchOptions, known: string[]): { k: number; algorithm: SearchAlgorithm; alpha: number; beta: number; blocks: number } {
    if (typeof opts !== 'object' || opts === null) invalidArgument('opts', 'an options object { k }', opts);
    rejectUnknownOptions('opts', opts, known);
    const k = expectInteger('k', opts.k, 1, 10000);
    const algorithm = opts.algorithm === undefined ? 'maxscore' : expectOneOf('algorithm', opts.algorithm, ALGORITHMS);
    if (algorithm !== 'approximate' && (opts.alpha !== undefined || opts.beta !== undefined || opts.blocks !== undefined)) {
      invalidArgument('alpha/beta/blocks', "options of algorithm 'approximate' only", algorithm);
    }
    const knob = (name: 'alpha' | 'beta') => {
      const v = opts[name];
      if (v === undefined) return APPROXIMATE_DEFAULTS[name];
      if (typeof v !== 'number' || !(v > 0 && v <= 1)) invalidArgument(name, 'a number in (0, 1]', v);
      return v;
    };
    const blocks = opts.blocks === undefined ? APPROXIMATE_DEFAULTS.blocks : expectInteger('blocks', opts.blocks, 0, 1 << 24);
    return { k, algorithm, alpha: knob('alpha'), beta: knob('beta'), blocks };
  }

  #withDocIds(r: NativeResult): SearchResult {
    const out: SearchResult = { ids: r.ids, scores: r.scores, postingsScored: r.postingsScored };
    if (r.docIds) {
      out.docIds = r.docIds;
    } else if (this.#stats.hasDocIds) {
      const native = this.#live();
      const ids = callNative(() => native.docIds(r.ids));
      if (ids) out.docIds = ids;
    }
    return out;
  }
}

/** An option this index does not know is a mistake (a typo, or a feature of another version), not a no-op. */
function rejectUnknownOptions(name: string, opts: object, known: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (!known.includes(key)) invalidArgument(`${name}.${key}`, `one of the known options (${known.join(', ')})`, key);
  }
}

/** Checks build options, then copies documents in chunks into the native builder. */
class BuildFeed {
  private readonly builder: NativeBuilder;
  private indices = new Uint32Array(CHUNK_POSTINGS);
  private values = new Float32Array(CHUNK_POSTINGS);
  private readonly offsets = new Uint32Array(CHUNK_DOCS + 1);
  private nDocs = 0;
  private nPostings = 0;
  private docNumber = 0;

  constructor(private readonly opts: BuildOptions) {
    if (typeof opts !== 'object' || opts === null) invalidArgument('opts', 'an options object', opts);
    rejectUnknownOptions('opts', opts, BUILD_OPTIONS);
    const blockSize = opts.blockSize === undefined ? 128 : expectInteger('blockSize', opts.blockSize, 16, 1024);
    const impactBits = opts.impactBits === undefined ? 8 : opts.impactBits;
    if (impactBits !== 8 && impactBits !== 16) invalidArgument('impactBits', '8 or 16', impactBits);
    let scale = 0;
    if (opts.scale !== undefined) {
      scale = expectFinite('scale', opts.scale);
      if (!(scale > 0)) invalidArgument('scale', 'a finite number > 0', opts.scale);
    }
    const vocabSize = opts.vocabSize === undefined ? 0 : expectInteger('vocabSize', opts.vocabSize, 1, 1 << 24);
    if (opts.docIds !== undefined) {
      if (!Array.isArray(opts.docIds)) invalidArgument('docIds', 'an array of strings', opts.docIds);
      for (let i = 0; i < opts.docIds.length; i++) expectString(`docIds[${i}]`, opts.docIds[i]);
    }
    const bmpBlockDocs = opts.bmpBlockDocs === undefined ? 32 : expectInteger('bmpBlockDocs', opts.bmpBlockDocs, 0, 256);
    const reorder = opts.reorder === undefined ? 'none' : expectOneOf('reorder', opts.reorder, ['none', 'bp'] as const);
    const store = opts.store === undefined ? 'lists' : expectOneOf('store', opts.store, ['lists', 'compact'] as const);
    if (store === 'compact' && (impactBits !== 8 || bmpBlockDocs === 0)) {
      invalidArgument('store', "'lists' when impactBits is 16 or bmpBlockDocs is 0", store);
    }
    if (opts.topBlocks !== undefined && store !== 'compact') invalidArgument('topBlocks', "an option of store 'compact' only", opts.topBlocks);
    const topBlocks = store !== 'compact' ? 0 : opts.topBlocks === undefined ? -1 : expectInteger('topBlocks', opts.topBlocks, 0, 1 << 20);
    this.builder = callNative(() => new (addon().IndexBuilder)(blockSize, impactBits, scale, vocabSize, bmpBlockDocs, reorder, store, topBlocks));
  }

  add(doc: SparseVector): void {
    checkSparseShape(`docs[${this.docNumber}]`, doc);
    const len = doc.indices.length;
    if (this.nPostings + len > this.indices.length) {
      this.flush();
      if (len > this.indices.length) {
        this.indices = new Uint32Array(len);
        this.values = new Float32Array(len);
      }
    }
    this.indices.set(doc.indices, this.nPostings);
    this.values.set(doc.values, this.nPostings);
    this.nPostings += len;
    this.offsets[++this.nDocs] = this.nPostings;
    this.docNumber++;
    if (this.nDocs === CHUNK_DOCS) this.flush();
  }

  finish(): NativeIndex {
    this.flush();
    const docIds = this.opts.docIds;
    if (docIds !== undefined && docIds.length !== this.docNumber) {
      invalidArgument('docIds', `an array of ${this.docNumber} strings (one per document)`, docIds);
    }
    return callNative(() => new (addon().IndexHandle)('build', this.builder, docIds));
  }

  private flush(): void {
    if (this.nDocs === 0) return;
    const { indices, values, offsets, nPostings, nDocs } = this;
    callNative(() => this.builder.add(indices.subarray(0, nPostings), values.subarray(0, nPostings), offsets.subarray(0, nDocs + 1)));
    this.nDocs = 0;
    this.nPostings = 0;
  }
}
