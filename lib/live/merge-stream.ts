// What a merge writes in JavaScript, streamed: the merged segment's .vec (the live documents of
// adjacent segments, in order, read from their .vec files a chunk at a time: lengths, term ids,
// weights and the ids' JSON, each filtered by the deletion bitmaps) and its id table (the sources'
// tables merged in hash order, documents renumbered). It holds a chunk and one id-table block per
// source, never a whole segment's ids, lengths or postings, so a merge's memory does not grow with
// the merged segment; the .idx is merged natively the same way (native/index/segment_merge.h).
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import { checkSegmentDocs, isDeleted, segmentVectorFile, SegmentPostingsReader } from './files.js';
import { compareHash, idTableFile, IdTable, type IdEntry } from './id-table.js';

/** Postings read at a time from one source (2 MiB of term ids and weights). */
export const MERGE_CHUNK_POSTINGS = 1 << 18;
/** Documents whose lengths are read at a time. */
const LENGTH_CHUNK = 1 << 16;

interface Source {
  name: string;
  reader: SegmentPostingsReader;
  deleted: Uint8Array | null;
  /** keptBefore[w]: kept documents below 64 * w (a document's new number within the merge). */
  keptBefore: Uint32Array;
  base: number;
}

const asBytes = (a: Uint32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function keptBefore(deleted: Uint8Array | null, docs: number): Uint32Array {
  const words = Math.ceil(docs / 64);
  const out = new Uint32Array(words + 1);
  for (let w = 0; w < words; w++) {
    let kept = 0;
    for (let d = 64 * w; d < Math.min(docs, 64 * w + 64); d++) if (!deleted || !isDeleted(deleted, d)) kept++;
    out[w + 1] = out[w] + kept;
  }
  return out;
}

export class MergeSources {
  private readonly sources: Source[] = [];
  /** Kept documents and their postings. */
  readonly docs: number = 0;
  readonly postings: number = 0;

  /** Checks each source's whole .vec (its checksum, a chunk at a time) and counts what is kept. */
  constructor(private readonly dir: string, sources: { name: string; deleted: Uint8Array | null }[], private readonly chunkPostings = MERGE_CHUNK_POSTINGS) {
    try {
      for (const s of sources) {
        const path = join(dir, segmentVectorFile(s.name));
        checkSegmentDocs(path);
        const reader = new SegmentPostingsReader(path);
        const src: Source = { name: s.name, reader, deleted: s.deleted, keptBefore: keptBefore(s.deleted, reader.docs), base: this.docs };
        this.sources.push(src);
        this.docs += src.keptBefore[src.keptBefore.length - 1];
        for (const { first, lengths } of this.lengthChunks(src)) {
          for (let i = 0; i < lengths.length; i++) if (!this.isDeleted(src, first + i)) this.postings += lengths[i];
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** The merged .vec's body: kept lengths, term ids, weights, then the kept ids as JSON. */
  *sectionBytes(): Generator<Uint8Array> {
    for (const src of this.sources) {
      for (const { first, lengths } of this.lengthChunks(src)) yield asBytes(this.keptLengths(src, first, lengths));
    }
    for (const section of ['indices', 'values'] as const) {
      for (const src of this.sources) {
        for (const c of this.chunksOf(src)) yield asBytes(keptOf(src, c, src.reader[section](c.from, c.count)));
      }
    }
    yield* this.idsJson();
  }

  /** The merged id table's entries in (hash, doc) order: the sources' tables merged, kept documents renumbered. */
  *idEntries(): Generator<IdEntry> {
    const tables = this.sources.map((src) => new IdTable(join(this.dir, idTableFile(src.name)), false));
    try {
      const its = tables.map((t) => t.entries());
      const heads = its.map((it) => it.next());
      const next = (i: number): void => {
        for (;;) {
          heads[i] = its[i].next();
          if (heads[i].done || !this.isDeleted(this.sources[i], heads[i].value!.doc)) return;
        }
      };
      heads.forEach((h, i) => {
        if (!h.done && this.isDeleted(this.sources[i], h.value.doc)) next(i);
      });
      for (;;) {
        // the least (hash, source, doc): within a hash, earlier sources hold the lower new numbers
        let best = -1;
        for (let i = 0; i < heads.length; i++) {
          const h = heads[i];
          if (h.done) continue;
          if (best < 0) {
            best = i;
            continue;
          }
          const c = heads[best].value!;
          if (compareHash(h.value.hi, h.value.lo, c.hi, c.lo) < 0) best = i;  // ties: the earlier source
        }
        if (best < 0) return;
        const e = heads[best].value!;
        e.doc = this.newDoc(best, e.doc);
        yield e;
        next(best);
      }
    } finally {
      for (const t of tables) t.close();
    }
  }

  close(): void {
    for (const s of this.sources.splice(0)) s.reader.close();
  }

  private isDeleted(src: Source, d: number): boolean {
    return src.deleted !== null && isDeleted(src.deleted, d);
  }

  private newDoc(i: number, d: number): number {
    const src = this.sources[i];
    let n = src.base + src.keptBefore[d >> 6];
    if (!src.deleted) return n + (d & 63);
    for (let x = d & ~63; x < d; x++) if (!isDeleted(src.deleted, x)) n++;
    return n;
  }

  private *lengthChunks(src: Source): Generator<{ first: number; lengths: Uint32Array }> {
    for (let first = 0; first < src.reader.docs; first += LENGTH_CHUNK) {
      yield { first, lengths: src.reader.lengths(first, Math.min(LENGTH_CHUNK, src.reader.docs - first)) };
    }
  }

  private keptLengths(src: Source, first: number, lengths: Uint32Array): Uint32Array {
    if (!src.deleted) return lengths;
    let out = 0;
    for (let i = 0; i < lengths.length; i++) if (!this.isDeleted(src, first + i)) lengths[out++] = lengths[i];
    return lengths.subarray(0, out);
  }

  /** A source's documents in runs of about chunkPostings postings (a longer document alone). */
  private *chunksOf(src: Source): Generator<Chunk> {
    let first = 0;
    let from = 0;
    let count = 0;
    for (const c of this.lengthChunks(src)) {
      for (let i = 0; i < c.lengths.length; i++) {
        const len = c.lengths[i];
        if (count > 0 && count + len > this.chunkPostings) {
          yield { first, end: c.first + i, from, count};
          first = c.first + i;
          from += count;
          count = 0;
        }
        count += len;
      }
    }
    if (src.reader.docs > first) yield { first, end: src.reader.docs, from, count};
  }

  /**
   * The kept ids as one JSON array, copied element by element from the sources' arrays (written by
   * JSON.stringify: strings, no spaces), so the bytes equal JSON.stringify of the kept ids.
   */
  private *idsJson(): Generator<Uint8Array> {
    yield Buffer.from('[');
    let first = true;
    for (const src of this.sources) {
      let doc = 0;
      for (const element of jsonStrings(src.reader)) {
        if (!this.isDeleted(src, doc)) {
          if (!first) yield Buffer.from(',');
          first = false;
          yield element;
        }
        doc++;
      }
      if (doc !== src.reader.docs) throw new SpladeError(`${src.reader.path} is damaged: ids do not match the documents`, ErrorCode.corruptFile);
    }
    yield Buffer.from(']');
  }
}

/** Documents [first, end) of a source, postings [from, from + count). */
interface Chunk { first: number; end: number; from: number; count: number }

/** The elements (each a JSON string, quotes included) of a .vec's ids array, read a chunk at a time. */
function* jsonStrings(reader: SegmentPostingsReader): Generator<Uint8Array> {
  const damaged = () => new SpladeError(`${reader.path} is damaged: ids are not JSON`, ErrorCode.corruptFile);
  const total = reader.idsLength;
  const CHUNK = 1 << 20;
  let pending: Buffer[] = [];  // the element being read, across chunks
  let state: 'start' | 'first' | 'between' | 'in' | 'escape' | 'after' | 'end' = 'start';
  for (let at = 0; at < total; at += CHUNK) {
    const buf = Buffer.from(reader.idBytes(at, Math.min(CHUNK, total - at)));
    let elementStart = state === 'in' || state === 'escape' ? 0 : -1;
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      switch (state) {
        case 'start':
          if (c !== 0x5b) throw damaged();  // [
          state = 'first';
          break;
        case 'first':
        case 'between':
          if (c === 0x22) {  // "
            state = 'in';
            elementStart = i;
          } else if (c === 0x5d && state === 'first') {  // ] of an empty array
            state = 'end';
          } else {
            throw damaged();
          }
          break;
        case 'in':
          if (c === 0x5c) state = 'escape';
          else if (c === 0x22) {
            pending.push(buf.subarray(elementStart, i + 1));
            yield Buffer.concat(pending);
            pending = [];
            elementStart = -1;
            state = 'after';
          }
          break;
        case 'escape':
          state = 'in';
          break;
        case 'after':
          if (c === 0x2c) state = 'between';
          else if (c === 0x5d) state = 'end';
          else throw damaged();
          break;
        case 'end':
          throw damaged();
      }
    }
    if (elementStart >= 0) pending.push(Buffer.from(buf.subarray(elementStart)));
  }
  if (state !== 'end') throw damaged();
}

/** A chunk's postings (read into arr) with those of deleted documents dropped, packed in place. */
function keptOf<T extends Uint32Array | Float32Array>(src: Source, c: Chunk, arr: T): T {
  if (!src.deleted) return arr;
  const lengths = src.reader.lengths(c.first, c.end - c.first);
  let out = 0;
  for (let d = c.first, at = 0; d < c.end; at += lengths[d - c.first], d++) {
    if (isDeleted(src.deleted, d)) continue;
    arr.copyWithin(out, at, at + lengths[d - c.first]);
    out += lengths[d - c.first];
  }
  return arr.subarray(0, out) as T;
}
