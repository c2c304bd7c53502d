// Atomic file writes, the one way this package writes a file: a temporary file in the target's
// directory, fsynced, renamed over the target, then the directory fsynced so the rename survives a
// crash. Readers never see half a file; on failure the target is left as it was. Writes stream.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { ErrorCode, SpladeError, invalidArgument } from '../errors.js';

// Temporary names: `.<name>.<pid>.<12 hex digits>.tmp` beside the target, the pattern the native
// index writer uses too (native/common/temp_file.h): a leftover names its target and its writer.
function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Removes the temporaries of `path` whose writer process is gone (killed between creating and
 * renaming one); called before each write, so a crash's leftovers do not pile up. Never throws.
 */
export function removeStaleTemps(path: string): void {
  const name = basename(path);
  let entries: string[];
  try {
    entries = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(`.${name}.`)) continue;
    const m = /^\.(\d{1,9})\.[0-9a-f]{12}\.tmp$/.exec(entry.slice(name.length + 1));
    if (!m || Number(m[1]) === process.pid || processExists(Number(m[1]))) continue;
    try {
      unlinkSync(join(dirname(path), entry));
    } catch {
      // removed by someone else meanwhile, or not ours to remove
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeError(path: string, err: unknown): SpladeError {
  if (err instanceof SpladeError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new SpladeError(`Cannot write ${path}: ${msg}`, ErrorCode.io, { cause: err });
}

/** Makes a rename in `dir` durable where the platform can fsync a directory (not on Windows). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not supported: the data is synced; only the directory entry may lag
  }
}

/** Writes a file atomically, streamed and buffered. Call commit() on success, abort() on any failure. */
export class AtomicFileWriter {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private written = 0;
  private static readonly flushAt = 1 << 20;
  private static readonly encoder = new TextEncoder();

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  static async open(path: string): Promise<AtomicFileWriter> {
    if (typeof path !== 'string' || path.length === 0) invalidArgument('path', 'a non-empty file path', path);
    removeStaleTemps(path);
    const tmp = tempPath(path);
    let fh: FileHandle;
    try {
      fh = await open(tmp, 'wx');
    } catch (err) {
      throw writeError(path, err);
    }
    return new AtomicFileWriter(path, tmp, fh);
  }

  /** Bytes handed to write() so far. */
  get bytesWritten(): number {
    return this.written + this.buffered;
  }

  /** Queues bytes (kept by reference until flushed: do not reuse them) or a string (as UTF-8). */
  async write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? AtomicFileWriter.encoder.encode(data) : data;
    this.chunks.push(bytes);
    this.buffered += bytes.length;
    if (this.buffered >= AtomicFileWriter.flushAt) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    const chunks = this.chunks;
    this.chunks = [];
    const n = this.buffered;
    this.buffered = 0;
    try {
      await this.fh.writev(chunks);
    } catch (err) {
      throw writeError(this.path, err);
    }
    this.written += n;
  }

  async commit(): Promise<void> {
    try {
      await this.flush();
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.path);
    } catch (err) {
      await this.abort();
      throw writeError(this.path, err);
    }
    syncDir(dirname(this.path));
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }
}

/** Runs `body` against an atomic writer for `path`: committed if it returns, removed if it throws. */
export async function writeAtomically<T>(path: string, body: (w: AtomicFileWriter) => Promise<T>): Promise<T> {
  const w = await AtomicFileWriter.open(path);
  let result: T;
  try {
    result = await body(w);
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.commit();
  return result;
}

/** Writes the chunks produced by `chunks` to `path` atomically (async, streaming: memory stays small). */
export async function writeFileAtomic(path: string, chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): Promise<void> {
  try {
    await writeAtomically(path, async (w) => {
      for await (const chunk of chunks) await w.write(chunk);
    });
  } catch (err) {
    throw writeError(path, err);
  }
}

/**
 * Synchronous version for the `save(path): void` APIs. head, when given, is called after the chunks
 * and its bytes overwrite the start of the file (a header whose checksum covers what follows it,
 * for a body streamed from a generator: the chunks then begin with a placeholder of its size).
 */
export function writeFileAtomicSync(path: string, chunks: Iterable<Uint8Array>, head?: () => Uint8Array): void {
  removeStaleTemps(path);
  const tmp = tempPath(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
    }
    if (head) {
      const h = head();
      for (let off = 0; off < h.byteLength;) off += writeSync(fd, h, off, h.byteLength - off, off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try { closeSync(fd); } catch { /* already failing */ }
    }
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw writeError(path, err);
  }
  syncDir(dirname(path));
}

/** A text file (UTF-8), written atomically. */
export function atomicWriteText(path: string, text: string): void {
  writeFileAtomicSync(path, [Buffer.from(text, 'utf8')]);
}
