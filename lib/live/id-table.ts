// A segment's id table, `sK.ids`: every document's id with a 64-bit hash of it, sorted by hash, so
// that the writer finds an id's document (to delete or replace it) with a few positional reads and
// holds no per-document state: what it keeps of a table is one sample a block (IdTableIndex, 24
// bytes per 128 documents). Written beside the segment's .vec and .idx (flush: from the buffered
// documents; merge: the sources' tables merged in hash order, streamed, documents renumbered),
// atomically, and never changed.
//
// Layout (little-endian):
//   header   32 B: "SPLIDS01", version u32, docs u32, index offset f64, index CRC-32 u32, 0 u32
//   blocks   of BLOCK entries (the last one shorter): hashes (hi u32, lo u32) x n, then entries
//            (doc u32, postings u32, id bytes u32) x n, then the ids' UTF-8 bytes, in entry order
//   index    per block: first hash (hi u32, lo u32), offset f64, hashes CRC-32 u32, rest CRC-32 u32
// Entries are ordered by (hash, doc). A hash names candidates only: a match is confirmed by its id.
import { closeSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

import { ErrorCode, SpladeError } from '../errors.js';
import { writeFileAtomicSync } from '../data/atomic.js';

const MAGIC = 'SPLIDS01';
const VERSION = 1;
const HEADER_BYTES = 32;
/** Entries a block: a lookup reads one block's hashes (1 KiB), then its entries and ids. */
export const ID_BLOCK = 128;
const INDEX_ENTRY = 24;
export const INDEX_WORDS = INDEX_ENTRY / 4;
const ENTRY = 12;

export const idTableFile = (name: string) => `${name}.ids`;

/** An id's 64-bit hash as two 32-bit halves. */
export interface IdHash { hi: number; lo: number }

// Two independent 32-bit hashes of the UTF-16 code units (FNV-1a, then murmur3's finaliser), fixed:
// they are on disk. Not cryptographic; collisions cost a comparison of the ids, never a wrong match.
function defaultHash(id: string): IdHash {
  let a = 0x811c9dc5, b = 0x9747b28c;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return { hi: fmix(a ^ id.length) >>> 0, lo: fmix(b) >>> 0 };
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

// Tests only: SPLADE_TEST_ID_HASH=collide maps every id to one of four hashes (so lookups meet long
// runs of colliding entries across blocks). An environment variable, so the worker threads (started
// after it is set) write their tables with the same hash.
const TEST_HASH_ENV = 'SPLADE_TEST_ID_HASH';
const collidingHash = (id: string): IdHash => ({ hi: 0, lo: defaultHash(id).lo & 3 });
let hashFn: (id: string) => IdHash = process.env[TEST_HASH_ENV] === 'collide' ? collidingHash : defaultHash;
/** The hash of an id (the one every table is written with). */
export const idHash = (id: string): IdHash => hashFn(id);
/**
 * Tests only: 'collide' makes every id hash to one of four values, in this thread and in worker
 * threads started afterwards; undefined restores the real hash. Tables are only read correctly
 * with the hash they were written with.
 */
export function setIdHashForTests(kind: 'collide' | undefined): void {
  if (kind) process.env[TEST_HASH_ENV] = kind;
  else delete process.env[TEST_HASH_ENV];
  hashFn = kind ? collidingHash : defaultHash;
}

/** -1, 0, 1 as (aHi, aLo) is below, equal to, above (bHi, bLo). */
export const compareHash = (aHi: number, aLo: number, bHi: number, bLo: number) =>
  aHi !== bHi ? (aHi < bHi ? -1 : 1) : aLo !== bLo ? (aLo < bLo ? -1 : 1) : 0;

function corrupt(path: string, what: string): SpladeError {
  return new SpladeError(`${path} is damaged: ${what}`, ErrorCode.corruptFile);
}

/** The first i with hashes (pairs hi, lo) at i not below (hi, lo): hashes.length / 2 when none. */
export function lowerBound(hashes: Uint32Array, hi: number, lo: number): number {
  let a = 0, z = hashes.length >> 1;
  while (a < z) {
    const m = (a + z) >> 1;
    if (compareHash(hashes[2 * m], hashes[2 * m + 1], hi, lo) < 0) a = m + 1;
    else z = m;
  }
  return a;
}

/** One table entry, in hash order. */
export interface IdEntry { hi: number; lo: number; doc: number; postings: number; id: Buffer }

/**
 * Writes a table from entries given in (hash, doc) order (a generator: a merge streams them), one
 * block at a time; docs is their count.
 */
export function writeIdTable(path: string, docs: number, entries: Iterable<IdEntry>): void {
  const blocks = Math.ceil(docs / ID_BLOCK);
  const index = Buffer.alloc(blocks * INDEX_ENTRY);
  let offset = HEADER_BYTES, written = 0;
  function* body(): Generator<Uint8Array> {
    yield new Uint8Array(HEADER_BYTES);  // the header, written last
    let block: IdEntry[] = [];
    const emit = function* (): Generator<Uint8Array> {
      const b = written / ID_BLOCK;
      const n = block.length;
      const hashes = Buffer.alloc(8 * n), meta = Buffer.alloc(ENTRY * n);
      block.forEach((e, i) => {
        hashes.writeUInt32LE(e.hi, 8 * i);
        hashes.writeUInt32LE(e.lo, 8 * i + 4);
        meta.writeUInt32LE(e.doc, ENTRY * i);
        meta.writeUInt32LE(e.postings, ENTRY * i + 4);
        meta.writeUInt32LE(e.id.length, ENTRY * i + 8);
      });
      const ids = Buffer.concat(block.map((e) => e.id));
      index.writeUInt32LE(block[0].hi, INDEX_ENTRY * b);
      index.writeUInt32LE(block[0].lo, INDEX_ENTRY * b + 4);
      index.writeDoubleLE(offset, INDEX_ENTRY * b + 8);
      index.writeUInt32LE(crc32(hashes), INDEX_ENTRY * b + 16);
      index.writeUInt32LE(crc32(ids, crc32(meta)), INDEX_ENTRY * b + 20);
      offset += hashes.length + meta.length + ids.length;
      written += n;
      block = [];
      yield hashes;
      yield meta;
      yield ids;
    };
    let prev: IdEntry | undefined;
    for (const e of entries) {
      if (prev && (compareHash(prev.hi, prev.lo, e.hi, e.lo) || prev.doc - e.doc) > 0) {
        throw new SpladeError(`${path}: id table entries out of order`, ErrorCode.internal);
      }
      prev = e;
      block.push(e);
      if (block.length === ID_BLOCK) yield* emit();
    }
    if (block.length > 0) yield* emit();
    if (written !== docs) throw new SpladeError(`${path}: ${written} ids written, ${docs} expected`, ErrorCode.internal);
    yield index;
  }
  writeFileAtomicSync(path, body(), () => {
    const h = Buffer.alloc(HEADER_BYTES);
    h.write(MAGIC, 0, 'latin1');
    h.writeUInt32LE(VERSION, 8);
    h.writeUInt32LE(docs, 12);
    h.writeDoubleLE(offset, 16);
    h.writeUInt32LE(crc32(index), 24);
    return h;
  });
}

/** A table for documents given in doc order (a flush): sorted here, within the flush's memory. */
export function writeIdTableOf(path: string, ids: string[], lengths: Uint32Array): void {
  const entries = ids.map((id, doc) => ({ ...idHash(id), doc, postings: lengths[doc], id: Buffer.from(id, 'utf8') }));
  entries.sort((x, y) => compareHash(x.hi, x.lo, y.hi, y.lo) || x.doc - y.doc);
  writeIdTable(path, ids.length, entries);
}

/**
 * An open id table: its header and block index in memory (24 bytes per block of 128 documents),
 * blocks read on demand with positional reads, each checked against its CRC-32.
 */
export class IdTable {
  readonly docs: number;
  readonly blocks: number;
  private readonly index: Buffer;
  /**
   * The block index as words (Buffer.alloc is never pooled: offset 0, aligned): block b's first
   * hash is words[INDEX_WORDS * b] (hi), words[INDEX_WORDS * b + 1] (lo).
   */
  readonly words: Uint32Array;
  private readonly end: number;
  private fd: number | undefined;

  /** Opens and checks the table (header, index; with verifyAll, every block's checksums too). */
  constructor(readonly path: string, verifyAll: boolean) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SpladeError(`Cannot read ${path}: ${(err as Error).message}`, code === 'ENOENT' ? ErrorCode.corruptFile : ErrorCode.io, { cause: err });
    }
    try {
      const h = this.read(0, HEADER_BYTES);
      if (h.toString('latin1', 0, 8) !== MAGIC) throw corrupt(path, 'not an id table');
      if (h.readUInt32LE(8) > VERSION) {
        throw new SpladeError(`${path} was written by a newer version (file version ${h.readUInt32LE(8)}; this one reads ${VERSION})`, ErrorCode.unsupported);
      }
      this.docs = h.readUInt32LE(12);
      this.end = h.readDoubleLE(16);
      this.blocks = Math.ceil(this.docs / ID_BLOCK);
      if (!Number.isInteger(this.end) || this.end < HEADER_BYTES) throw corrupt(path, 'bad header');
      this.index = this.read(this.end, this.blocks * INDEX_ENTRY);
      if (crc32(this.index) !== h.readUInt32LE(24)) throw corrupt(path, 'index checksum mismatch');
      this.words = new Uint32Array(this.index.buffer, this.index.byteOffset, this.index.length >> 2);
      if (readSync(this.fd, Buffer.alloc(1), 0, 1, this.end + this.index.length) !== 0) throw corrupt(path, 'sizes do not add up');
      for (let b = 0; b < this.blocks; b++) {
        const next = b + 1 < this.blocks ? this.blockOffset(b + 1) : this.end;
        if (!(this.blockOffset(b) >= HEADER_BYTES && next - this.blockOffset(b) >= (8 + ENTRY) * this.blockSize(b))) throw corrupt(path, 'bad block index');
        if (verifyAll) this.block(b);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  blockSize(b: number): number {
    return Math.min(ID_BLOCK, this.docs - b * ID_BLOCK);
  }

  /** Block b's first hash compared with (hi, lo). */
  compareFirst(b: number, hi: number, lo: number): number {
    const w = this.words, at = (INDEX_ENTRY >> 2) * b;
    return compareHash(w[at], w[at + 1], hi, lo);
  }

  /** The hashes of block b (hi, lo pairs), checked. */
  hashes(b: number): Uint32Array {
    const n = this.blockSize(b);
    const buf = this.read(this.blockOffset(b), 8 * n);
    if (crc32(buf) !== this.index.readUInt32LE(INDEX_ENTRY * b + 16)) throw corrupt(this.path, `block ${b} checksum mismatch`);
    return new Uint32Array(buf.buffer, buf.byteOffset, 2 * n);  // little-endian, as every host this package builds for
  }

  /** Every entry of block b, checked (hashes ascending, documents in range). */
  block(b: number): IdEntry[] {
    const hashes = this.hashes(b);
    const n = this.blockSize(b);
    const at = this.blockOffset(b) + 8 * n;
    const next = b + 1 < this.blocks ? this.blockOffset(b + 1) : this.end;
    const rest = this.read(at, next - at);
    if (crc32(rest) !== this.index.readUInt32LE(INDEX_ENTRY * b + 20)) throw corrupt(this.path, `block ${b} checksum mismatch`);
    const out: IdEntry[] = [];
    let idAt = ENTRY * n;
    for (let i = 0; i < n; i++) {
      const doc = rest.readUInt32LE(ENTRY * i), postings = rest.readUInt32LE(ENTRY * i + 4), len = rest.readUInt32LE(ENTRY * i + 8);
      if (doc >= this.docs || idAt + len > rest.length) throw corrupt(this.path, `block ${b}: entries out of range`);
      const e = { hi: hashes[2 * i], lo: hashes[2 * i + 1], doc, postings, id: rest.subarray(idAt, idAt + len) };
      if (i === 0 && (e.hi !== this.index.readUInt32LE(INDEX_ENTRY * b) || e.lo !== this.index.readUInt32LE(INDEX_ENTRY * b + 4))) {
        throw corrupt(this.path, `block ${b} does not match its index`);
      }
      if (i > 0 && (compareHash(out[i - 1].hi, out[i - 1].lo, e.hi, e.lo) || out[i - 1].doc - e.doc) >= 0) throw corrupt(this.path, `block ${b}: entries out of order`);
      out.push(e);
      idAt += len;
    }
    if (idAt !== rest.length) throw corrupt(this.path, `block ${b}: sizes do not add up`);
    return out;
  }

  /** All entries in hash order, a block at a time (what a merge streams). */
  *entries(): Generator<IdEntry> {
    for (let b = 0; b < this.blocks; b++) yield* this.block(b);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** Bytes held in memory for this table (its block index). */
  get memoryBytes(): number {
    return this.index.length;
  }

  private blockOffset(b: number): number {
    return this.index.readDoubleLE(INDEX_ENTRY * b + 8);
  }

  private read(at: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    for (let off = 0; off < length;) {
      const n = readSync(this.fd!, buf, off, length - off, at + off);
      if (n <= 0) throw corrupt(this.path, 'truncated');
      off += n;
    }
    return buf;
  }
}
