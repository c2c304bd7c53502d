/*
 * Talking to the Hub: @huggingface/hub's modelInfo (the commit a revision points at) and pathsInfo
 * (which files exist at that commit, their blob names, sizes and checksums), both through one
 * fetch of ours. That fetch sends the token to the Hub's origin only (never to the CDN a download
 * is redirected to, and without @huggingface/hub's rule that tokens start with "hf_"), bounds the
 * wait for an answer, and turns HTTP failures into SpladeErrors that say what to do, reading the
 * Hub's X-Error-Code header that the library's HubApiError does not keep.
 */
import { ErrorCode, SpladeError } from '../../errors.js';
import { env } from './cache.js';

/** A failure worth another try: the network, a 5xx or 429, a connection that broke. */
export class RetryableError extends Error {}

export function ioError(message: string, cause?: unknown): SpladeError {
  return new SpladeError(message, ErrorCode.io, cause === undefined ? undefined : { cause });
}

function envSeconds(name: string, fallback: number): number {
  const v = Number(env(name));
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Seconds to wait for an answer, and for each chunk of a download (huggingface_hub's defaults). */
const HEADER_TIMEOUT_S = envSeconds('HF_HUB_ETAG_TIMEOUT', 10);
export const READ_TIMEOUT_S = envSeconds('HF_HUB_DOWNLOAD_TIMEOUT', 10);
const MAX_ATTEMPTS = 5;
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** A file at a commit, as pathsInfo describes it. */
export interface HubFile {
  file: string;
  /** The blob name huggingface_hub gives it: the LFS sha256, else the git blob id. */
  etag: string;
  size: number;
  /** Set for LFS files: the sha256 of the contents. */
  sha256?: string;
  /** Set for files kept in git: sha1 of "blob {size}\0" + the contents. */
  gitSha1?: string;
}

export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* the body is not needed */
  }
}

export class HubClient {
  private readonly origin: string;

  constructor(
    readonly repoId: string,
    readonly revision: string,
    readonly endpoint: string,
    readonly token: string | undefined,
  ) {
    this.origin = new URL(endpoint).origin;
  }

  /** The fetch given to @huggingface/hub and used for downloads; answers only 2xx and 416. */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers = new Headers(init.headers);
    headers.set('user-agent', `splade/0.1.0; node/${process.versions.node}`);
    headers.set('accept-encoding', 'identity');
    // The token goes to the Hub only; fetch drops it when a redirect leaves the Hub's origin.
    if (this.token !== undefined && url.origin === this.origin) headers.set('authorization', `Bearer ${this.token}`);
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(HEADER_TIMEOUT_S * 1000) });
    } catch (err) {
      throw new RetryableError(`cannot reach ${url.origin}: ${(err as Error).message}`, { cause: err });
    }
    if (res.status >= 500 || res.status === 429) {
      await discard(res);
      throw new RetryableError(`${url.origin} answered HTTP ${res.status} for ${url.pathname}`);
    }
    if (!res.ok && res.status !== 416) {
      await discard(res);
      throw this.statusError(res, url);
    }
    return res;
  };

  private statusError(res: Response, url: URL): SpladeError {
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
        `The Hub refused model ${where} (${http}): the model is private or gated, or the repo id does not exist. ` +
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
      return ioError(`${decodeURIComponent(url.pathname)} was not found for ${where} (${http})`);
    }
    return ioError(`${url.href} failed for ${where}: ${http}`);
  }

  /** Runs one request (a library call, a download attempt) again after retryable failures. */
  async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof SpladeError) throw err;
        if (!(err instanceof RetryableError)) {
          // @huggingface/hub could not read an answer: something other than the Hub is at the endpoint.
          throw ioError(`${this.endpoint} did not answer like the Hugging Face Hub for ${this.repoId}: ${(err as Error).message}. Check HF_ENDPOINT and any proxy`, err);
        }
        if (attempt >= MAX_ATTEMPTS) throw ioError(`${err.message} (after ${attempt} attempts; set HF_HUB_OFFLINE=1 to use only the local cache)`, err);
        await new Promise((r) => setTimeout(r, Math.min(8000, 250 * 2 ** (attempt - 1))));
      }
    }
  }

  /** The commit hash the revision (branch, tag) points at now. */
  async commit(): Promise<string> {
    const { modelInfo } = await import('@huggingface/hub'); // on first use, as in cache.ts
    const info = await this.retrying(() => modelInfo({ name: this.repoId, revision: this.revision, hubUrl: this.endpoint, additionalFields: ['sha'], fetch: this.fetch }));
    if (typeof info.sha !== 'string' || !SAFE_NAME.test(info.sha)) {
      throw ioError(`${this.endpoint} sent an unusable commit ${JSON.stringify(info.sha)} for ${this.repoId}; check HF_ENDPOINT and any proxy`);
    }
    return info.sha;
  }

  /** Which of `files` exist at `commit`, with what the download needs to check them. */
  async files(commit: string, files: readonly string[]): Promise<Map<string, HubFile>> {
    const { pathsInfo } = await import('@huggingface/hub');
    const infos = await this.retrying(() =>
      pathsInfo({ repo: { type: 'model', name: this.repoId }, paths: [...files], revision: commit, hubUrl: this.endpoint, fetch: this.fetch }),
    );
    const out = new Map<string, HubFile>();
    for (const info of infos) {
      if (info.type !== 'file' || !files.includes(info.path)) continue;
      const etag = info.lfs?.oid ?? info.oid;
      const size = info.lfs?.size ?? info.size;
      if (typeof etag !== 'string' || !SAFE_NAME.test(etag) || !Number.isSafeInteger(size) || size < 0) {
        throw ioError(`The Hub sent an unusable blob id ${JSON.stringify(etag)} or size ${size} for ${info.path} of ${this.repoId}`);
      }
      const lfs = info.lfs !== undefined;
      out.set(info.path, {
        file: info.path,
        etag,
        size,
        sha256: lfs && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
        gitSha1: !lfs && /^[0-9a-f]{40}$/.test(etag) ? etag : undefined,
      });
    }
    return out;
  }

  /** The URL of a file's bytes at a commit (the Hub redirects LFS files to its CDN). */
  resolveUrl(commit: string, file: string): URL {
    const name = file.split('/').map(encodeURIComponent).join('/');
    return new URL(`${this.endpoint.replace(/\/+$/, '')}/${this.repoId}/resolve/${encodeURIComponent(commit)}/${name}`);
  }
}
