// The files of a live index directory (see docs/ARCHITECTURE.md, "The live index"):
//
//   segments_N      the commit point of generation N (manifest.ts): JSON + a CRC-32 line
//   sK.idx          segment K's inverted index: today's single-file format, written by the builder
//   sK.vec          segment K's documents as given (ids, term ids, float weights), what merges read:
//                   the quantised impacts of .idx cannot give back the floats a fresh build sees
//   sK_G.del        generation G of segment K's deletion bitmap (one bit a document)
//   write.lock      the writer's lock (lock.ts)
//
// Every file is written to a temporary name, fsynced and renamed (lib/data/atomic.ts), and is never
// changed afterwards: a reader that opened a commit keeps a consistent view however the directory moves on.
// .vec and .del carry a CRC-32 (zlib.crc32) over their body, checked on every read.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

import { ErrorCode, SpladeError } from '../errors.js';
import { writeFileAtomicSync } from '../data/atomic.js';

const VEC_MAGIC = 'SPLVEC01';
const DEL_MAGIC = 'SPLDEL01';
const HEADER_BYTES = 32;
export const FILE_VERSION = 1;

export const segmentIndexFile = (name: string) => `${name}.idx`;
export const segmentVectorFile = (name: string) => `${name}.vec`;
export const deletionFile = (name: string, gen: number) => `${name}_${gen}.del`;

/** A segment's documents as concatenated arrays: document i is lengths[i] postings, in order. */
export interface SegmentDocs {
  ids: string[];
  lengths: Uint32Array;
  indices: Uint32Array;
  values: Float32Array;
}

function corrupt(path: string, what: string): SpladeError {
  return new SpladeError(`${path} is damaged: ${what}`, ErrorCode.corruptFile);
}

function header(magic: string, a: number, b: number, c: number, crc: number): Uint8Array {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write(magic, 0, 'latin1');
  h.writeUInt32LE(FILE_VERSION, 8);
  h.writeUInt32LE(a, 12);
  h.writeDoubleLE(b, 16);
  h.writeUInt32LE(c, 24);
  h.writeUInt32LE(crc, 28);
  return h;
}

function crcOf(parts: Uint8Array[]): number {
  let c = 0;
  for (const p of parts) c = crc32(p, c);
  return c;
}

const bytes = (a: Uint32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Layout: header (magic, version, docs, postings, ids bytes, crc), lengths, indices, values, ids (JSON). */
export function writeSegmentDocs(path: string, d: SegmentDocs): void {
  const ids = Buffer.from(JSON.stringify(d.ids), 'utf8');
  const body = [bytes(d.lengths), bytes(d.indices), bytes(d.values), ids];
  writeFileAtomicSync(path, [header(VEC_MAGIC, d.lengths.length, d.indices.length, ids.length, crcOf(body)), ...body]);
}

/**
 * Writes a segment's documents streamed: `sections` yields the bytes of the lengths, every term id
 * (all documents, in order), every weight, then the ids' JSON, in chunks, so the writer never holds
 * them all (what a merge writes). Same layout and checksum as writeSegmentDocs.
 */
export function writeSegmentDocsStreamed(path: string, docs: number, postings: number, sections: Iterable<Uint8Array>): void {
  let crc = 0;
  let written = 0;
  function* body(): Generator<Uint8Array> {
    yield new Uint8Array(HEADER_BYTES);  // the header, written last (its checksum covers the body)
    for (const part of sections) {
      crc = crc32(part, crc);
      written += part.byteLength;
      yield part;
    }
    if (written < 4 * docs + 8 * postings) throw new SpladeError(`${path}: ${written} bytes written, more expected`, ErrorCode.internal);
  }
  writeFileAtomicSync(path, body(), () => header(VEC_MAGIC, docs, postings, written - 4 * docs - 8 * postings, crc >>> 0));
}

/**
 * Reads a segment's postings a range at a time (what a merge streams). Open it after
 * readSegmentMeta checked the file: files are never changed once written.
 */
export class SegmentPostingsReader {
  private readonly fd: number;
  readonly docs: number;
  readonly postings: number;
  /** Bytes of the ids' JSON. */
  readonly idsLength: number;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new SpladeError(`Cannot read ${path}: ${(err as Error).message}`, ErrorCode.io, { cause: err });
    }
    const head = Buffer.alloc(HEADER_BYTES);
    if (readSync(this.fd, head, 0, HEADER_BYTES, 0) !== HEADER_BYTES || head.toString('latin1', 0, 8) !== VEC_MAGIC) {
      closeSync(this.fd);
      throw corrupt(path, 'not a live index file');
    }
    this.docs = head.readUInt32LE(12);
    this.postings = head.readDoubleLE(16);
    this.idsLength = head.readUInt32LE(24);
  }

  /** Lengths of documents [from, from + count) (a fresh array). */
  lengths(from: number, count: number): Uint32Array {
    return this.read(new Uint32Array(count), HEADER_BYTES + 4 * from);
  }

  /** Bytes [from, from + count) of the ids' JSON (a fresh array). */
  idBytes(from: number, count: number): Uint8Array {
    return this.read(new Uint8Array(count), HEADER_BYTES + 4 * this.docs + 8 * this.postings + from);
  }

  /** Term ids of postings [from, from + count) (a fresh array). */
  indices(from: number, count: number): Uint32Array {
    return this.read(new Uint32Array(count), HEADER_BYTES + 4 * this.docs + 4 * from);
  }

  /** Weights of postings [from, from + count) (a fresh array). */
  values(from: number, count: number): Float32Array {
    return this.read(new Float32Array(count), HEADER_BYTES + 4 * this.docs + 4 * this.postings + 4 * from);
  }

  close(): void {
    closeSync(this.fd);
  }

  private read<T extends Uint8Array | Uint32Array | Float32Array>(out: T, at: number): T {
    const b = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let off = 0; off < b.length;) {
      const n = readSync(this.fd, b, off, b.length - off, at + off);
      if (n <= 0) throw corrupt(this.path, 'truncated');
      off += n;
    }
    return out;
  }
}

function readChecked(path: string, magic: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SpladeError(`Cannot read ${path}: ${(err as Error).message}`, code === 'ENOENT' ? ErrorCode.corruptFile : ErrorCode.io, { cause: err });
  }
  if (buf.length < HEADER_BYTES || buf.toString('latin1', 0, 8) !== magic) throw corrupt(path, 'not a live index file');
  const version = buf.readUInt32LE(8);
  if (version > FILE_VERSION) {
    throw new SpladeError(`${path} was written by a newer version (file version ${version}; this one reads ${FILE_VERSION})`, ErrorCode.unsupported);
  }
  if (crc32(buf.subarray(HEADER_BYTES)) !== buf.readUInt32LE(28)) throw corrupt(path, 'checksum mismatch');
  return buf;
}

export function readSegmentDocs(path: string): SegmentDocs {
  const buf = readChecked(path, VEC_MAGIC);
  const docs = buf.readUInt32LE(12);
  const postings = buf.readDoubleLE(16);
  const idBytes = buf.readUInt32LE(24);
  if (!Number.isInteger(postings) || HEADER_BYTES + 4 * docs + 8 * postings + idBytes !== buf.length) throw corrupt(path, 'sizes do not add up');
  // A fresh, aligned copy of the numeric sections (the file buffer's offset need not be 4-aligned).
  const nums = new Uint32Array(docs + 2 * postings);
  new Uint8Array(nums.buffer).set(buf.subarray(HEADER_BYTES, HEADER_BYTES + nums.byteLength));
  const lengths = nums.subarray(0, docs);
  const indices = nums.subarray(docs, docs + postings);
  const values = new Float32Array(nums.buffer, 4 * (docs + postings), postings);
  let ids: unknown;
  try {
    ids = JSON.parse(buf.toString('utf8', HEADER_BYTES + nums.byteLength));
  } catch {
    throw corrupt(path, 'ids are not JSON');
  }
  if (!Array.isArray(ids) || ids.length !== docs || ids.some((s) => typeof s !== 'string')) throw corrupt(path, 'ids do not match the documents');
  let sum = 0;
  for (let i = 0; i < docs; i++) sum += lengths[i];
  if (sum !== postings) throw corrupt(path, 'lengths do not add up to the postings');
  return { ids: ids as string[], lengths, indices, values };
}

/**
 * A segment's ids and lengths without holding its postings: the file is read in chunks for its
 * checksum, keeping only those two sections.
 */
export function readSegmentMeta(path: string): { ids: string[]; lengths: Uint32Array } {
  return scanSegmentDocs(path, true) as { ids: string[]; lengths: Uint32Array };
}

/** Checks a segment's .vec (checksum, sizes) a chunk at a time, keeping nothing: what a writer's open does. */
export function checkSegmentDocs(path: string): void {
  scanSegmentDocs(path, false);
}

function scanSegmentDocs(path: string, keep: boolean): { ids: string[]; lengths: Uint32Array } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SpladeError(`Cannot read ${path}: ${(err as Error).message}`, code === 'ENOENT' ? ErrorCode.corruptFile : ErrorCode.io, { cause: err });
  }
  try {
    const head = Buffer.alloc(HEADER_BYTES);
    if (readSync(fd, head, 0, HEADER_BYTES, 0) !== HEADER_BYTES || head.toString('latin1', 0, 8) !== VEC_MAGIC) throw corrupt(path, 'not a live index file');
    const version = head.readUInt32LE(8);
    if (version > FILE_VERSION) {
      throw new SpladeError(`${path} was written by a newer version (file version ${version}; this one reads ${FILE_VERSION})`, ErrorCode.unsupported);
    }
    const docs = head.readUInt32LE(12);
    const postings = head.readDoubleLE(16);
    const idBytes = head.readUInt32LE(24);
    if (!Number.isInteger(postings)) throw corrupt(path, 'sizes do not add up');
    const lengths = new Uint32Array(keep ? docs : 0);
    const lengthBytes = new Uint8Array(lengths.buffer);
    const ids = Buffer.alloc(keep ? idBytes : 0);
    let sum = 0;
    const idsAt = 4 * docs + 8 * postings;
    const total = idsAt + idBytes;
    const chunk = Buffer.alloc(1 << 20);
    let crc = 0;
    for (let at = 0; at < total;) {
      const n = Math.min(chunk.length, total - at);  // whole chunks: 4-byte lengths never split
      for (let got = 0; got < n;) {
        const r = readSync(fd, chunk, got, n - got, HEADER_BYTES + at + got);
        if (r <= 0) throw corrupt(path, 'truncated');
        got += r;
      }
      const part = chunk.subarray(0, n);
      crc = crc32(part, crc);
      // keep the parts of this chunk that fall in the lengths and ids sections
      if (at < 4 * docs) {
        const l = part.subarray(0, Math.min(n, 4 * docs - at));
        for (let i = 0; i < l.length; i += 4) sum += l.readUInt32LE(i);
        if (keep) lengthBytes.set(l, at);
      }
      if (keep && at + n > idsAt) {
        const from = Math.max(0, idsAt - at);
        ids.set(part.subarray(from), at + from - idsAt);
      }
      at += n;
    }
    if (readSync(fd, chunk, 0, 1, HEADER_BYTES + total) !== 0) throw corrupt(path, 'sizes do not add up');
    if (crc !== head.readUInt32LE(28)) throw corrupt(path, 'checksum mismatch');
    if (sum !== postings) throw corrupt(path, 'lengths do not add up to the postings');
    if (!keep) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(ids.toString('utf8'));
    } catch {
      throw corrupt(path, 'ids are not JSON');
    }
    if (!Array.isArray(parsed) || parsed.length !== docs || parsed.some((x) => typeof x !== 'string')) throw corrupt(path, 'ids do not match the documents');
    return { ids: parsed as string[], lengths };
  } finally {
    closeSync(fd);
  }
}

/** A deletion bitmap: bit d % 8 of byte d / 8 set means document d is deleted. */
export function writeDeletions(path: string, docs: number, deleted: Uint8Array, count: number): void {
  writeFileAtomicSync(path, [header(DEL_MAGIC, docs, count, 0, crc32(deleted)), deleted]);
}

export function readDeletions(path: string, docs: number): { bits: Uint8Array; count: number } {
  const buf = readChecked(path, DEL_MAGIC);
  const bytesNeeded = (docs + 7) >> 3;
  if (buf.readUInt32LE(12) !== docs || buf.length !== HEADER_BYTES + bytesNeeded) throw corrupt(path, 'bitmap size does not match the segment');
  const bits = new Uint8Array(bytesNeeded);
  bits.set(buf.subarray(HEADER_BYTES));
  const count = buf.readDoubleLE(16);
  if (countBits(bits) !== count) throw corrupt(path, 'deleted count does not match the bitmap');
  return { bits, count };
}

export function countBits(bits: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    let b = bits[i];
    while (b) {
      b &= b - 1;
      n++;
    }
  }
  return n;
}

export const isDeleted = (bits: Uint8Array, d: number) => ((bits[d >> 3] >> (d & 7)) & 1) === 1;
export const setDeleted = (bits: Uint8Array, d: number) => {
  bits[d >> 3] |= 1 << (d & 7);
};
