// One commit of a live index as one searchable index: what InvertedIndex.open(dir) wraps. 'bmp' and
// 'approximate' search all segments in one native call, as one collection (one best-first order over
// every segment's superblocks, one top k); the other algorithms search each segment with its
// deletion bitmap (deleted documents never enter a segment's top k) and the per-segment top-k lists
// are merged by (score desc, global position asc). Positions count live documents in commit order (segment by segment, each in
// its own order), so ids, scores and tie order are those of a fresh InvertedIndex.build over the live
// documents in commit order with the directory's options: every segment quantises with the same
// scale, so a document's score is bitwise the same in its segment as in a fresh build.
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import {
  InvertedIndex, openNativeIndex, searchSegments, searchSegmentsBatch, type IndexStats, type NativeIndex, type NativeResult,
} from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import { deletionFile, isDeleted, readDeletions, readSegmentDocs, segmentIndexFile, segmentVectorFile } from './files.js';
import { readLatestManifest, type Manifest } from './manifest.js';

interface OpenSegment {
  native: NativeIndex;
  docs: number;
  deleted: Uint8Array | undefined;
  /** Live documents in the segments before this one. */
  base: number;
  /** Documents (deleted ones too) in the segments before this one: where searchSegments numbers this one's from. */
  start: number;
  live: number;
  /** With deletions: rank[d] = live documents before d; liveDocs[r] = the r-th live document. */
  rank: Uint32Array | undefined;
  liveDocs: Uint32Array | undefined;
}

/** Tries this often when a commit's files vanish under us (a writer committed and cleaned up meanwhile). */
const OPEN_ATTEMPTS = 5;

export class SegmentedIndex implements NativeIndex {
  private disposed = false;
  /** Segment positions, most live documents first (ties in commit order): the order search() asks them. */
  private readonly bySize: number[];
  /** The segments' native indexes and deletion bitmaps, as searchSegments takes them. */
  private readonly natives: NativeIndex[];
  private readonly deletions: (Uint8Array | undefined)[];

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly segments: OpenSegment[],
  ) {
    this.bySize = segments.map((_, i) => i).sort((a, b) => segments[b].live - segments[a].live || a - b);
    this.natives = segments.map((s) => s.native);
    this.deletions = segments.map((s) => s.deleted);
  }

  static open(dir: string): SegmentedIndex {
    for (let attempt = 1; ; attempt++) {
      const m = readLatestManifest(dir);
      if (!m) throw new SpladeError(`${dir} is not an index: neither an index file nor a live index directory with a commit`, ErrorCode.invalidArgument);
      try {
        return new SegmentedIndex(dir, m, openSegments(dir, m));
      } catch (err) {
        // A newer commit may have replaced this one and removed its files: read the newest again.
        if (attempt >= OPEN_ATTEMPTS || readLatestManifest(dir)?.generation === m.generation) throw err;
      }
    }
  }

  get generation(): number { return this.manifest.generation; }

  // bmp and approximate: one native call over all segments. The others: each segment is told a
  // floor, the k-th best score of the segments searched before it: its pruning starts from there and
  // the merged top k is unchanged. The largest segments go first, so the floor rises early. A
  // document must beat the floor strictly when every segment searched so far comes earlier in commit
  // order (on a tie the earlier document wins); otherwise it may equal it (it would win a tie
  // against a later one).
  search(indices: Uint32Array, values: Float32Array, k: number, algorithm: string, alpha: number, beta: number, blocks: number): NativeResult {
    this.checkQuery(indices, values);
    const segs = this.live();
    if (isBlockMax(algorithm)) {
      return this.fromCollection(searchSegments(this.natives, this.deletions, indices, values, k, algorithm, alpha, beta, blocks));
    }
    const parts: NativeResult[] = new Array(segs.length);
    let best: number[] = [];
    let latest = -1;  // the latest (in commit order) segment searched so far
    for (const i of this.bySize) {
      const s = segs[i];
      const floor = best.length < k ? undefined : latest < i ? best[k - 1] : floatBelow(best[k - 1]);
      const r = s.native.search(indices, values, k, algorithm, alpha, beta, blocks, s.deleted, floor);
      parts[i] = r;
      latest = Math.max(latest, i);
      if (r.scores.length > 0) best = mergeScores(best, r.scores, k);
    }
    return this.merge(parts, k);
  }

  async searchBatch(indices: Uint32Array, values: Float32Array, offsets: Uint32Array, k: number, algorithm: string, threads: number,
    alpha: number, beta: number, blocks: number): Promise<NativeResult[]> {
    for (let i = 0; i + 1 < offsets.length; i++) {
      this.checkQuery(indices.subarray(offsets[i], offsets[i + 1]), values.subarray(offsets[i], offsets[i + 1]), i);
    }
    const segs = this.live();
    if (isBlockMax(algorithm)) {
      const rs = await searchSegmentsBatch(this.natives, this.deletions, indices, values, offsets, k, algorithm, threads, alpha, beta, blocks);
      return rs.map((r) => this.fromCollection(r));
    }
    const perSegment = await Promise.all(segs.map((s) => s.native.searchBatch(indices, values, offsets, k, algorithm, threads, alpha, beta, blocks, s.deleted)));
    const out: NativeResult[] = [];
    for (let q = 0; q + 1 < offsets.length; q++) out.push(this.merge(perSegment.map((rs) => rs[q]), k));
    return out;
  }

  docIds(ids: Uint32Array): string[] {
    this.live();
    return Array.from(ids, (g) => {
      const s = this.segmentOf(g);
      const r = g - s.base;
      return s.native.docIds(Uint32Array.of(s.liveDocs ? s.liveDocs[r] : r))![0];
    });
  }

  stats(): IndexStats {
    const o = this.manifest.options;
    return {
      numDocs: this.segments.reduce((n, s) => n + s.live, 0),
      numPostings: this.manifest.segments.reduce((n, s) => n + s.livePostings, 0),
      vocabSize: o.vocabSize,
      sizeBytes: this.segments.reduce((n, s) => n + s.native.stats().sizeBytes, 0),
      blockSize: o.blockSize, impactBits: o.impactBits, scale: o.scale,
      hasDocIds: true, reordered: false, hasBmp: o.bmpBlockDocs > 0 && o.impactBits === 8,
    };
  }

  /** Summed over segments: a deleted document's postings count until a merge drops them. */
  documentFrequencies(out: Uint32Array): void {
    const one = new Uint32Array(out.length);
    out.fill(0);
    for (const s of this.live()) {
      s.native.documentFrequencies(one);
      for (let t = 0; t < out.length; t++) out[t] += one[t];
    }
  }

  /** One single-file index of the live documents (a fresh build with the directory's options). */
  save(path: string): void {
    const segs = this.live();
    const o = this.manifest.options;
    const ids: string[] = [];
    const vectors: SparseVector[] = [];
    this.manifest.segments.forEach((e, i) => {
      const d = readSegmentDocs(join(this.dir, segmentVectorFile(e.name)));
      const deleted = segs[i].deleted;
      for (let j = 0, at = 0; j < d.lengths.length; at += d.lengths[j], j++) {
        if (deleted && isDeleted(deleted, j)) continue;
        ids.push(d.ids[j]);
        vectors.push({ indices: d.indices.subarray(at, at + d.lengths[j]), values: d.values.subarray(at, at + d.lengths[j]) });
      }
    });
    const index = InvertedIndex.build(vectors, { docIds: ids, scale: o.scale, impactBits: o.impactBits, blockSize: o.blockSize, vocabSize: o.vocabSize, bmpBlockDocs: o.bmpBlockDocs });
    try {
      index.save(path);
    } finally {
      index.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.segments) s.native.dispose();
  }

  private live(): OpenSegment[] {
    if (this.disposed) throw new SpladeError('This InvertedIndex was disposed', ErrorCode.invalidArgument);
    return this.segments;
  }

  // With no segment to ask, the checks the native search makes (the same codes).
  private checkQuery(indices: Uint32Array, values: Float32Array, query?: number): void {
    const where = query === undefined ? '' : `query ${query}: `;
    for (let i = 0; i < indices.length; i++) {
      if (i > 0 && indices[i] <= indices[i - 1]) throw new SpladeError(`${where}query indices must be strictly ascending (no duplicates): position ${i}`, ErrorCode.invalidArgument);
      if (indices[i] >= this.manifest.options.vocabSize) {
        throw new SpladeError(`${where}query term ${indices[i]} at position ${i} is not below the vocabulary size ${this.manifest.options.vocabSize}`, ErrorCode.outOfRange);
      }
      if (!(values[i] > 0) || !Number.isFinite(values[i])) throw new SpladeError(`${where}query values must be finite and > 0: position ${i}`, ErrorCode.invalidArgument);
    }
  }

  private segmentOf(global: number): OpenSegment {
    const s = this.segmentAt(global, (x) => x.base);
    if (!s || global >= s.base + s.live) throw new SpladeError(`document ${global} is not in this index`, ErrorCode.outOfRange);
    return s;
  }

  /** The last segment whose first number (from, ascending over segments) is at most n. */
  private segmentAt(n: number, from: (s: OpenSegment) => number): OpenSegment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (from(this.segments[mid]) <= n) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo];
  }

  // searchSegments' ids (documents of all segments, deleted ones counted) -> live positions; the
  // order (score desc, id asc) stays.
  private fromCollection(r: NativeResult): NativeResult {
    const ids = new Uint32Array(r.ids.length);
    for (let j = 0; j < ids.length; j++) {
      const s = this.segmentAt(r.ids[j], (x) => x.start);
      const d = r.ids[j] - s.start;
      ids[j] = s.base + (s.rank ? s.rank[d] : d);
    }
    return { ids, scores: r.scores, postingsScored: r.postingsScored, docIds: r.docIds };
  }

  // Per-segment top k -> global top k: ids become live positions; order (score desc, position asc).
  private merge(parts: NativeResult[], k: number): NativeResult {
    const all: { score: number; id: number }[] = [];
    let postingsScored = 0;
    parts.forEach((r, i) => {
      const s = this.segments[i];
      postingsScored += r.postingsScored;
      for (let j = 0; j < r.ids.length; j++) all.push({ score: r.scores[j], id: s.base + (s.rank ? s.rank[r.ids[j]] : r.ids[j]) });
    });
    all.sort((a, b) => b.score - a.score || a.id - b.id);
    const n = Math.min(k, all.length);
    const ids = new Uint32Array(n);
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = all[i].id;
      scores[i] = all[i].score;
    }
    return { ids, scores, postingsScored };
  }
}

function openSegments(dir: string, m: Manifest): OpenSegment[] {
  const out: OpenSegment[] = [];
  let base = 0;
  let start = 0;
  try {
    for (const e of m.segments) {
      const native = openNativeIndex(join(dir, segmentIndexFile(e.name)));
      const st = native.stats();
      out.push({ native, docs: e.docs, deleted: undefined, base, start, live: e.docs - e.deleted, rank: undefined, liveDocs: undefined });
      if (st.numDocs !== e.docs || st.scale !== m.options.scale || st.vocabSize !== m.options.vocabSize || st.impactBits !== m.options.impactBits) {
        throw new SpladeError(`${join(dir, segmentIndexFile(e.name))} does not match its commit ${m.generation}`, ErrorCode.corruptFile);
      }
      if (e.delGen > 0) {
        const { bits, count } = readDeletions(join(dir, deletionFile(e.name, e.delGen)), e.docs);
        if (count !== e.deleted) throw new SpladeError(`${join(dir, deletionFile(e.name, e.delGen))} does not match its commit ${m.generation}`, ErrorCode.corruptFile);
        const s = out[out.length - 1];
        s.deleted = bits;
        s.rank = new Uint32Array(e.docs);
        s.liveDocs = new Uint32Array(s.live);
        for (let d = 0, r = 0; d < e.docs; d++) {
          s.rank[d] = r;
          if (!isDeleted(bits, d)) s.liveDocs[r++] = d;
        }
      }
      base += e.docs - e.deleted;
      start += e.docs;
    }
  } catch (err) {
    for (const s of out) s.native.dispose();
    throw err;
  }
  return out;
}


/** The algorithms searchSegments runs over all segments at once. */
function isBlockMax(algorithm: string): boolean {
  return algorithm === 'bmp' || algorithm === 'approximate';
}

/** The k best of two descending score lists, descending. */
function mergeScores(a: number[], b: Float32Array, k: number): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (out.length < k && (i < a.length || j < b.length)) out.push(j >= b.length || (i < a.length && a[i] >= b[j]) ? a[i++] : b[j++]);
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The largest float32 below x (x a finite float32): a strict floor below it admits x itself. */
function floatBelow(x: number): number {
  f32[0] = x;
  if (x === 0) return -(2 ** -149);  // the largest float32 below +-0
  u32[0] += x > 0 ? -1 : 1;
  return f32[0];
}
