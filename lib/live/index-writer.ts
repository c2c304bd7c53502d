// IndexWriter: a live index in a directory, Lucene style. Documents are buffered in memory (up to
// half the memory budget, so the buffer plus the one flush in flight stay within it) and flushed
// into immutable segments by a worker thread; deletions are in-memory bitmaps until commit() writes
// them as new deletion-file generations and then the commit point (manifest.ts). Adjacent segments
// are merged in the background by a second worker (merge-policy.ts), which keeps commit order, so a
// reader's results equal a fresh build over the live documents in commit order. After a crash the
// directory holds the last commit, complete; open() removes what an interrupted run left behind.
//
// Every public method runs alone (a promise queue); a merge finishing runs between them.
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError, expectFinite, expectInteger, invalidArgument } from '../errors.js';
import { checkSparseVector, type SparseVector } from '../sparse.js';
import { deletionFile, isDeleted, readDeletions, readSegmentMeta, segmentIndexFile, segmentVectorFile, setDeleted, writeDeletions, type SegmentDocs } from './files.js';
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
   * Memory for buffered documents and the flush in flight, in MiB (default 64). Not counted in it:
   * a merge's working set (see maxMergeMB) and the id map, every live id and where it lives (about
   * 100 bytes a document), which resolves updates and deletes.
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
   * default 1024). forceMerge ignores it. A merge streams its sources a chunk at a time (2 MiB);
   * what grows with the merged segment is its ids and lengths in the merge worker and the native
   * builder's postings (about the size of the new segment's .idx), so this caps those.
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
  ids: string[];
  lengths: Uint32Array;
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

type Where = { seg: Segment; doc: number } | { buffered: number };

/** Bytes a buffered document costs beyond its postings (its object, id and map entry). */
const DOC_OVERHEAD = 160;

export class IndexWriter {
  private segments: Segment[] = [];
  private readonly where = new Map<string, Where>();
  private buffer: { id: string; vector: SparseVector }[] = [];
  private bufferAlive: boolean[] = [];
  private bufferBytes = 0;
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

  private constructor(
    readonly dir: string,
    readonly options: Readonly<LiveIndexOptions>,
    private readonly flushBytes: number,
    private readonly mergeFactor: number,
    private readonly maxMergeBytes: number,
    private readonly backgroundMerges: boolean,
    private readonly lock: WriteLock,
    m: Manifest | undefined,
  ) {
    this.generation = m?.generation ?? 0;
    this.nextSegment = m?.nextSegment ?? 0;
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
      const w = new IndexWriter(dir, options, flushBytes, mergeFactor, maxMergeMB * 2 ** 20, opts.backgroundMerges ?? true, lock, m);
      if (m) w.load(m);
      w.removeUnreferenced(true);
      if (!m) await w.commit();  // an empty first commit: readers can open the directory at once
      return w;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** Live documents (committed or not). */
  get numDocs(): number {
    return this.where.size;
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
    this.where.set(id, { buffered: this.buffer.length });
    this.buffer.push({ id, vector: { indices: v.indices.slice(), values: v.values.slice() } });
    this.bufferAlive.push(true);
    this.bufferBytes += 8 * v.indices.length + DOC_OVERHEAD + 2 * id.length;
    if (this.bufferBytes >= this.flushBytes) {
      await this.lastFlush;  // at most one flush in flight: buffer + flush stay within the budget
      this.flushBuffer();
    }
  }

  private remove(id: string): void {
    const at = this.where.get(id);
    if (!at) return;
    this.where.delete(id);
    this.changed = true;
    if ('buffered' in at) {
      this.bufferAlive[at.buffered] = false;
      return;
    }
    const s = at.seg;
    setDeleted(s.deleted, at.doc);
    s.delCount++;
    s.livePostings -= s.lengths[at.doc];
    s.dirty = true;
  }

  /** Starts writing the buffered documents as a new segment (in the flush worker). */
  private flushBuffer(): void {
    this.checkFailure();
    const keep: number[] = [];
    for (let i = 0; i < this.buffer.length; i++) if (this.bufferAlive[i]) keep.push(i);
    if (keep.length === 0) {
      this.buffer = [];
      this.bufferAlive = [];
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
    const seg = this.newSegment(name, d.ids, d.lengths.slice(), Promise.resolve());
    d.ids.forEach((id, doc) => this.where.set(id, { seg, doc }));
    const bytes = this.bufferBytes;
    this.inFlightBytes += bytes;
    this.inFlightNames.add(name);
    this.buffer = [];
    this.bufferAlive = [];
    this.bufferBytes = 0;
    seg.written = this.flushWorker.run({ op: 'flush', dir: this.dir, name, docs: d, options: this.options }, [d.indices.buffer as ArrayBuffer, d.values.buffer as ArrayBuffer])
      .then(() => {
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
  }

  private newSegment(name: string, ids: string[], lengths: Uint32Array, written: Promise<void>): Segment {
    let livePostings = 0;
    for (let i = 0; i < lengths.length; i++) livePostings += lengths[i];
    return {
      name, docs: ids.length, ids, lengths, deleted: new Uint8Array((ids.length + 7) >> 3), delCount: 0, livePostings, delGen: 0, dirty: false,
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
    await this.settleSegments();
    if (!this.changed && this.generation > 0) return;
    this.changed = false;
    // A segment with no live document left is dropped (unless a merge is reading it).
    this.segments = this.segments.filter((s) => s.merging || s.delCount < s.docs);
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

  /** Loads a commit: segments, their deletions and every live id. */
  private load(m: Manifest): void {
    for (const e of m.segments) {
      const d = readSegmentMeta(join(this.dir, segmentVectorFile(e.name)));
      if (d.ids.length !== e.docs) throw new SpladeError(`${join(this.dir, segmentVectorFile(e.name))} does not match commit ${m.generation}`, ErrorCode.corruptFile);
      statSync(join(this.dir, segmentIndexFile(e.name)));
      const seg = this.newSegment(e.name, d.ids, d.lengths, Promise.resolve());
      if (e.delGen > 0) {
        const { bits, count } = readDeletions(join(this.dir, deletionFile(e.name, e.delGen)), e.docs);
        seg.deleted = bits;
        seg.delCount = count;
        seg.delGen = e.delGen;
        for (let i = 0; i < e.docs; i++) if (isDeleted(bits, i)) seg.livePostings -= d.lengths[i];
      }
      d.ids.forEach((id, doc) => {
        if (isDeleted(seg.deleted, doc)) return;
        const before = this.where.get(id);
        if (before && !('buffered' in before)) {
          throw new SpladeError(`${this.dir}: id ${JSON.stringify(id)} is live in both ${before.seg.name} and ${e.name} (commit ${m.generation} is damaged)`, ErrorCode.corruptFile);
        }
        this.where.set(id, { seg, doc });
      });
      this.segments.push(seg);
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
      keep.add(segmentIndexFile(s.name));
      keep.add(segmentVectorFile(s.name));
      if (s.delGen > 0) keep.add(deletionFile(s.name, s.delGen));
    }
    for (const name of this.inFlightNames) {
      keep.add(segmentIndexFile(name));
      keep.add(segmentVectorFile(name));
    }
    const ours = /^(segments_\d+|s\d+\.(idx|vec)|s\d+_\d+\.del)$/;
    for (const f of readdirSync(this.dir)) {
      if (keep.has(f)) continue;
      const temp = f.startsWith('.') && f.endsWith('.tmp');
      if (!(ours.test(f) || (atOpen && temp))) continue;
      if (!atOpen && f.startsWith('segments_') && Number(f.slice(9)) > this.generation) continue;
      try {
        unlinkSync(join(this.dir, f));
      } catch {
        // gone already, or not ours to remove: the next commit tries again
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
    const snapshot = run.map((s) => s.deleted.slice());
    for (const s of run) s.merging = true;
    const name = `s${this.nextSegment++}`;
    this.inFlightNames.add(name);
    const task = this.mergeWorker.run({ op: 'merge', dir: this.dir, name, options: this.options, sources: run.map((s, i) => ({ name: s.name, deleted: snapshot[i] })) });
    const done = task.then((r) => {
      const ids: string[] = [];
      const from: { seg: Segment; doc: number }[] = [];
      run.forEach((s, i) => {
        for (let d = 0; d < s.docs; d++) {
          if (isDeleted(snapshot[i], d)) continue;
          ids.push(s.ids[d]);
          from.push({ seg: s, doc: d });
        }
      });
      const merged = this.newSegment(name, ids, r.lengths, Promise.resolve());
      from.forEach(({ seg, doc }, nd) => {
        if (isDeleted(seg.deleted, doc)) {
          setDeleted(merged.deleted, nd);
          merged.delCount++;
          merged.livePostings -= merged.lengths[nd];
          merged.dirty = true;
          return;
        }
        const w = this.where.get(seg.ids[doc]);
        if (w && !('buffered' in w) && w.seg === seg && w.doc === doc) this.where.set(seg.ids[doc], { seg: merged, doc: nd });
      });
      const at = this.segments.indexOf(run[0]);
      this.segments.splice(at, run.length, merged);
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

