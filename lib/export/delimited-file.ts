// Reads a file of size-delimited messages (each prefixed by its length as a varint, what protobuf's
// writeDelimitedTo writes) one at a time, holding one message plus a read chunk in memory. It hands
// back raw message bytes, because a CIFF file mixes message types that only the caller can tell
// apart (@bufbuild/protobuf's sizeDelimitedDecodeStream decodes a stream of one type).
import { open, type FileHandle } from 'node:fs/promises';

import { ErrorCode, SpladeError } from '../errors.js';

/** A corrupt-file SpladeError naming the file, what it is and the absolute byte offset. */
export function corrupt(src: { file: string; kind: string }, offset: number, what: string): never {
  throw new SpladeError(`${src.file}: corrupt ${src.kind} at byte ${offset}: ${what}`, ErrorCode.corruptFile);
}

export class DelimitedFileReader {
  private buf = new Uint8Array(1 << 20);
  private start = 0; // file offset of buf[0]
  private pos = 0; // next unread byte in buf
  private end = 0; // bytes of buf holding file data
  private eof = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly peekSize: typeof import('@bufbuild/protobuf/wire').sizeDelimitedPeek,
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
    // Imported on first use, as ciff.ts imports the rest of @bufbuild/protobuf.
    const { sizeDelimitedPeek } = await import('@bufbuild/protobuf/wire');
    return new DelimitedFileReader(fh, sizeDelimitedPeek, file, kind, size);
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

  /**
   * The next message and the file offset of its body, or null at the end of the file. The bytes
   * are a view that the following call overwrites.
   */
  async next(): Promise<{ offset: number; bytes: Uint8Array } | null> {
    const at = this.offset;
    const avail = await this.fill(10);
    if (avail === 0) return null;
    let peek: ReturnType<typeof this.peekSize>;
    try {
      peek = this.peekSize(this.buf.subarray(this.pos, this.pos + Math.min(avail, 10)));
    } catch (err) {
      corrupt(this, at, `message length prefix: ${(err as Error).message}`);
    }
    if (peek.eof) corrupt(this, at, 'file ends inside a message length prefix');
    const bodyAt = at + peek.offset;
    if (peek.size > this.size - bodyAt) {
      corrupt(this, at, `message declares ${peek.size} bytes but the file ends after ${this.size - bodyAt} (truncated?)`);
    }
    this.pos += peek.offset;
    const got = await this.fill(peek.size);
    if (got < peek.size) corrupt(this, at, `message declares ${peek.size} bytes but the file ends after ${got} (truncated?)`);
    const bytes = this.buf.subarray(this.pos, this.pos + peek.size);
    this.pos += peek.size;
    return { offset: bodyAt, bytes };
  }
}
