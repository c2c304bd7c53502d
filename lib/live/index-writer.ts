// IndexWriter: a live index in a directory, Lucene style. Documents are buffered in memory (up to
// half the memory budget, so the buffer plus the one flush in flight stay within it) and flushed
// into immutable segments by a worker thread; deletions are in-memory bitmaps until commit() writes
// them as new deletion-file generations and then the commit point (manifest.ts). Adjacent segments
// are merged in the background by a second worker (merge-policy.ts), which keeps commit order, so a
// reader's results equal a fresh build over the live documents in commit order. After a crash the
// directory holds the last commit, complete; open() removes what an interrupted run left behind.
//
// Memory is bounded by the budget at any collection size: the writer keeps no per-document state
// but a deletion bitmap (1 bit a document) and its id tables' block index (id-table.ts: 24 bytes
// per 128 documents), both counted against the budget (they shrink the buffer). Ids are resolved as
// Lucene resolves deletes by term: an id's copy in the buffer is found in a map of the buffer; a
// delete, update or add of an id also queues a delete for the segments that existed then (`upto`),
// resolved in batches (at commit, before a merge is carried over, and when the queue outgrows its
// share of the budget) against each segment's id table, sorted hashes against sorted blocks,
// reading only the blocks needed and comparing the ids themselves. A merge streams (merge-stream.ts,
// native/index/segment_merge.h), so its memory does not grow with the merged segment either.
//
// Every public method runs alone (a promise queue); a merge finishing runs between them.
import { existsSync, mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { ErrorCode, SpladeError, expectFinite, expectInteger, invalidArgument } from '../errors.js';
import { checkSparseVector, type SparseVector } from '../sparse.js';
import { checkSegmentDocs, deletionFile, isDeleted, readDeletions, readSegmentMeta, segmentIndexFile, segmentVectorFile, setDeleted, writeDeletions, type SegmentDocs } from './files.js';
import { compareHash, idHash, idTableFile, IdTable, INDEX_WORDS, writeIdTableOf } from './id-table.js';
import { WriteLock, LOCK_FILE } from './lock.js';
import { listGenerations, manifestFile, readLatestManifest, writeManifest, type LiveIndexOptions, type Manifest } from './manifest.js';
import { pickMerge, splitForForceMerge } from './merge-policy.js';
import { SegmentWorker } from './worker-client.js';

/** The scale of a new directory unless given: SPLADE weights (log(1 + relu)) stay well below it. */
export const DEFAULT_LIVE_SCALE = 8;
/** BERT's WordPiece vocabulary, that of every SPLADE++ checkpoint. */
export const DEFAULT_LIVE_VOCAB = 30522;

export interface IndexWriterOptions {
  /**
   * Fixed when the directory is created (then read from it; giving another value is an error): the
   * weight that maps to the top impact level (default 8). Every segment quantises with it, so
   * scores do not depend on how documents fall into segments; a weight above it is refused.
   */
  scale?: number;
  /** Fixed at creation: 8 (default) or 16 bits of impact. */
  impactBits?: 8 | 16;
  /** Fixed at creation: term ids must be below it (default 30522, BERT's vocabulary). */
  vocabSize?: number;
  /** Fixed at creation: postings per compressed block (default 128). */
  blockSize?: number;
  /** Fixed at creation: documents per block of the block-max store (default 32; 0: none). */
  bmpBlockDocs?: number;
  /**
   * Memory for buffered documents, queued deletes and the flush in flight, in MiB (default 64).
   * What the writer keeps per segment (a deletion bitmap, 1 bit a document, and its id table's
   * block index, 24 bytes per 128 documents) is counted in it: it leaves less for the buffer. Not
   * counted: each worker thread's own heap (a constant); a merge streams, holding a chunk of each
   * source at a time.
   */
  ramBudgetMB?: number;
  /**
   * Buffered documents are flushed into a segment (by a worker thread, while adds go on) once they
   * take this many MiB (default 4; at most half of ramBudgetMB). Smaller: shorter commits (a commit
   * writes what is still buffered), more small segments for the merges to combine.
   */
  flushMB?: number;
  /** Segments of a size tier merged at once (default 10). */
  mergeFactor?: number;
  /**
   * Background merges make no segment larger than this many MiB of vectors (8 bytes a posting;
   * default 1024). forceMerge ignores it. A merge's memory does not depend on it (a merge streams
   * its sources); it bounds how much one merge rewrites.
   */
  maxMergeMB?: number;
  /** Merge in the background after flushes and commits (default true); forceMerge works either way. */
  backgroundMerges?: boolean;
}
const WRITER_OPTIONS = ['scale', 'impactBits', 'vocabSize', 'blockSize', 'bmpBlockDocs', 'ramBudgetMB', 'flushMB', 'mergeFactor', 'maxMergeMB', 'backgroundMerges'];
const FIXED_OPTIONS = ['scale', 'impactBits', 'vocabSize', 'blockSize', 'bmpBlockDocs'] as const;

export interface LiveDocument {
  id: string;
  vector: SparseVector;
}

interface Segment {
  name: string;
  docs: number;
  /** Flush order: a queued delete applies to the segments with seq below its upto. */
  seq: number;
  /** The id table, opened once the segment is written. */
  table: IdTable | undefined;
  deleted: Uint8Array;
  delCount: number;
  livePostings: number;
  /** Generation of the deletion file on disk (0: none); deletions changed since: dirty. */
  delGen: number;
  dirty: boolean;
  /** Settles when the segment's files are written. */
  written: Promise<void>;
  merging: boolean;
}

/** Bytes a buffered document costs beyond its postings (its object, id and map entry). */
const DOC_OVERHEAD = 160;
/** Bytes a queued delete costs beyond its id's characters. */
const PENDING_OVERHEAD = 64;

export class IndexWriter {
  private segments: Segment[] = [];
  /** The buffer's live ids and their places in it (bounded with the buffer). */
  private bufferIds = new Map<string, number>();
  private buffer: { id: string; vector: SparseVector }[] = [];
  private bufferAlive: boolean[] = [];
  private bufferBytes = 0;
  /** Deletes by id not yet resolved against the segments: each applies to segments with seq < upto. */
  private pending: { id: string; upto: number }[] = [];
  private pendingBytes = 0;
  private nextSeq = 0;
  /** Budget bytes: the per-segment state is taken off it, then the buffer gets half of what is left. */
  private readonly budgetBytes: number;
  private inFlightBytes = 0;
  private lastFlush: Promise<void> = Promise.resolve();
  private generation: number;
  private nextSegment: number;
  private queue: Promise<unknown> = Promise.resolve();
  private merge: Promise<void> | undefined;
  private readonly inFlightNames = new Set<string>();
  private failure: Error | undefined;
  /** Whether anything changed since the last commit (nothing: commit() writes nothing). */
  private changed = false;
  private closed = false;
  private closing = false;
  private readonly flushWorker = new SegmentWorker();
  private readonly mergeWorker = new SegmentWorker();
  private readonly removals = new Set<Promise<void>>();  // unlinks of files the last commits dropped

  private constructor(
    readonly dir: string,
    readonly options: Readonly<LiveIndexOptions>,
    private readonly maxFlushBytes: number,
    private readonly mergeFactor: number,
    private readonly maxMergeBytes: number,
    private readonly backgroundMerges: boolean,
    private readonly lock: WriteLock,
    m: Manifest | undefined,
    budget: number,
  ) {
    this.generation = m?.generation ?? 0;
    this.nextSegment = m?.nextSegment ?? 0;
    this.budgetBytes = budget;
    this.updateFlushBytes();
  }

  /**
   * Opens the live index in dir (created, with the directory, when missing) for writing: takes the
   * write lock (ERR_SPLADE_LOCKED when another writer holds it), loads the newest commit and removes
   * files no commit references (what a crashed run left behind).
   */
  static async open(dir: string, opts: IndexWriterOptions = {}): Promise<IndexWriter> {
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path', dir);
    if (typeof opts !== 'object' || opts === null) invalidArgument('opts', 'an options object', opts);
    for (const key of Object.keys(opts)) {
      if (!WRITER_OPTIONS.includes(key)) invalidArgument(`opts.${key}`, `one of the known options (${WRITER_OPTIONS.join(', ')})`, key);
    }
    const given = checkFixedOptions(opts);
    const budgetBytes = (opts.ramBudgetMB === undefined ? 64 : expectFinite('ramBudgetMB', opts.ramBudgetMB)) * 2 ** 20;
    if (!(budgetBytes >= 2 ** 16)) invalidArgument('ramBudgetMB', 'a number >= 0.0625', opts.ramBudgetMB);
    const flushMB = opts.flushMB === undefined ? 4 : expectFinite('flushMB', opts.flushMB);
    if (!(flushMB > 0)) invalidArgument('flushMB', 'a number > 0', opts.flushMB);
    // buffer + the one flush in flight stay within the budget
    const flushBytes = Math.min(flushMB * 2 ** 20, budgetBytes / 2);
    const mergeFactor = opts.mergeFactor === undefined ? 10 : expectInteger('mergeFactor', opts.mergeFactor, 2, 1000);
    const maxMergeMB = opts.maxMergeMB === undefined ? 1024 : expectFinite('maxMergeMB', opts.maxMergeMB);
    if (!(maxMergeMB > 0)) invalidArgument('maxMergeMB', 'a number > 0', opts.maxMergeMB);
    if (opts.backgroundMerges !== undefined && typeof opts.backgroundMerges !== 'boolean') invalidArgument('backgroundMerges', 'a boolean', opts.backgroundMerges);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new SpladeError(`Cannot create ${dir}: ${(err as Error).message}`, ErrorCode.io, { cause: err });
    }
    if (!statSync(dir).isDirectory()) invalidArgument('dir', 'a directory (a live index), not a file', dir);
    const lock = WriteLock.acquire(dir);
    try {
      const m = readLatestManifest(dir);
      let options: LiveIndexOptions;
      if (m) {
        options = m.options;
        for (const key of FIXED_OPTIONS) {
          if (given[key] !== undefined && given[key] !== options[key]) {
            invalidArgument(`opts.${key}`, `${options[key]}, the value ${dir} was created with`, given[key]);
          }
        }
      } else {
        options = {
          scale: given.scale ?? DEFAULT_LIVE_SCALE, impactBits: given.impactBits ?? 8, vocabSize: given.vocabSize ?? DEFAULT_LIVE_VOCAB,
          blockSize: given.blockSize ?? 128, bmpBlockDocs: given.bmpBlockDocs ?? 32,
        };
      }
      const w = new IndexWriter(dir, options, flushBytes, mergeFactor, maxMergeMB * 2 ** 20, opts.backgroundMerges ?? true, lock, m, budgetBytes);
      if (m) w.load(m);
      w.updateFlushBytes();
      w.removeUnreferenced(true);
      if (!m) await w.commit();  // an empty first commit: readers can open the directory at once
      return w;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /**
   * Live documents (committed or not). Deletes of ids in segments (by delete, update or add) count
   * once resolved: at the latest by commit().
   */
  get numDocs(): number {
    let n = 0;
    for (const s of this.segments) n += s.docs - s.delCount;
    for (const alive of this.bufferAlive) if (alive) n++;
    return n;
  }

  /**
   * Bytes the writer holds for its segments (deletion bitmaps, id table indexes): counted against
   * the budget, it shrinks the buffer (never below 64 KiB a flush).
   */
  get segmentStateBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.deleted.byteLength + (s.table?.memoryBytes ?? 0);
    return n;
  }

  /** What the buffer (documents and queued deletes) may take before a flush: set as segments come and go. */
  private flushBytes = 2 ** 16;
  private updateFlushBytes(): void {
    this.flushBytes = Math.max(2 ** 16, Math.min(this.maxFlushBytes, (this.budgetBytes - this.segmentStateBytes) / 2));
  }

  /** Segments now (flushed, committed or not). */
  get numSegments(): number {
    return this.segments.length;
  }

  /**
   * Adds documents (an iterable or async iterable of { id, vector }); an id already live is replaced.
   * A bad document throws before it is added (those before it stay added); the writer stays usable.
   */
  add(docs: Iterable<LiveDocument> | AsyncIterable<LiveDocument>): Promise<void> {
    if (docs === null || typeof docs !== 'object' || !(Symbol.asyncIterator in docs || Symbol.iterator in docs)) {
      invalidArgument('docs', 'an iterable or async iterable of { id, vector }', docs);
    }
    return this.exclusive(async () => {
      let i = 0;
      for await (const doc of docs) {
        if (typeof doc !== 'object' || doc === null) invalidArgument(`docs[${i}]`, 'a document { id, vector }', doc);
        await this.addOne(doc.id, doc.vector, `docs[${i}]`);
        i++;
      }
    });
  }

  /** Replaces the document with this id (or adds it). */
  update(id: string, vector: SparseVector): Promise<void> {
    return this.exclusive(() => this.addOne(id, vector, 'vector'));
  }

  /** Deletes the documents with these ids (ids not live are ignored). */
  delete(ids: string[]): Promise<void> {
    if (!Array.isArray(ids)) invalidArgument('ids', 'an array of strings', ids);
    ids.forEach((id, i) => {
      if (typeof id !== 'string') invalidArgument(`ids[${i}]`, 'a string', id);
    });
    return this.exclusive(async () => {
      for (const id of ids) this.remove(id);
      await this.bound();
    });
  }

  /**
   * Makes everything before it durable: buffered documents flushed into a segment, segment files
   * and deletion files fsynced, then the new commit point written atomically and the directory
   * fsynced. Readers that open (or refresh) afterwards see it.
   */
  commit(): Promise<void> {
    return this.exclusive(() => this.commitNow());
  }

  /** Merges until at most n segments remain (waits for a background merge first). Not committed by itself. */
  forceMerge(n: number): Promise<void> {
    const target = expectInteger('n', n, 1, 1 << 20);
    return this.exclusive(async () => {
      this.flushBuffer();
      await this.settleSegments();
      await this.merge;
      this.resolvePending(this.segments);  // so the groups see every deletion (and merges reclaim them)
      // Merge group by group from the end, so earlier groups' positions stay valid.
      const groups = splitForForceMerge(this.segments.map((s) => s.docs - s.delCount), target).reverse();
      for (const g of groups) {
        const run = this.segments.slice(g.start, g.end);
        if (run.length > 1 || run[0].delCount > 0) await this.mergeRun(run);
      }
    });
  }

  /** Commits, lets a running merge finish (and commits it), then releases the directory. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.exclusive(async () => {
      this.closing = true;  // no new background merge: the one running finishes and is committed
      try {
        await this.commitNow();
        if (this.merge) {
          await this.merge;
          await this.commitNow();
        }
      } finally {
        this.closed = true;
        await Promise.all(this.removals);
        await this.flushWorker.terminate();
        await this.mergeWorker.terminate();
        this.lock.release();
      }
    });
  }

  // --- the work ---

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SpladeError('This IndexWriter was closed', ErrorCode.invalidArgument));
    const run = this.queue.then(() => {
      if (this.closed) throw new SpladeError('This IndexWriter was closed', ErrorCode.invalidArgument);
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async addOne(id: unknown, vector: unknown, name: string): Promise<void> {
    if (typeof id !== 'string' || id.length === 0) invalidArgument(`${name}.id`, 'a non-empty string', id);
    const v = checkSparseVector(`${name}.vector`, vector);
    const { vocabSize, scale } = this.options;
    if (v.indices.length > 0 && v.indices[v.indices.length - 1] >= vocabSize) {
      throw new SpladeError(`${name}.vector: term ${v.indices[v.indices.length - 1]} is not below the index's vocabulary size ${vocabSize}`, ErrorCode.outOfRange);
    }
    for (let i = 0; i < v.values.length; i++) {
      if (v.values[i] > scale) {
        throw new SpladeError(`${name}.vector.values[${i}] = ${v.values[i]} is above the index's scale ${scale} (fixed when it was created; see IndexWriterOptions.scale)`, ErrorCode.outOfRange);
      }
    }
    this.remove(id);
    this.changed = true;
    this.bufferIds.set(id, this.buffer.length);
    this.buffer.push({ id, vector: { indices: v.indices.slice(), values: v.values.slice() } });
    this.bufferAlive.push(true);
    this.bufferBytes += 8 * v.indices.length + DOC_OVERHEAD + 2 * id.length;
    if (this.bufferBytes + this.pendingBytes >= this.flushBytes) await this.bound();
  }

  /** Deletes the id's live copy: in the buffer at once, in the segments that exist now queued. */
  private remove(id: string): void {
    const at = this.bufferIds.get(id);
    if (at !== undefined) {
      this.bufferIds.delete(id);
      this.bufferAlive[at] = false;
      this.changed = true;
    }
    if (this.nextSeq === 0) return;  // no segment yet
    this.pending.push({ id, upto: this.nextSeq });
    this.pendingBytes += PENDING_OVERHEAD + 2 * id.length;
  }

  /** Keeps the buffer and the queued deletes within their share of the budget. */
  private async bound(): Promise<void> {
    if (this.bufferBytes + this.pendingBytes < this.flushBytes) return;
    await this.lastFlush;  // at most one flush in flight: buffer + flush stay within the budget
    if (this.bufferBytes >= this.flushBytes / 2) this.flushBuffer();
    if (this.pendingBytes >= this.flushBytes / 2) {
      await this.settleSegments();
      this.resolvePending(this.segments);
    }
  }

  /**
   * Applies the queued deletes to the given segments (written ones: their id tables are open), each
   * to the segments older than it; with every segment, the queue is emptied. Per segment, the ids'
   * hashes, sorted, are walked against the table's sorted blocks: a block's hashes are read only
   * when an id may be in it, its entries only when a hash matches, and an entry counts only when
   * its id is the one deleted.
   */
  private resolvePending(segs: Segment[]): void {
    if (this.pending.length === 0) return;
    this.resolvePendingIn(segs, sortedQueue(this.pending));
    if (segs.length === this.segments.length && segs.every((s) => s.table)) {
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  /** Queued deletes (q: sorted once by the caller) against some written segments; the queue stays. */
  private resolvePendingIn(segs: Segment[], q: SortedQueue): Set<Segment> {
    const done = new Set<Segment>();
    for (const s of segs) {
      if (!s.table) continue;
      this.resolveIn(s, s.table, q);
      done.add(s);
    }
    return done;
  }

  /**
   * Queued deletes (sorted by hash) against one segment's table: a merge join, block by block, on
   * typed arrays (it runs for every queued id and segment at each commit).
   */
  private resolveIn(s: Segment, t: IdTable, q: SortedQueue): void {
    if (t.blocks === 0) return;  // a segment merged from deleted documents only
    const { hi, lo, upto, ids } = q;
    const first = t.words;
    let b = 0, j = 0;  // the first entry not below the current item's hash: entry j of block b
    let h: Uint32Array | undefined;
    for (let k = 0; k < hi.length; k++) {
      if (upto[k] <= s.seq) continue;
      const x = hi[k], y = lo[k];
      // skip the blocks that end below the hash (their successor starts below it)
      let nb = b;
      for (let f = INDEX_WORDS * (nb + 1); nb + 1 < t.blocks && (first[f] < x || (first[f] === x && first[f + 1] < y)); f += INDEX_WORDS) nb++;
      if (nb !== b) {
        b = nb;
        h = undefined;
        j = 0;
      }
      h ??= t.hashes(b);
      while (2 * j < h.length && (h[2 * j] < x || (h[2 * j] === x && h[2 * j + 1] < y))) j++;
      if (2 * j < h.length ? h[2 * j] !== x || h[2 * j + 1] !== y : b + 1 >= t.blocks || t.compareFirst(b + 1, x, y) !== 0) continue;
      // entries equal to the hash: from (b, j) on, possibly into the next blocks
      const bytes = Buffer.from(ids[k], 'utf8');
      for (let blk = b, i = j; blk < t.blocks; blk++, i = 0) {
        const entries = t.block(blk);
        if (i >= entries.length) continue;
        if (entries[i].hi !== x || entries[i].lo !== y) break;
        for (; i < entries.length && entries[i].hi === x && entries[i].lo === y; i++) {
          const e = entries[i];
          if (isDeleted(s.deleted, e.doc) || !e.id.equals(bytes)) continue;
          setDeleted(s.deleted, e.doc);
          s.delCount++;
          s.livePostings -= e.postings;
          s.dirty = true;
          this.changed = true;
        }
        if (i < entries.length) break;
      }
    }
  }

  /** Starts writing the buffered documents as a new segment (in the flush worker). */
  private flushBuffer(): void {
    this.checkFailure();
    const keep: number[] = [];
    for (let i = 0; i < this.buffer.length; i++) if (this.bufferAlive[i]) keep.push(i);
    if (keep.length === 0) {
      this.buffer = [];
      this.bufferAlive = [];
      this.bufferIds = new Map();
      this.bufferBytes = 0;
      return;
    }
    let postings = 0;
    for (const i of keep) postings += this.buffer[i].vector.indices.length;
    const d: SegmentDocs = { ids: [], lengths: new Uint32Array(keep.length), indices: new Uint32Array(postings), values: new Float32Array(postings) };
    let at = 0;
    keep.forEach((i, doc) => {
      const { id, vector } = this.buffer[i];
      d.ids.push(id);
      d.lengths[doc] = vector.indices.length;
      d.indices.set(vector.indices, at);
      d.values.set(vector.values, at);
      at += vector.indices.length;
    });
    const name = `s${this.nextSegment++}`;
    let livePostings = 0;
    for (let i = 0; i < d.lengths.length; i++) livePostings += d.lengths[i];
    const seg = this.newSegment(name, keep.length, livePostings, this.nextSeq++, Promise.resolve());
    const bytes = this.bufferBytes;
    this.inFlightBytes += bytes;
    this.inFlightNames.add(name);
    this.buffer = [];
    this.bufferAlive = [];
    this.bufferIds = new Map();
    this.bufferBytes = 0;
    seg.written = this.flushWorker.run({ op: 'flush', dir: this.dir, name, docs: d, options: this.options }, [d.indices.buffer as ArrayBuffer, d.values.buffer as ArrayBuffer])
      .then(() => {
        seg.table = new IdTable(join(this.dir, idTableFile(name)), false);
        this.updateFlushBytes();
        this.maybeMerge();
      }, (err: Error) => {
        this.failure ??= err;  // accepted documents cannot be written: the writer must be reopened
      })
      .finally(() => {
        this.inFlightBytes -= bytes;
        this.inFlightNames.delete(name);
      });
    this.lastFlush = seg.written;
    this.segments.push(seg);
    this.updateFlushBytes();
  }

  private newSegment(name: string, docs: number, livePostings: number, seq: number, written: Promise<void>): Segment {
    return {
      name, docs, seq, table: undefined, deleted: new Uint8Array((docs + 7) >> 3), delCount: 0, livePostings, delGen: 0, dirty: false,
      written, merging: false,
    };
  }

  private async settleSegments(): Promise<void> {
    await Promise.all(this.segments.map((s) => s.written));
    this.checkFailure();
  }

  private checkFailure(): void {
    if (this.failure) {
      throw new SpladeError(`A segment could not be written; reopen the IndexWriter (the last commit is intact): ${this.failure.message}`,
        (this.failure as { code?: string }).code ?? ErrorCode.io, { cause: this.failure });
    }
  }

  private async commitNow(): Promise<void> {
    this.flushBuffer();
    // The queued deletes meet the written segments here, while the flush runs in its worker; the
    // segments written meanwhile (and a merge's result) get them once settled.
    // Queued deletes are idempotent, so the queue sorted now serves both passes.
    const q = sortedQueue(this.pending);
    const resolved = this.resolvePendingIn(this.segments.filter((s) => s.table), q);
    await this.settleSegments();
    this.resolvePendingIn(this.segments.filter((s) => !resolved.has(s)), q);
    if (this.segments.every((s) => s.table)) {
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (!this.changed && this.generation > 0) return;
    this.changed = false;
    // A segment with no live document left is dropped (unless a merge is reading it).
    this.segments = this.segments.filter((s) => {
      if (s.merging || s.delCount < s.docs) return true;
      s.table?.close();
      return false;
    });
    this.updateFlushBytes();
    for (const s of this.segments) {
      if (!s.dirty) continue;
      s.delGen++;
      writeDeletions(join(this.dir, deletionFile(s.name, s.delGen)), s.docs, s.deleted, s.delCount);
      s.dirty = false;
    }
    const m: Manifest = {
      generation: this.generation + 1, options: this.options, nextSegment: this.nextSegment,
      segments: this.segments.map((s) => ({ name: s.name, docs: s.docs, livePostings: s.livePostings, deleted: s.delCount, delGen: s.delGen })),
    };
    writeManifest(this.dir, m);
    this.generation = m.generation;
    this.removeUnreferenced(false);
    this.maybeMerge();
  }

  /**
   * Loads a commit: segments and their deletions, each segment's files checked a chunk at a time
   * (nothing per document is kept but the deletion bitmap and the id table's block index).
   */
  private load(m: Manifest): void {
    try {
      for (const e of m.segments) {
        const vec = join(this.dir, segmentVectorFile(e.name));
        checkSegmentDocs(vec);
        statSync(join(this.dir, segmentIndexFile(e.name)));
        const idsPath = join(this.dir, idTableFile(e.name));
        if (!existsSync(idsPath)) {  // a directory written before id tables: made once, from the .vec
          const d = readSegmentMeta(vec);
          writeIdTableOf(idsPath, d.ids, d.lengths);
        }
        const seg = this.newSegment(e.name, e.docs, e.livePostings, this.nextSeq++, Promise.resolve());
        this.segments.push(seg);
        seg.table = new IdTable(idsPath, true);
        if (seg.table.docs !== e.docs) throw new SpladeError(`${idsPath} does not match commit ${m.generation}`, ErrorCode.corruptFile);
        if (e.delGen > 0) {
          const { bits, count } = readDeletions(join(this.dir, deletionFile(e.name, e.delGen)), e.docs);
          seg.deleted = bits;
          seg.delCount = count;
          seg.delGen = e.delGen;
        }
      }
    } catch (err) {
      for (const s of this.segments) s.table?.close();
      throw err;
    }
  }

  /**
   * Removes what the newest commit does not reference: older commit points and deletion files,
   * segments merged away or never committed, and (at open only, when nothing else can be writing)
   * the temporary files of interrupted writes.
   */
  private removeUnreferenced(atOpen: boolean): void {
    const keep = new Set<string>([LOCK_FILE, manifestFile(this.generation)]);
    for (const s of this.segments) {
      for (const f of [segmentIndexFile, segmentVectorFile, idTableFile]) keep.add(f(s.name));
      if (s.delGen > 0) keep.add(deletionFile(s.name, s.delGen));
    }
    for (const name of this.inFlightNames) {
      for (const f of [segmentIndexFile, segmentVectorFile, idTableFile]) keep.add(f(name));
    }
    const ours = /^(segments_\d+|s\d+\.(idx|vec|ids)|s\d+_\d+\.del)$/;
    for (const f of readdirSync(this.dir)) {
      if (keep.has(f)) continue;
      const temp = f.startsWith('.') && f.endsWith('.tmp');
      if (!(ours.test(f) || (atOpen && temp))) continue;
      if (!atOpen && f.startsWith('segments_') && Number(f.slice(9)) > this.generation) continue;
      if (atOpen) {
        try {
          unlinkSync(join(this.dir, f));
        } catch {
          // gone already, or not ours to remove: the next commit tries again
        }
      } else {
        // After a commit, off its path: unlinking a merged-away segment frees hundreds of MiB of
        // extents, 100+ ms that a commit need not wait for (the commit is durable already; what a
        // crash leaves here the next open removes). close() waits for these.
        const gone = unlink(join(this.dir, f)).catch(() => undefined).finally(() => this.removals.delete(gone));
        this.removals.add(gone);
      }
    }
    if (atOpen && this.generation > 0 && listGenerations(this.dir)[0] !== this.generation) {
      throw new SpladeError(`${this.dir}: could not remove newer commit points`, ErrorCode.io);
    }
  }

  // --- merges ---

  private maybeMerge(): void {
    if (!this.backgroundMerges || this.merge || this.closing || this.closed || this.failure) return;
    const run = pickMerge(this.segments.map((s) => ({ docs: s.docs, deleted: s.delCount, bytes: 8 * s.livePostings, busy: s.merging || this.inFlightNames.has(s.name) })),
      this.mergeFactor, this.maxMergeBytes);
    if (!run) return;
    void this.mergeRun(this.segments.slice(run.start, run.end)).catch(() => undefined);
  }

  /** Merges adjacent segments into one (in the merge worker); deletions made meanwhile carry over. */
  private mergeRun(run: Segment[]): Promise<void> {
    try {
      this.resolvePending(run);  // what is queued for the sources is dropped by the merge, not carried
    } catch (err) {
      return Promise.reject(err);  // a damaged id table: the commit that resolves it reports it
    }
    const snapshot = run.map((s) => s.deleted.slice());
    for (const s of run) s.merging = true;
    const name = `s${this.nextSegment++}`;
    this.inFlightNames.add(name);
    const task = this.mergeWorker.run({ op: 'merge', dir: this.dir, name, options: this.options, sources: run.map((s, i) => ({ name: s.name, deleted: snapshot[i] })) });
    const done = task.then((r) => {
      // Deletes queued for the sources are applied to them first, then every deletion made since
      // the snapshot is carried over; the queue stays (applying it again to the merged segment
      // finds those documents deleted already).
      this.resolvePending(run);
      const merged = this.newSegment(name, r.docs, 0, run[run.length - 1].seq, Promise.resolve());
      merged.table = new IdTable(join(this.dir, idTableFile(name)), false);
      let nd = 0;
      run.forEach((s, i) => {
        merged.livePostings += s.livePostings;
        for (let d = 0; d < s.docs; d++) {
          if (isDeleted(snapshot[i], d)) continue;
          if (isDeleted(s.deleted, d)) {
            setDeleted(merged.deleted, nd);
            merged.delCount++;
            merged.dirty = true;
          }
          nd++;
        }
      });
      const at = this.segments.indexOf(run[0]);
      this.segments.splice(at, run.length, merged);
      this.updateFlushBytes();
      for (const s of run) s.table?.close();
      this.changed = true;
    }).finally(() => {
      for (const s of run) s.merging = false;
      this.inFlightNames.delete(name);
      if (this.merge === done) this.merge = undefined;
    });
    this.merge = done;
    return done;
  }
}

/** Queued deletes sorted by hash, as parallel arrays. */
interface SortedQueue { hi: Uint32Array; lo: Uint32Array; upto: Float64Array; ids: string[] }

function sortedQueue(pending: { id: string; upto: number }[]): SortedQueue {
  const n = pending.length;
  const hashes = pending.map((p) => idHash(p.id));
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => compareHash(hashes[a].hi, hashes[a].lo, hashes[b].hi, hashes[b].lo));
  const q: SortedQueue = { hi: new Uint32Array(n), lo: new Uint32Array(n), upto: new Float64Array(n), ids: new Array<string>(n) };
  order.forEach((i, k) => {
    q.hi[k] = hashes[i].hi;
    q.lo[k] = hashes[i].lo;
    q.upto[k] = pending[i].upto;
    q.ids[k] = pending[i].id;
  });
  return q;
}

function checkFixedOptions(o: IndexWriterOptions): Partial<LiveIndexOptions> {
  const out: Partial<LiveIndexOptions> = {};
  if (o.scale !== undefined) {
    out.scale = expectFinite('scale', o.scale);
    if (!(out.scale > 0)) invalidArgument('scale', 'a finite number > 0', o.scale);
    out.scale = Math.fround(out.scale);
  }
  if (o.impactBits !== undefined) {
    if (o.impactBits !== 8 && o.impactBits !== 16) invalidArgument('impactBits', '8 or 16', o.impactBits);
    out.impactBits = o.impactBits;
  }
  if (o.vocabSize !== undefined) out.vocabSize = expectInteger('vocabSize', o.vocabSize, 1, 1 << 24);
  if (o.blockSize !== undefined) out.blockSize = expectInteger('blockSize', o.blockSize, 16, 1024);
  if (o.bmpBlockDocs !== undefined) out.bmpBlockDocs = expectInteger('bmpBlockDocs', o.bmpBlockDocs, 0, 256);
  return out;
}

