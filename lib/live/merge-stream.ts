// The documents a merge combines, streamed: the live documents of adjacent segments, in order, read
// from their .vec files a chunk at a time. What a merge holds in JavaScript is the merged segment's
// ids and lengths and one chunk of postings, never the sources' postings (the native builder holds
// the new segment's postings while it builds: that part grows with the segment, see IndexWriter).
import { join } from 'node:path';

import type { SparseVector } from '../sparse.js';
import { isDeleted, readSegmentMeta, segmentVectorFile, SegmentPostingsReader } from './files.js';

/** Postings read at a time from one source (2 MiB of term ids and weights). */
export const MERGE_CHUNK_POSTINGS = 1 << 18;

interface Source {
  reader: SegmentPostingsReader;
  lengths: Uint32Array;
  deleted: Uint8Array | null;
}
/** Documents [first, end) of a source, postings [from, from + count). */
interface Chunk { first: number; end: number; from: number; count: number }

const asBytes = (a: Uint32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export class MergeSources {
  private readonly sources: Source[] = [];
  /** The kept documents' ids and lengths, in order, and their postings. */
  readonly ids: string[] = [];
  readonly lengths: Uint32Array;
  readonly postings: number = 0;

  /** Checks each source's whole file (its checksum, a chunk at a time), keeping only ids and lengths. */
  constructor(dir: string, sources: { name: string; deleted: Uint8Array | null }[], private readonly chunkPostings = MERGE_CHUNK_POSTINGS) {
    const lengths: number[] = [];
    try {
      for (const s of sources) {
        const path = join(dir, segmentVectorFile(s.name));
        const meta = readSegmentMeta(path);
        this.sources.push({ reader: new SegmentPostingsReader(path), lengths: meta.lengths, deleted: s.deleted });
        for (let d = 0; d < meta.lengths.length; d++) {
          if (s.deleted && isDeleted(s.deleted, d)) continue;
          this.ids.push(meta.ids[d]);
          lengths.push(meta.lengths[d]);
          this.postings += meta.lengths[d];
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.lengths = Uint32Array.from(lengths);
  }

  /** The merged .vec's postings sections: every kept term id, then every kept weight. */
  *sectionBytes(): Generator<Uint8Array> {
    for (const section of ['indices', 'values'] as const) {
      for (const src of this.sources) {
        for (const c of this.chunksOf(src)) yield asBytes(keptOf(src, c, src.reader[section](c.from, c.count)));
      }
    }
  }

  /** The kept documents (each chunk a fresh array: a consumer may hold a vector until it copies it). */
  *vectors(): Generator<SparseVector> {
    for (const src of this.sources) {
      for (const c of this.chunksOf(src)) {
        const indices = keptOf(src, c, src.reader.indices(c.from, c.count));
        const values = keptOf(src, c, src.reader.values(c.from, c.count));
        for (let d = c.first, at = 0; d < c.end; d++) {
          if (src.deleted && isDeleted(src.deleted, d)) continue;
          yield { indices: indices.subarray(at, at + src.lengths[d]), values: values.subarray(at, at + src.lengths[d]) };
          at += src.lengths[d];
        }
      }
    }
  }

  close(): void {
    for (const s of this.sources.splice(0)) s.reader.close();
  }

  /** A source's documents in runs of about chunkPostings postings (a longer document alone). */
  private *chunksOf(src: Source): Generator<Chunk> {
    let first = 0;
    let from = 0;
    let count = 0;
    for (let d = 0; d < src.lengths.length; d++) {
      if (count > 0 && count + src.lengths[d] > this.chunkPostings) {
        yield { first, end: d, from, count };
        first = d;
        from += count;
        count = 0;
      }
      count += src.lengths[d];
    }
    if (src.lengths.length > first) yield { first, end: src.lengths.length, from, count };
  }
}

/** A chunk's postings (read into arr) with those of deleted documents dropped, packed in place. */
function keptOf<T extends Uint32Array | Float32Array>(src: Source, c: Chunk, arr: T): T {
  if (!src.deleted) return arr;
  let out = 0;
  for (let d = c.first, at = 0; d < c.end; at += src.lengths[d], d++) {
    if (isDeleted(src.deleted, d)) continue;
    arr.copyWithin(out, at, at + src.lengths[d]);
    out += src.lengths[d];
  }
  return arr.subarray(0, out) as T;
}
