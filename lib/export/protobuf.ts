// Protocol Buffers wire format, just enough for CIFF: base-128 varints (uint/int32/int64 as proto
// encodes them, no zigzag), 64-bit doubles, length-delimited strings and sub-messages, and streams
// of varint-length-prefixed messages (what protobuf's writeDelimitedTo / parseDelimitedFrom do).
//
// Writer: appends into one growable byte buffer; a sub-message is written in place and its length
// prefix inserted afterwards (one memmove), so nesting costs no scratch buffers. Proto3 defaults are
// the caller's business: the field helpers write what they are given (CIFF's writer skips zeros).
// Reader: decodes one message held in memory; every failure is a SpladeError with code
// ERR_SPLADE_CORRUPT_FILE that names the file and the absolute byte offset where decoding stopped.
// Numbers are JavaScript numbers: varints above 2^53 - 1 are refused as corrupt rather than rounded.
import { open, type FileHandle } from 'node:fs/promises';

import { ErrorCode, SpladeError } from '../errors.js';

export const WireType = { varint: 0, i64: 1, len: 2, sgroup: 3, egroup: 4, i32: 5 } as const;

const TWO_32 = 4294967296;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes the varint encoding of a non-negative integer (< 2^53) takes. */
export function varintSize(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 1 << 16) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  /** A copy of the bytes written so far; empties the writer (its buffer is reused). */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** A non-negative integer below 2^53 as a base-128 varint. */
  uint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new SpladeError(`varint value must be a non-negative safe integer, got ${value}`, ErrorCode.internal);
    }
    this.reserve(8);
    while (value >= 128) {
      this.buf[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
    return this;
  }

  /** Any int32/int64 value: negatives take ten bytes (two's complement over 64 bits), as proto does. */
  int(value: number): this {
    if (value >= 0) return this.uint(value);
    if (!Number.isSafeInteger(value)) {
      throw new SpladeError(`varint value must be a safe integer, got ${value}`, ErrorCode.internal);
    }
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v >= 128n) {
      this.buf[this.pos++] = Number(v & 127n) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.uint(field * 8 + wireType);
  }

  /** int32 / int64 field. */
  intField(field: number, value: number): this {
    return this.tag(field, WireType.varint).int(value);
  }

  doubleField(field: number, value: number): this {
    this.tag(field, WireType.i64);
    this.reserve(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
    return this;
  }

  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, WireType.len).uint(bytes.length);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  stringField(field: number, value: string): this {
    return this.bytesField(field, encoder.encode(value));
  }

  /** A length-delimited sub-message: `body` writes its fields into this writer. */
  messageField(field: number, body: (w: this) => void): this {
    this.tag(field, WireType.len);
    return this.delimited(body);
  }

  /** A varint length prefix followed by what `body` writes: one message of a delimited stream. */
  delimited(body: (w: this) => void): this {
    const start = this.pos;
    body(this);
    const size = this.pos - start;
    const prefix = varintSize(size);
    this.reserve(prefix);
    this.buf.copyWithin(start + prefix, start, this.pos);
    const end = this.pos + prefix;
    this.pos = start;
    this.uint(size);
    this.pos = end;
    return this;
  }
}

/** Where a message came from, for error messages: the file, and the file offset of byte 0. */
export interface ProtoSource {
  file: string;
  offset: number;
  /** What the file is, e.g. 'CIFF file'. */
  kind: string;
}

export function corrupt(src: { file: string; kind: string }, offset: number, what: string): never {
  throw new SpladeError(`${src.file}: corrupt ${src.kind} at byte ${offset}: ${what}`, ErrorCode.corruptFile);
}

export class ProtoReader {
  pos = 0;
  /** End of the message being read: the whole buffer, or a sub-message entered with enter(). */
  private limit: number;
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly source: ProtoSource,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.limit = bytes.length;
  }

  get done(): boolean {
    return this.pos >= this.limit;
  }

  /** Absolute file offset of the current position. */
  get offset(): number {
    return this.source.offset + this.pos;
  }

  fail(what: string, at = this.pos): never {
    corrupt(this.source, this.source.offset + at, what);
  }

  /** Low and high 32 bits of a varint (up to ten bytes). */
  private varint64(): [number, number] {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.limit) this.fail('varint runs past the end of the message', start);
      const b = this.bytes[this.pos++];
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else hi |= bits << (7 * i - 32);
      if ((b & 0x80) === 0) {
        if (i === 9 && b > 1) this.fail('varint overflows 64 bits', start);
        return [lo >>> 0, hi >>> 0];
      }
    }
    this.fail('varint longer than ten bytes', start);
  }

  /** An unsigned varint that must fit in 2^53 - 1 (lengths, tags, uint64 values). */
  uint(): number {
    // Fast path: one-byte varints are most tags and small values.
    if (this.pos < this.limit && this.bytes[this.pos] < 0x80) return this.bytes[this.pos++];
    const start = this.pos;
    const [lo, hi] = this.varint64();
    if (hi >= 0x200000) this.fail('varint value above 2^53 - 1', start);
    return hi * TWO_32 + lo;
  }

  /** int32: the low 32 bits, two's complement (proto writes negatives as ten-byte varints). */
  int32(): number {
    if (this.pos < this.limit && this.bytes[this.pos] < 0x80) return this.bytes[this.pos++];
    return this.varint64()[0] | 0;
  }

  /** int64, which must be within ±(2^53 - 1). */
  int64(): number {
    const start = this.pos;
    const [lo, hi] = this.varint64();
    const value = (hi | 0) * TWO_32 + lo;
    if (!Number.isSafeInteger(value)) this.fail('int64 value outside ±(2^53 - 1)', start);
    return value;
  }

  double(): number {
    if (this.pos + 8 > this.limit) this.fail('double runs past the end of the message');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited payload (a view into the message, not a copy). */
  bytesValue(): Uint8Array {
    const start = this.pos;
    const n = this.uint();
    if (n > this.limit - this.pos) {
      this.fail(`length-delimited field of ${n} bytes runs past the end of the message`, start);
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const start = this.pos;
    const bytes = this.bytesValue();
    try {
      return decoder.decode(bytes);
    } catch {
      this.fail('string is not valid UTF-8', start);
    }
  }

  /**
   * Enters a length-delimited sub-message in place (no new reader): reads its length and narrows
   * the limit to it. Read its fields until `done`, then call leave() with the returned value.
   */
  enter(): number {
    const start = this.pos;
    const n = this.uint();
    if (n > this.limit - this.pos) this.fail(`sub-message of ${n} bytes runs past the end of its parent`, start);
    const outer = this.limit;
    this.limit = this.pos + n;
    return outer;
  }

  leave(outer: number): void {
    this.pos = this.limit;
    this.limit = outer;
  }

  /** Next field key. */
  tag(): { field: number; wireType: number } {
    const start = this.pos;
    const key = this.uint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) this.fail('field number 0', start);
    if (wireType > 5) this.fail(`invalid wire type ${wireType}`, start);
    if (wireType === WireType.sgroup || wireType === WireType.egroup) this.fail('groups are not supported', start);
    return { field, wireType };
  }

  /** Skips the value of an unknown field. */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.varint:
        this.varint64();
        return;
      case WireType.i64:
        if (this.pos + 8 > this.limit) this.fail('fixed64 runs past the end of the message');
        this.pos += 8;
        return;
      case WireType.len:
        this.bytesValue();
        return;
      case WireType.i32:
        if (this.pos + 4 > this.limit) this.fail('fixed32 runs past the end of the message');
        this.pos += 4;
        return;
      default:
        this.fail(`cannot skip wire type ${wireType}`);
    }
  }

  /** Fails unless a known field arrived with the wire type its schema gives it. */
  expect(field: number, got: number, want: number, at: number): void {
    if (got !== want) this.fail(`field ${field} has wire type ${got}, expected ${want}`, at);
  }
}

/**
 * Reads a file of varint-length-prefixed messages one at a time, holding one message (plus a read
 * chunk) in memory. `next()` returns the message and the file offset of its length prefix; the bytes
 * are a view that the following call overwrites.
 */
export class DelimitedFileReader {
  private buf = new Uint8Array(1 << 20);
  private start = 0; // file offset of buf[0]
  private pos = 0; // next unread byte in buf
  private end = 0; // bytes of buf holding file data
  private eof = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly file: string,
    readonly kind: string,
    readonly size: number,
  ) {}

  static async open(file: string, kind: string): Promise<DelimitedFileReader> {
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      throw new SpladeError(`Cannot open ${file}: ${(err as Error).message}`, ErrorCode.io, { cause: err });
    }
    const { size } = await fh.stat();
    return new DelimitedFileReader(fh, file, kind, size);
  }

  /** File offset of the next unread byte. */
  get offset(): number {
    return this.start + this.pos;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Makes at least n unread bytes available unless the file ends first; returns how many are. */
  private async fill(n: number): Promise<number> {
    if (this.end - this.pos >= n || this.eof) return this.end - this.pos;
    if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
      this.start += this.pos;
      this.end -= this.pos;
      this.pos = 0;
    }
    if (n > this.buf.length) {
      const next = new Uint8Array(Math.max(n, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.end));
      this.buf = next;
    }
    while (this.end < n && !this.eof) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.fh.read(this.buf, this.end, this.buf.length - this.end, this.start + this.end));
      } catch (err) {
        throw new SpladeError(`Cannot read ${this.file}: ${(err as Error).message}`, ErrorCode.io, { cause: err });
      }
      if (bytesRead === 0) this.eof = true;
      this.end += bytesRead;
    }
    return this.end - this.pos;
  }

  async next(): Promise<{ offset: number; bytes: Uint8Array } | null> {
    const at = this.offset;
    const avail = await this.fill(10);
    if (avail === 0) return null;
    // Decode the length prefix from what is buffered (at most ten bytes).
    const head = new ProtoReader(this.buf.subarray(this.pos, this.pos + Math.min(avail, 10)), {
      file: this.file,
      kind: this.kind,
      offset: at,
    });
    let length: number;
    try {
      length = head.uint();
    } catch (err) {
      if (avail < 10) corrupt(this, at, 'file ends inside a message length prefix');
      throw err;
    }
    const bodyAt = at + head.pos;
    if (length > this.size - bodyAt) {
      corrupt(this, at, `message declares ${length} bytes but the file ends after ${this.size - bodyAt} (truncated?)`);
    }
    this.pos += head.pos;
    const got = await this.fill(length);
    if (got < length) corrupt(this, at, `message declares ${length} bytes but the file ends after ${got} (truncated?)`);
    const bytes = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return { offset: bodyAt, bytes };
  }
}
