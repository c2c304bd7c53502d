/*
 * Atomic file writes: write everything to a temporary file in the same directory, fsync it, then
 * rename it over the target. A reader (or a crash) never sees a half-written file; on failure the
 * temporary file is removed and the target is left as it was.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function writeError(path: string, err: unknown): SpladeError {
  if (err instanceof SpladeError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new SpladeError(`Cannot write ${path}: ${msg}`, ErrorCode.io, { cause: err });
}

/** Writes the chunks produced by `chunks` to `path` atomically (async, streaming: memory stays small). */
export async function writeFileAtomic(path: string, chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>): Promise<void> {
  const tmp = tempPath(path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
  } catch (err) {
    throw writeError(path, err);
  }
  try {
    let pending: string[] = [];
    let pendingLen = 0;
    const out = fh;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      await out.write(pending.join(''));
      pending = [];
      pendingLen = 0;
    };
    for await (const chunk of chunks) {
      if (typeof chunk === 'string') {
        pending.push(chunk);
        pendingLen += chunk.length;
        if (pendingLen >= 1 << 20) await flush();
      } else {
        await flush();
        await out.write(chunk);
      }
    }
    await flush();
    await out.sync();
    await out.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw writeError(path, err);
  }
}

/** Synchronous version for the `save(path): void` APIs. */
export function writeFileAtomicSync(path: string, chunks: Iterable<Uint8Array>): void {
  const tmp = tempPath(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
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
}
