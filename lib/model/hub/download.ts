/*
 * One file of a commit into blobs/{etag}, resumable and checked. Ours rather than
 * @huggingface/hub's downloadFile: its Blob streams a Range request without showing the answer's
 * status, so a server that ignores the Range (200 with the whole file) or resumes at the wrong
 * offset would splice wrong bytes in unseen, and it neither resumes an .incomplete file nor checks
 * checksums. Here a blob only ever appears under its final name complete: written to
 * blobs/{etag}.incomplete, fsynced, checked against its size and checksum (the sha256 of an LFS
 * file, the git blob id of any other), then renamed.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

import { ErrorCode, SpladeError } from '../../errors.js';
import { discard, READ_TIMEOUT_S, RetryableError, type HubClient, type HubFile } from './client.js';

export interface DownloadProgress {
  file: string;
  /** Bytes of this file on disk so far (a resumed download starts at the size already there). */
  received: number;
  total?: number;
}

export type Reporter = { update(p: DownloadProgress): void; end(file: string): void };

/** Two callers in this process that want the same blob share one download. */
const inFlight = new Map<string, Promise<void>>();

/** Downloads `info` (at `commit`) into `blob` unless another call in this process already is. */
export function downloadBlob(hub: HubClient, commit: string, info: HubFile, blob: string, reporter: Reporter): Promise<void> {
  let p = inFlight.get(blob);
  if (p === undefined) {
    p = download(hub, commit, info, blob, reporter).finally(() => inFlight.delete(blob));
    inFlight.set(blob, p);
  }
  return p;
}

async function download(hub: HubClient, commit: string, info: HubFile, blob: string, reporter: Reporter): Promise<void> {
  const tmp = `${blob}.incomplete`;
  await fsp.mkdir(path.dirname(blob), { recursive: true });
  let resumed = false;
  for (let round = 0; ; round++) {
    const result = await hub.retrying(() => transfer(hub, hub.resolveUrl(commit, info.file), info, tmp, reporter));
    resumed ||= result.resumed;
    const size = (await fileSize(tmp)) ?? 0;
    const want = info.sha256 ?? info.gitSha1;
    const bad =
      size !== info.size
        ? `${size} bytes where the Hub announced ${info.size}`
        : want !== undefined && result.digest !== want
          ? `checksum ${result.digest} where the Hub announced ${want}`
          : undefined;
    if (bad === undefined) break;
    await fsp.rm(tmp, { force: true });
    // A partial file left by someone else may hold wrong bytes: one fresh try from zero.
    if (resumed && round === 0) continue;
    throw new SpladeError(`Download of ${info.file} of ${hub.repoId} is corrupt (${bad}); it was deleted, try again`, ErrorCode.corruptFile);
  }
  await fsp.rename(tmp, blob);
  reporter.end(info.file);
}

async function fileSize(p: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(p)).size;
  } catch {
    return undefined;
  }
}

/** The hash the Hub's blob id is: sha256 of the contents (LFS), or git's sha1 of "blob {size}\0" + contents. */
function contentHash(info: HubFile): Hash {
  if (info.sha256 !== undefined || info.gitSha1 === undefined) return createHash('sha256');
  return createHash('sha1').update(`blob ${info.size}\0`);
}

async function hashFile(file: string, hash: Hash, length: number): Promise<void> {
  if (length === 0) return;
  for await (const chunk of createReadStream(file, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
}

/** Aborts a request when its answer, or any later chunk of it, takes longer than `seconds`. */
function watchdog(seconds: number): { signal: AbortSignal; kick(): void; stop(): void } {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const kick = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(new Error(`no data for ${seconds} s`)), seconds * 1000);
    timer.unref();
  };
  kick();
  return { signal: ctl.signal, kick, stop: () => clearTimeout(timer) };
}

/** One GET into `tmp`, resuming from its current size. Network failures are retryable. */
async function transfer(hub: HubClient, url: URL, info: HubFile, tmp: string, reporter: Reporter): Promise<{ digest: string; resumed: boolean }> {
  const { file } = info;
  let start = (await fileSize(tmp)) ?? 0;
  if (start > info.size) start = 0;
  const hash = contentHash(info);
  if (start === info.size && start > 0) {
    // Complete but never renamed (a crash between fsync and rename): just check it.
    await hashFile(tmp, hash, start);
    return { digest: hash.digest('hex'), resumed: true };
  }
  const dog = watchdog(READ_TIMEOUT_S);
  try {
    const res = await hub.fetch(url, { headers: start > 0 ? { range: `bytes=${start}-` } : {}, signal: dog.signal });
    if (res.status === 416) {
      await discard(res);
      await fsp.rm(tmp, { force: true });
      throw new RetryableError(`the server refused to resume ${file} (HTTP 416)`);
    }
    if (res.status === 206) {
      const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (m === null || Number(m[1]) !== start) {
        await discard(res);
        await fsp.rm(tmp, { force: true });
        throw new RetryableError(`the server resumed ${file} at the wrong offset (${res.headers.get('content-range')})`);
      }
    } else {
      start = 0; // a 200 answers a Range with the whole file
    }
    const resumed = start > 0;
    if (resumed) await hashFile(tmp, hash, start);
    const length = res.headers.get('content-length');
    const expected = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    const fh = await fsp.open(tmp, resumed ? 'r+' : 'w');
    let received = start;
    try {
      if (resumed) await fh.truncate(start);
      reporter.update({ file, received, total: info.size });
      dog.kick(); // hashing a resumed part may have taken a while
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          dog.kick();
          hash.update(chunk);
          await fh.write(chunk, 0, chunk.length, received);
          received += chunk.length;
          reporter.update({ file, received, total: info.size });
        }
      } catch (err) {
        throw new RetryableError(`the connection broke while downloading ${file} at byte ${received}: ${(err as Error).message}`, { cause: err });
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (expected !== undefined && received - start !== expected) {
      throw new RetryableError(`the connection ended after ${received} bytes of ${file}`);
    }
    return { digest: hash.digest('hex'), resumed };
  } finally {
    dog.stop();
  }
}
