/*
 * Hugging Face Hub model ids -> a local checkpoint directory, through the same on-disk cache that
 * Python's huggingface_hub uses, so a model fetched by either side is found by the other.
 *
 * Cache layout (root = cacheDir ?? HF_HUB_CACHE ?? (HF_HOME ?? $XDG_CACHE_HOME/huggingface
 * ?? ~/.cache/huggingface)/hub):
 *
 *   models--{org}--{name}/
 *     refs/{revision}                 the commit hash the revision (branch, tag) pointed at
 *     blobs/{etag}                    file contents, named by the Hub's ETag (sha256 for LFS files)
 *     blobs/{etag}.incomplete         a download in progress; resumed with a Range request
 *     snapshots/{commit}/{file}       relative symlink to ../../blobs/{etag} (a hard link or a copy
 *                                     where symlinks are refused)
 *     .no_exist/{commit}/{file}       empty marker: the file does not exist at that commit
 *
 * Contract: a snapshot that already holds the needed files is used without any network access.
 * A blob only ever appears under its final name complete (written to .incomplete, fsynced, checked
 * against its size and, for LFS files, its sha256, then renamed). Errors are SpladeErrors with code
 * ERR_SPLADE_IO (network, cache, HTTP status) or ERR_SPLADE_CORRUPT_FILE (a download that does not
 * match its checksum, an unreadable shard index).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { homedir } from 'node:os';
import * as path from 'node:path';

import { ErrorCode, SpladeError, invalidArgument } from '../errors.js';

export interface ResolveProgress {
  file: string;
  /** Bytes of this file on disk so far (a resumed download starts at the size already there). */
  received: number;
  total?: number;
}

export interface ResolveModelOptions {
  /** Branch, tag or commit hash; default 'main', or the '@revision' suffix of the id. */
  revision?: string;
  /** The hub cache root (the folder holding models--org--name); default as huggingface_hub. */
  cacheDir?: string;
  /** Never touch the network; default: HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Access token for private or gated models; default HF_TOKEN, then the token `huggingface-cli login` saved. */
  token?: string;
  /** Hub base URL; default HF_ENDPOINT ?? 'https://huggingface.co'. */
  endpoint?: string;
  /**
   * Fetch exactly these files (all required) instead of the default set: config.json,
   * tokenizer.json, the optional tokenizer extras, and the weights.
   */
  files?: string[];
  /** Called as bytes arrive; without it, a progress line is drawn when stderr is a terminal. */
  onProgress?: (p: ResolveProgress) => void;
}

const DEFAULT_ENDPOINT = 'https://huggingface.co';
const REQUIRED_FILES = ['config.json', 'tokenizer.json'];
const OPTIONAL_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'];
const WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';
const WEIGHTS_PT = 'pytorch_model.bin';
/** Seconds to wait for response headers, and for each chunk of a body (as huggingface_hub's defaults). */
const HEADER_TIMEOUT_S = envNumber('HF_HUB_ETAG_TIMEOUT', 10);
const READ_TIMEOUT_S = envNumber('HF_HUB_DOWNLOAD_TIMEOUT', 10);
const MAX_ATTEMPTS = 5;
const MAX_REDIRECTS = 10;

// ---------------------------------------------------------------------------------------------
// ids and paths

const COMMIT_RE = /^[0-9a-f]{40}$/;
const NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

interface HubId {
  repoId: string;
  revision?: string;
}

/** Splits 'org/name@revision' and checks the repo id as the Hub does; undefined when it is not one. */
function parseHubId(s: string): HubId | undefined {
  const at = s.indexOf('@');
  const repoId = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? undefined : s.slice(at + 1);
  if (revision !== undefined && !validRevision(revision)) return undefined;
  if (repoId.length === 0 || repoId.length > 96 || repoId.includes('--') || repoId.includes('..')) return undefined;
  const parts = repoId.split('/');
  if (parts.length > 2 || !parts.every((p) => NAME_RE.test(p))) return undefined;
  return { repoId, revision };
}

/** A revision becomes a path under refs/: refuse anything that could leave that folder. */
function validRevision(rev: string): boolean {
  return rev.length > 0 && !rev.startsWith('/') && !/[\\\0]/.test(rev) && rev.split('/').every((p) => p !== '' && p !== '.' && p !== '..');
}

/** A file name from the caller or from a shard index: a relative path that stays in the snapshot. */
function validFileName(name: string): boolean {
  return typeof name === 'string' && validRevision(name) && !/^[A-Za-z]:/.test(name);
}

/** True for 'org/name' or 'name' (optionally '@revision') that is not an existing local path. */
export function isHubId(s: string): boolean {
  if (typeof s !== 'string' || parseHubId(s) === undefined) return false;
  return !existsSync(s);
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') || p.startsWith('~\\') ? path.join(homedir(), p.slice(1)) : p;
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function envNumber(name: string, fallback: number): number {
  const v = Number(env(name));
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function envTrue(name: string): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((env(name) ?? '').toUpperCase());
}

function hfHome(): string {
  return path.resolve(expandHome(env('HF_HOME') ?? path.join(env('XDG_CACHE_HOME') ?? path.join(homedir(), '.cache'), 'huggingface')));
}

function hubCacheRoot(cacheDir: string | undefined): string {
  const root = cacheDir ?? env('HF_HUB_CACHE') ?? env('HUGGINGFACE_HUB_CACHE');
  return root !== undefined ? path.resolve(expandHome(root)) : path.join(hfHome(), 'hub');
}

async function defaultToken(): Promise<string | undefined> {
  const t = env('HF_TOKEN') ?? env('HUGGING_FACE_HUB_TOKEN');
  if (t !== undefined) return t;
  const file = env('HF_TOKEN_PATH') ?? path.join(hfHome(), 'token');
  try {
    const saved = (await fsp.readFile(expandHome(file), 'utf8')).trim();
    return saved === '' ? undefined : saved;
  } catch {
    return undefined;
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile(); // follows the snapshot symlink: a dangling one is missing
  } catch {
    return false;
  }
}

async function fileSize(p: string): Promise<number | undefined> {
  try {
    return (await fsp.stat(p)).size;
  } catch {
    return undefined;
  }
}

function ioError(message: string, cause?: unknown): SpladeError {
  return new SpladeError(message, ErrorCode.io, cause === undefined ? undefined : { cause });
}

/** Writes a small file so that readers see either the old or the new content. */
async function writeAtomic(file: string, content: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fsp.writeFile(tmp, content);
  await fsp.rename(tmp, file);
}

// ---------------------------------------------------------------------------------------------
// which files a model needs

interface Plan {
  required: string[];
  optional: string[];
  weights: boolean;
}

async function readShardIndex(indexPath: string): Promise<string[]> {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(await fsp.readFile(indexPath, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new SpladeError(`Cannot read the shard index ${indexPath}: ${(err as Error).message}`, ErrorCode.corruptFile, { cause: err });
  }
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new SpladeError(`Expected an object "weight_map" in the shard index ${indexPath}`, ErrorCode.corruptFile);
  }
  const shards = [...new Set(Object.values(weightMap as Record<string, unknown>))].sort();
  for (const s of shards) {
    if (typeof s !== 'string' || !validFileName(s)) {
      throw new SpladeError(`Shard index ${indexPath} names an unsafe shard file ${JSON.stringify(s)}`, ErrorCode.corruptFile);
    }
  }
  if (shards.length === 0) throw new SpladeError(`Shard index ${indexPath} lists no shard files`, ErrorCode.corruptFile);
  return shards as string[];
}

/** What a snapshot folder lacks of the plan ([] when it can be used as it is). */
async function missingFromSnapshot(snap: string, plan: Plan): Promise<string[]> {
  const missing: string[] = [];
  for (const f of plan.required) if (!(await isFile(path.join(snap, f)))) missing.push(f);
  if (plan.weights && !(await isFile(path.join(snap, WEIGHTS)))) {
    if (await isFile(path.join(snap, WEIGHTS_INDEX))) {
      for (const s of await readShardIndex(path.join(snap, WEIGHTS_INDEX))) {
        if (!(await isFile(path.join(snap, s)))) missing.push(s);
      }
    } else if (!(await isFile(path.join(snap, WEIGHTS_PT)))) {
      missing.push(`weights (${WEIGHTS}, ${WEIGHTS_INDEX} or ${WEIGHTS_PT})`);
    }
  }
  return missing;
}

// ---------------------------------------------------------------------------------------------
// progress

type Reporter = { update(p: ResolveProgress): void; end(file: string): void };

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function makeReporter(onProgress: ResolveModelOptions['onProgress']): Reporter {
  if (onProgress) return { update: onProgress, end() {} };
  if (!process.stderr.isTTY || envTrue('HF_HUB_DISABLE_PROGRESS_BARS')) return { update() {}, end() {} };
  let started = 0;
  let startBytes = 0;
  let lastDraw = 0;
  let current: ResolveProgress | undefined;
  const draw = (): void => {
    if (!current) return;
    const { file, received, total } = current;
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? (received - startBytes) / secs : 0;
    const pct = total ? ` (${((100 * received) / total).toFixed(1)}%)` : '';
    const line = `${file}: ${formatBytes(received)}${total ? ` / ${formatBytes(total)}` : ''}${pct} ${formatBytes(rate)}/s`;
    process.stderr.write(`\r${line.padEnd(Math.max(line.length, (process.stderr.columns ?? 80) - 1))}`);
  };
  return {
    update(p) {
      if (current?.file !== p.file) {
        started = Date.now();
        startBytes = p.received;
      }
      current = p;
      const now = Date.now();
      if (now - lastDraw >= 100 || p.received === p.total) {
        lastDraw = now;
        draw();
      }
    },
    end(file) {
      if (current?.file !== file) return;
      draw();
      process.stderr.write('\n');
      current = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface FileMeta {
  commit: string;
  etag: string;
  /** The LFS object id: the sha256 of the contents, checked after download. */
  sha256?: string;
  size?: number;
  /** Where the bytes are: the resolve URL, or the CDN URL it redirected to. */
  url: URL;
}

class RetryableError extends Error {}

function normalizeEtag(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  const etag = raw.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return etag === '' ? undefined : etag;
}

function headerInt(h: Headers, name: string): number | undefined {
  const v = h.get(name);
  if (v === null || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* the body is not needed */
  }
}

/** A fetch that aborts when the headers, or any later chunk, take longer than `seconds`. */
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

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Files that are absent at a revision: the fallback chain goes on with the next candidate. */
const ENTRY_NOT_FOUND = Symbol('entry not found');

class HubClient {
  private readonly origin: string;
  commit: string | undefined;

  constructor(
    readonly repoId: string,
    readonly revision: string,
    readonly repoDir: string,
    readonly endpoint: string,
    readonly token: string | undefined,
    readonly reporter: Reporter,
  ) {
    this.origin = new URL(endpoint).origin;
    this.commit = COMMIT_RE.test(revision) ? revision : undefined;
  }

  get snapshotDir(): string | undefined {
    return this.commit === undefined ? undefined : path.join(this.repoDir, 'snapshots', this.commit);
  }

  private headers(url: URL, extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': 'splade/0.1.0; node/' + process.versions.node, 'accept-encoding': 'identity', ...extra };
    // The token goes to the Hub only, never to the CDN it redirects to.
    if (this.token !== undefined && url.origin === this.origin) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  private resolveUrl(file: string): URL {
    const rev = encodeURIComponent(this.commit ?? this.revision);
    const name = file.split('/').map(encodeURIComponent).join('/');
    return new URL(`${this.endpoint.replace(/\/+$/, '')}/${this.repoId}/resolve/${rev}/${name}`);
  }

  private statusError(res: Response, file: string): SpladeError {
    const code = res.headers.get('x-error-code') ?? '';
    const where = `${this.repoId} (revision ${this.revision})`;
    const page = `${this.endpoint.replace(/\/+$/, '')}/${this.repoId}`;
    const http = `HTTP ${res.status}${res.statusText ? ' ' + res.statusText : ''}`;
    if (code === 'GatedRepo' || res.status === 403) {
      return ioError(
        `Access to model ${this.repoId} is restricted (${http}): it is gated or private. ` +
          `Accept its conditions at ${page}, then set HF_TOKEN (or pass token) to an access token of that account` +
          (this.token !== undefined ? '; the token given has no access to it' : ''),
      );
    }
    if (res.status === 401) {
      return ioError(
        `The Hub refused ${file} of ${where} (${http}): the model is private or gated, or the repo id does not exist. ` +
          (this.token === undefined
            ? 'If it is private or gated, set HF_TOKEN (or pass token) to an access token that can read it'
            : 'The token given (token option or HF_TOKEN) was not accepted for it'),
      );
    }
    if (res.status === 404) {
      if (code === 'RevisionNotFound') return ioError(`Revision ${this.revision} does not exist for model ${this.repoId} (${http})`);
      if (code === 'RepoNotFound') {
        return ioError(`Model ${this.repoId} was not found at ${this.endpoint} (${http}): the repo id does not exist (if it is private, set HF_TOKEN)`);
      }
      return ioError(`${file} was not found for ${where} (${http}): the repo id or revision does not exist, or the repo has no ${file}`);
    }
    return ioError(`Fetching ${file} of ${where} failed: ${http}`);
  }

  private async request(url: URL, init: { method: string; headers: Record<string, string>; signal: AbortSignal }): Promise<Response> {
    try {
      return await fetch(url, { ...init, redirect: 'manual' });
    } catch (err) {
      throw new RetryableError(`cannot reach ${url.origin}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** HEAD on the resolve URL: the commit, blob name and size, and where the bytes are. */
  async metadata(file: string): Promise<FileMeta | typeof ENTRY_NOT_FOUND> {
    let url = this.resolveUrl(file);
    for (let hops = 0; hops <= MAX_REDIRECTS; hops++) {
      const res = await this.retrying(async () => {
        const dog = watchdog(HEADER_TIMEOUT_S);
        try {
          const r = await this.request(url, { method: 'HEAD', headers: this.headers(url), signal: dog.signal });
          await discard(r);
          if (r.status >= 500 || r.status === 429) throw new RetryableError(`${url.origin} answered HTTP ${r.status} for ${file}`);
          return r;
        } finally {
          dog.stop();
        }
      });
      const commit = res.headers.get('x-repo-commit') ?? undefined;
      const location = res.headers.get('location');
      // A redirect that carries the file's metadata is the Hub sending the bytes to its CDN; one
      // without (a renamed repo) is followed.
      if (isRedirect(res.status) && location !== null && commit === undefined) {
        url = new URL(location, url);
        continue;
      }
      if (res.status === 404 && (res.headers.get('x-error-code') ?? 'EntryNotFound') === 'EntryNotFound') {
        if (this.commit === undefined && commit !== undefined && COMMIT_RE.test(commit)) this.commit = commit;
        return ENTRY_NOT_FOUND;
      }
      if (!res.ok && !isRedirect(res.status)) throw this.statusError(res, file);
      const linked = normalizeEtag(res.headers.get('x-linked-etag'));
      const etag = linked ?? normalizeEtag(res.headers.get('etag'));
      if (commit === undefined || etag === undefined) {
        throw ioError(
          `${url.origin} did not answer like the Hugging Face Hub for ${file} of ${this.repoId}: no ${commit === undefined ? 'X-Repo-Commit' : 'ETag'} header. ` +
            'Check HF_ENDPOINT and any proxy between here and the Hub',
        );
      }
      if (!/^[A-Za-z0-9._-]+$/.test(etag) || etag.startsWith('.') || !/^[A-Za-z0-9._-]+$/.test(commit) || commit.startsWith('.')) {
        throw ioError(`The Hub sent an unusable ETag ${JSON.stringify(etag)} or commit ${JSON.stringify(commit)} for ${file} of ${this.repoId}`);
      }
      const size = headerInt(res.headers, 'x-linked-size') ?? (res.ok ? headerInt(res.headers, 'content-length') : undefined);
      return {
        commit,
        etag,
        sha256: linked !== undefined && /^[0-9a-f]{64}$/.test(linked) ? linked : undefined,
        size,
        url: isRedirect(res.status) && location !== null ? new URL(location, url) : url,
      };
    }
    throw ioError(`Too many redirects fetching ${file} of ${this.repoId}`);
  }

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof RetryableError) || attempt >= MAX_ATTEMPTS) {
          throw err instanceof RetryableError
            ? ioError(`${err.message} (after ${attempt} attempts; set HF_HUB_OFFLINE=1 to use only the local cache)`, err)
            : err;
        }
        await new Promise((r) => setTimeout(r, Math.min(8000, 250 * 2 ** (attempt - 1))));
      }
    }
  }

  /**
   * Brings `file` into the snapshot of the pinned commit. Returns false when the file does not
   * exist at that revision (and records that in .no_exist, as huggingface_hub does).
   */
  async fetchFile(file: string): Promise<boolean> {
    if (this.snapshotDir !== undefined) {
      // Commits are immutable: what a snapshot holds, or knows to be absent, needs no request.
      if (await isFile(path.join(this.snapshotDir, file))) return true;
      if (existsSync(path.join(this.repoDir, '.no_exist', this.commit!, file))) return false;
    }
    const meta = await this.metadata(file);
    if (meta === ENTRY_NOT_FOUND) {
      if (this.commit !== undefined) await writeAtomic(path.join(this.repoDir, '.no_exist', this.commit, file), '').catch(() => {});
      return false;
    }
    // The first answer pins the commit: every later file comes from the same snapshot.
    this.commit ??= meta.commit;
    const blob = path.join(this.repoDir, 'blobs', meta.etag);
    if (!(await isFile(blob))) await downloadOnce(blob, () => this.download(file, meta, blob));
    await linkPointer(blob, path.join(this.snapshotDir!, file));
    return true;
  }

  private async download(file: string, meta: FileMeta, blob: string): Promise<void> {
    const tmp = `${blob}.incomplete`;
    await fsp.mkdir(path.dirname(blob), { recursive: true });
    let resumed = false;
    for (let round = 0; ; round++) {
      const result = await this.retrying(() => this.transfer(file, meta, tmp));
      resumed ||= result.resumed;
      const size = (await fileSize(tmp)) ?? 0;
      const bad =
        meta.size !== undefined && size !== meta.size
          ? `${size} bytes where the Hub announced ${meta.size}`
          : meta.sha256 !== undefined && result.sha256 !== meta.sha256
            ? `sha256 ${result.sha256} where the Hub announced ${meta.sha256}`
            : undefined;
      if (bad === undefined) break;
      await fsp.rm(tmp, { force: true });
      // A partial file left by someone else may hold wrong bytes: one fresh try from zero.
      if (resumed && round === 0) continue;
      throw new SpladeError(`Download of ${file} of ${this.repoId} is corrupt (${bad}); it was deleted, try again`, ErrorCode.corruptFile);
    }
    await fsp.rename(tmp, blob);
    this.reporter.end(file);
  }

  /** One GET into `tmp`, resuming from its current size. Network failures are retryable. */
  private async transfer(file: string, meta: FileMeta, tmp: string): Promise<{ sha256: string; resumed: boolean }> {
    let start = (await fileSize(tmp)) ?? 0;
    if (meta.size !== undefined && start > meta.size) start = 0;
    const hash = createHash('sha256');
    if (meta.size !== undefined && start === meta.size && start > 0) {
      // Complete but never renamed (a crash between fsync and rename): just check it.
      await hashFile(tmp, hash, start);
      return { sha256: hash.digest('hex'), resumed: true };
    }
    let url = meta.url;
    const dog = watchdog(READ_TIMEOUT_S);
    let res: Response;
    try {
      for (let hops = 0; ; hops++) {
        const extra: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
        res = await this.request(url, { method: 'GET', headers: this.headers(url, extra), signal: dog.signal });
        if (!isRedirect(res.status) || res.headers.get('location') === null) break;
        if (hops >= MAX_REDIRECTS) throw ioError(`Too many redirects fetching ${file} of ${this.repoId}`);
        await discard(res);
        url = new URL(res.headers.get('location')!, url);
      }
      if (res.status === 416) {
        await discard(res);
        await fsp.rm(tmp, { force: true });
        throw new RetryableError(`the server refused to resume ${file} (HTTP 416)`);
      }
      if (res.status >= 500 || res.status === 429) {
        await discard(res);
        throw new RetryableError(`the server answered HTTP ${res.status} for ${file}`);
      }
      if (res.status !== 200 && res.status !== 206) {
        await discard(res);
        throw this.statusError(res, file);
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
      const expected = headerInt(res.headers, 'content-length');
      const total = meta.size ?? (expected !== undefined ? start + expected : undefined);
      const fh = await fsp.open(tmp, resumed ? 'r+' : 'w');
      let received = start;
      try {
        if (resumed) await fh.truncate(start);
        this.reporter.update({ file, received, total });
        dog.kick();
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            dog.kick();
            hash.update(chunk);
            await fh.write(chunk, 0, chunk.length, received);
            received += chunk.length;
            this.reporter.update({ file, received, total });
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
      return { sha256: hash.digest('hex'), resumed };
    } finally {
      dog.stop();
    }
  }
}

async function hashFile(file: string, hash: Hash, length: number): Promise<void> {
  if (length === 0) return;
  for await (const chunk of createReadStream(file, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
}

/** Two callers in this process that want the same blob share one download. */
const inFlight = new Map<string, Promise<void>>();
function downloadOnce(blob: string, run: () => Promise<void>): Promise<void> {
  let p = inFlight.get(blob);
  if (p === undefined) {
    p = run().finally(() => inFlight.delete(blob));
    inFlight.set(blob, p);
  }
  return p;
}

/** snapshots/{commit}/{file} -> ../../blobs/{etag}; a hard link, then a copy, where symlinks are refused. */
async function linkPointer(blob: string, pointer: string): Promise<void> {
  await fsp.mkdir(path.dirname(pointer), { recursive: true });
  const target = path.relative(path.dirname(pointer), blob);
  try {
    if ((await fsp.readlink(pointer)) === target) return;
  } catch {
    /* absent, or not a symlink */
  }
  const tmp = `${pointer}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fsp.symlink(target, tmp);
  } catch {
    try {
      await fsp.link(blob, tmp);
    } catch {
      await fsp.copyFile(blob, tmp);
    }
  }
  try {
    await fsp.rename(tmp, pointer);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// the entry point

function checkOptions(opts: unknown): ResolveModelOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
  const o = opts as Record<string, unknown>;
  for (const k of ['revision', 'cacheDir', 'token', 'endpoint'] as const) {
    if (o[k] !== undefined && (typeof o[k] !== 'string' || (k !== 'token' && o[k] === ''))) invalidArgument(k, 'a non-empty string', o[k]);
  }
  if (o.revision !== undefined && !validRevision(o.revision as string)) invalidArgument('revision', 'a branch, tag or commit hash', o.revision);
  if (o.offline !== undefined && typeof o.offline !== 'boolean') invalidArgument('offline', 'a boolean', o.offline);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') invalidArgument('onProgress', 'a function', o.onProgress);
  if (o.files !== undefined) {
    if (!Array.isArray(o.files) || o.files.length === 0) invalidArgument('files', 'a non-empty array of file names', o.files);
    for (const f of o.files) if (!validFileName(f)) invalidArgument('files', 'relative file names inside the repo', f);
  }
  if (o.endpoint !== undefined) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(o.endpoint as string).protocol);
    } catch {
      /* not a URL */
    }
    if (!ok) invalidArgument('endpoint', 'an http(s) URL', o.endpoint);
  }
  return o as ResolveModelOptions;
}

/**
 * Returns a local directory holding config.json, tokenizer.json and the weights for `idOrDir`:
 * the directory itself when it exists, else the snapshot of the Hub model 'org/name[@revision]'
 * in the shared Hugging Face cache, downloading what is missing.
 */
export async function resolveModel(idOrDir: string, opts?: ResolveModelOptions): Promise<string> {
  if (typeof idOrDir !== 'string' || idOrDir === '') invalidArgument('idOrDir', 'a model directory or a Hub id such as "org/name"', idOrDir);
  const o = checkOptions(opts);

  const local = statSyncOrUndefined(idOrDir);
  if (local !== undefined) {
    if (!local.isDirectory()) invalidArgument('idOrDir', 'a model directory or a Hub id', idOrDir);
    return path.resolve(idOrDir);
  }
  const id = parseHubId(idOrDir);
  if (id === undefined) {
    throw ioError(`${idOrDir} is neither an existing directory nor a Hugging Face model id such as "org/name" or "org/name@revision"`);
  }
  if (id.revision !== undefined && o.revision !== undefined && id.revision !== o.revision) {
    invalidArgument('revision', `the same revision as the id's @${id.revision}`, o.revision);
  }
  const revision = o.revision ?? id.revision ?? 'main';
  const plan: Plan =
    o.files !== undefined ? { required: [...o.files], optional: [], weights: false } : { required: REQUIRED_FILES, optional: OPTIONAL_FILES, weights: true };
  const repoDir = path.join(hubCacheRoot(o.cacheDir), `models--${id.repoId.split('/').join('--')}`);

  // 1. The cache: a snapshot with everything needed is used without any request.
  let cachedCommit: string | undefined = COMMIT_RE.test(revision) ? revision : undefined;
  if (cachedCommit === undefined) {
    try {
      const ref = (await fsp.readFile(path.join(repoDir, 'refs', revision), 'utf8')).trim();
      if (ref !== '' && validFileName(ref) && !ref.includes('/')) cachedCommit = ref;
    } catch {
      /* never fetched at this revision */
    }
  }
  let missing = [`refs/${revision}`];
  if (cachedCommit !== undefined) {
    const snap = path.join(repoDir, 'snapshots', cachedCommit);
    missing = await missingFromSnapshot(snap, plan);
    if (missing.length === 0) return snap;
  }

  const offline = o.offline ?? envTrue('HF_HUB_OFFLINE');
  if (offline) {
    const why = o.offline === true ? 'offline mode is on (offline: true, as HF_HUB_OFFLINE=1)' : 'HF_HUB_OFFLINE is set';
    throw ioError(
      `Model ${id.repoId} (revision ${revision}) is not in the cache at ${repoDir} (missing: ${missing.join(', ')}) and ${why}, ` +
        'so nothing can be downloaded. Fetch it once with network access, or point HF_HOME / HF_HUB_CACHE / cacheDir at a cache that has it',
    );
  }

  // 2. The Hub.
  const endpoint = o.endpoint ?? env('HF_ENDPOINT') ?? DEFAULT_ENDPOINT;
  const token = o.token !== undefined ? (o.token === '' ? undefined : o.token) : await defaultToken();
  const hub = new HubClient(id.repoId, revision, repoDir, endpoint, token, makeReporter(o.onProgress));
  for (const f of plan.required) {
    if (!(await hub.fetchFile(f))) {
      const rev = hub.commit !== undefined && hub.commit !== revision ? `${revision} (commit ${hub.commit})` : revision;
      throw ioError(`Model ${id.repoId} has no ${f} at revision ${rev}`);
    }
  }
  for (const f of plan.optional) await hub.fetchFile(f);
  if (plan.weights) {
    if (!(await hub.fetchFile(WEIGHTS))) {
      if (await hub.fetchFile(WEIGHTS_INDEX)) {
        for (const shard of await readShardIndex(path.join(hub.snapshotDir!, WEIGHTS_INDEX))) {
          if (!(await hub.fetchFile(shard))) throw ioError(`Model ${id.repoId} lists the shard ${shard} in ${WEIGHTS_INDEX}, but the Hub has no such file`);
        }
      } else if (!(await hub.fetchFile(WEIGHTS_PT))) {
        throw ioError(`Model ${id.repoId} (revision ${revision}) has no weights: none of ${WEIGHTS}, ${WEIGHTS_INDEX}, ${WEIGHTS_PT} exists`);
      }
    }
  }
  const commit = hub.commit!;
  if (revision !== commit) await writeAtomic(path.join(repoDir, 'refs', revision), commit);
  return path.join(repoDir, 'snapshots', commit);
}

function statSyncOrUndefined(p: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
