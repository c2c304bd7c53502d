/*
 * Hugging Face Hub model ids -> a local checkpoint directory, through the same on-disk cache that
 * Python's huggingface_hub uses, so a model fetched by either side is found by the other.
 *
 * Cache layout (root = cacheDir ?? HF_HUB_CACHE ?? (HF_HOME ?? $XDG_CACHE_HOME/huggingface
 * ?? ~/.cache/huggingface)/hub):
 *
 *   models--{org}--{name}/
 *     refs/{revision}                 the commit hash the revision (branch, tag) pointed at
 *     blobs/{etag}                    file contents, named by the Hub's ETag: the sha256 of an LFS
 *                                     file, the git blob id of any other
 *     blobs/{etag}.incomplete         a download in progress; resumed with a Range request
 *     snapshots/{commit}/{file}       relative symlink to ../../blobs/{etag} (a hard link or a copy
 *                                     where symlinks are refused)
 *     .no_exist/{commit}/{file}       empty marker: the file does not exist at that commit
 *
 * Contract: a snapshot that already holds the needed files is used without any network access.
 * A blob only ever appears under its final name complete (written to .incomplete, fsynced, checked
 * against its size and checksum, then renamed). Errors are SpladeErrors with code ERR_SPLADE_IO
 * (network, cache, HTTP status) or ERR_SPLADE_CORRUPT_FILE (a download that does not match its
 * checksum, an unreadable shard index).
 *
 * Online, @huggingface/hub asks the Hub for the revision's commit and the files there (hub/client.ts);
 * the cache and the resumable, checked downloads are ours (hub/cache.ts, hub/download.ts say why).
 */
import { statSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

import { invalidArgument } from '../errors.js';
import { Progress } from '../progress.js';
import {
  cachedRef,
  env,
  hfHome,
  isFile,
  linkPointer,
  missingFromSnapshot,
  readShardIndex,
  repoFolder,
  validFileName,
  validRevision,
  WEIGHTS,
  WEIGHTS_INDEX,
  WEIGHTS_PT,
  writeAtomic,
} from './hub/cache.js';
import { HubClient, ioError, type HubFile } from './hub/client.js';
import { downloadBlob, type DownloadProgress, type Reporter } from './hub/download.js';

export type ResolveProgress = DownloadProgress;

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
// idf.json: the query weights of OpenSearch's inference-free models (query-weights.ts)
const OPTIONAL_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'idf.json'];

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

/** True for 'org/name' or 'name' (optionally '@revision') that is not an existing local path. */
export function isHubId(s: string): boolean {
  if (typeof s !== 'string' || parseHubId(s) === undefined) return false;
  return statSyncOrUndefined(s) === undefined;
}

function envTrue(name: string): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((env(name) ?? '').toUpperCase());
}

async function defaultToken(): Promise<string | undefined> {
  const t = env('HF_TOKEN') ?? env('HUGGING_FACE_HUB_TOKEN');
  if (t !== undefined) return t;
  try {
    const saved = (await fsp.readFile(env('HF_TOKEN_PATH') ?? path.join(hfHome(), 'token'), 'utf8')).trim();
    return saved === '' ? undefined : saved;
  } catch {
    return undefined;
  }
}

/** The caller's onProgress, else one progress bar per file on a terminal (as huggingface_hub draws). */
function makeReporter(onProgress: ResolveModelOptions['onProgress']): Reporter {
  if (onProgress) return { update: onProgress, end() {} };
  if (!process.stderr.isTTY || envTrue('HF_HUB_DISABLE_PROGRESS_BARS')) return { update() {}, end() {} };
  const bars = new Map<string, Progress>();
  return {
    update({ file, received, total }) {
      let bar = bars.get(file);
      if (bar === undefined) bars.set(file, (bar = new Progress({ label: file, total, bytes: true, initial: received })));
      bar.set(received);
    },
    end(file) {
      bars.get(file)?.finish();
      bars.delete(file);
    },
  };
}

/** Brings the files of a commit into its snapshot, one download per blob not yet in the cache. */
class SnapshotFetcher {
  constructor(
    readonly hub: HubClient,
    readonly repoDir: string,
    readonly commit: string,
    readonly reporter: Reporter,
  ) {}

  get dir(): string {
    return path.join(this.repoDir, 'snapshots', this.commit);
  }

  async fetch(info: HubFile): Promise<void> {
    const pointer = path.join(this.dir, info.file);
    if (await isFile(pointer)) return; // commits are immutable: what a snapshot holds is current
    const blob = path.join(this.repoDir, 'blobs', info.etag);
    if (!(await isFile(blob))) await downloadBlob(this.hub, this.commit, info, blob, this.reporter);
    await linkPointer(blob, pointer);
  }

  /** Records that `file` does not exist at this commit, as huggingface_hub does in .no_exist. */
  async markAbsent(file: string): Promise<void> {
    await writeAtomic(path.join(this.repoDir, '.no_exist', this.commit, file), '').catch(() => {});
  }
}

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
  const required = o.files ?? REQUIRED_FILES;
  const repoDir = await repoFolder(o.cacheDir, id.repoId);

  // 1. The cache: a snapshot with everything needed is used without any request.
  const cachedCommit = COMMIT_RE.test(revision) ? revision : await cachedRef(repoDir, revision);
  let missing = [`refs/${revision}`];
  if (cachedCommit !== undefined) {
    const snap = path.join(repoDir, 'snapshots', cachedCommit);
    missing = await missingFromSnapshot(snap, required, o.files === undefined);
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

  // 2. The Hub: the revision's commit, which files exist there, then the downloads.
  const endpoint = (o.endpoint ?? env('HF_ENDPOINT') ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const token = o.token !== undefined ? (o.token === '' ? undefined : o.token) : await defaultToken();
  const hub = new HubClient(id.repoId, revision, endpoint, token);
  const commit = COMMIT_RE.test(revision) ? revision : await hub.commit();
  const snapshot = new SnapshotFetcher(hub, repoDir, commit, makeReporter(o.onProgress));
  const optional = o.files === undefined ? OPTIONAL_FILES : [];
  const weightsLayouts = o.files === undefined ? [WEIGHTS, WEIGHTS_INDEX, WEIGHTS_PT] : [];
  const found = await hub.files(commit, [...required, ...optional, ...weightsLayouts]);
  const rev = commit !== revision ? `${revision} (commit ${commit})` : revision;
  for (const f of required) if (!found.has(f)) throw ioError(`Model ${id.repoId} has no ${f} at revision ${rev}`);
  const weights = weightsLayouts.find((f) => found.has(f));
  if (o.files === undefined && weights === undefined) {
    throw ioError(`Model ${id.repoId} (revision ${revision}) has no weights: none of ${WEIGHTS}, ${WEIGHTS_INDEX}, ${WEIGHTS_PT} exists`);
  }
  for (const f of [...required, ...optional, ...(weights === undefined ? [] : [weights])]) {
    const info = found.get(f);
    if (info !== undefined) await snapshot.fetch(info);
    else await snapshot.markAbsent(f);
  }
  if (weights === WEIGHTS_INDEX) {
    const shards = await readShardIndex(path.join(snapshot.dir, WEIGHTS_INDEX));
    const shardFiles = await hub.files(commit, shards);
    for (const shard of shards) {
      const info = shardFiles.get(shard);
      if (info === undefined) throw ioError(`Model ${id.repoId} lists the shard ${shard} in ${WEIGHTS_INDEX}, but the Hub has no such file`);
      await snapshot.fetch(info);
    }
  }
  if (revision !== commit) await writeAtomic(path.join(repoDir, 'refs', revision), commit);
  return snapshot.dir;
}

function statSyncOrUndefined(p: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
