/*
 * Streaming line reader for the data files (corpora, queries, qrels, runs): plain or gzipped,
 * detected by the gzip magic bytes (1f 8b), so `corpus.jsonl.gz` and a gzipped file without the
 * suffix both work. Lines come one at a time through an async iterator (readline over a zlib
 * stream), so an 8.8-million-passage collection never has to fit in memory.
 *
 * Contract: every line comes with its 1-based line number; parse errors elsewhere in lib/data use
 * `corruptLine(file, lineNo, what)` so that the message always names the file and the line.
 * A truncated or corrupt gzip stream, or an unreadable file, is a SpladeError as well.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { ErrorCode, SpladeError } from '../errors.js';

export interface Line {
  /** 1-based line number in the (decompressed) file. */
  lineNo: number;
  /** The line without its terminator (\n or \r\n). */
  text: string;
}

/** True when the file starts with the gzip magic bytes. */
export async function isGzipped(path: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw ioError(path, err);
  }
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

function ioError(path: string, err: unknown): SpladeError {
  const msg = err instanceof Error ? err.message : String(err);
  return new SpladeError(`Cannot read ${path}: ${msg}`, ErrorCode.io, { cause: err });
}

/** Every line of a plain or gzipped UTF-8 text file, streamed. */
export async function* readLines(path: string): AsyncGenerator<Line> {
  const gz = await isGzipped(path);
  if (!gz && path.endsWith('.gz')) {
    throw new SpladeError(`${path}: the name ends in .gz but the file is not gzip data (no 1f 8b magic bytes)`, ErrorCode.corruptFile);
  }
  const file = createReadStream(path);
  let input: Readable = file;
  let failure: SpladeError | undefined;
  let lineNo = 0;
  if (gz) {
    const gunzip = createGunzip();
    // Errors on either stream end the iteration below with a SpladeError naming the file.
    file.on('error', (err) => {
      failure ??= ioError(path, err);
      gunzip.destroy(failure);
    });
    gunzip.on('error', (err) => {
      failure ??= new SpladeError(`${path}: corrupt or truncated gzip data after line ${lineNo} (${err.message})`, ErrorCode.corruptFile, { cause: err });
    });
    input = file.pipe(gunzip);
  } else {
    file.on('error', (err) => {
      failure ??= ioError(path, err);
    });
  }
  const rl = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const text of rl) {
      lineNo++;
      yield { lineNo, text };
    }
  } catch (err) {
    throw failure ?? (err instanceof SpladeError ? err : ioError(path, err));
  } finally {
    rl.close();
    file.destroy();
    if (input !== file) input.destroy();
  }
  if (failure) throw failure;
}

/** The error for a malformed line: names the file, the line number and what is wrong. */
export function corruptLine(path: string, lineNo: number, what: string, line?: string): SpladeError {
  const shown = line === undefined ? '' : `: ${JSON.stringify(line.length > 80 ? line.slice(0, 80) + '…' : line)}`;
  return new SpladeError(`${path}:${lineNo}: ${what}${shown}`, ErrorCode.corruptFile);
}
