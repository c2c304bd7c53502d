// Hub ids ("naver/splade-cocondenser-ensembledistil") -> a local checkpoint directory, in the Hugging
// Face cache layout that huggingface_hub and transformers share:
//   <cache>/models--<org>--<name>/refs/<revision>           the commit a branch or tag points to
//   <cache>/models--<org>--<name>/snapshots/<commit>/<file>  the files
// <cache> is HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. A cached snapshot is used
// as is; otherwise (unless HF_HUB_OFFLINE=1) the files are downloaded from HF_ENDPOINT (default
// https://huggingface.co; HF_TOKEN authenticates), each to a temporary name then renamed, so an
// interrupted download never leaves a file that looks complete.
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { ErrorCode, SpladeError } from '../errors.js';
import { atomicWriteText } from './safetensors.js';

export interface HubOptions {
  revision?: string;
  cacheDir?: string;
}

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.includes('..') && !existsSync(s);
}

export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  if (process.env.HF_HOME) return join(process.env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'];

function complete(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'tokenizer.json')) && WEIGHT_FILES.some((f) => existsSync(join(dir, f)));
}

/** The local directory holding the hub model `id` at `revision`, downloading it when needed. */
export async function resolveHubModel(id: string, opts: HubOptions = {}): Promise<string> {
  const revision = opts.revision ?? 'main';
  if (!/^[A-Za-z0-9._\-/]+$/.test(revision) || revision.includes('..')) {
    throw new SpladeError(`Expected a branch, tag or commit for revision but received ${JSON.stringify(revision)}`, ErrorCode.invalidArgument);
  }
  const cache = opts.cacheDir ?? hubCacheDir();
  const repo = join(cache, `models--${id.replace('/', '--')}`);
  const ref = join(repo, 'refs', revision);
  const commit = existsSync(ref) ? readFileSync(ref, 'utf8').trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : undefined;
  if (commit && complete(join(repo, 'snapshots', commit))) return join(repo, 'snapshots', commit);
  if (process.env.HF_HUB_OFFLINE === '1') {
    throw new SpladeError(`${id}: not in the Hugging Face cache (${repo}) and HF_HUB_OFFLINE=1 forbids downloading it`, ErrorCode.io);
  }
  return download(id, revision, repo);
}

async function get(url: string): Promise<Response | undefined> {
  const headers: Record<string, string> = { 'user-agent': 'splade-node' };
  if (process.env.HF_TOKEN) headers.authorization = `Bearer ${process.env.HF_TOKEN}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow' });
  } catch (err) {
    throw new SpladeError(`${url}: download failed (${(err as Error).message}); a local checkpoint directory must exist`, ErrorCode.io, { cause: err });
  }
  if (res.status === 404) return undefined;
  if (!res.ok) throw new SpladeError(`${url}: download failed with HTTP ${res.status}`, ErrorCode.io);
  return res;
}

async function save(res: Response, path: string): Promise<void> {
  const tmp = `${path}.incomplete-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(tmp));
    const expected = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(expected) && statSync(tmp).size !== expected) {
      throw new SpladeError(`${path}: truncated download (${statSync(tmp).size} of ${expected} bytes)`, ErrorCode.io);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

async function download(id: string, revision: string, repo: string): Promise<string> {
  const endpoint = (process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const url = (file: string) => `${endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
  const config = await get(url('config.json'));
  if (!config) {
    throw new SpladeError(
      `${id}: not a local directory, and no such model (or no config.json) at ${endpoint} revision ${revision}`,
      ErrorCode.io,
    );
  }
  const commit = config.headers.get('x-repo-commit') ?? revision;
  if (!/^[A-Za-z0-9._-]+$/.test(commit)) throw new SpladeError(`${id}: bad commit id ${JSON.stringify(commit)} from ${endpoint}`, ErrorCode.io);
  const snap = join(repo, 'snapshots', commit);
  mkdirSync(snap, { recursive: true });
  await save(config, join(snap, 'config.json'));
  for (const [file, required] of [['tokenizer.json', true], ['tokenizer_config.json', false]] as const) {
    const res = await get(url(file));
    if (res) await save(res, join(snap, file));
    else if (required) throw new SpladeError(`${id}: the model has no ${file}`, ErrorCode.io);
  }
  let weights = false;
  for (const file of WEIGHT_FILES) {
    const res = await get(url(file));
    if (!res) continue;
    await save(res, join(snap, file));
    if (file === 'model.safetensors.index.json') {
      const map = JSON.parse(readFileSync(join(snap, file), 'utf8')).weight_map as Record<string, string>;
      for (const shard of new Set(Object.values(map))) {
        if (!/^[A-Za-z0-9._-]+$/.test(shard)) throw new SpladeError(`${id}: bad shard name ${JSON.stringify(shard)}`, ErrorCode.corruptFile);
        const s = await get(url(shard));
        if (!s) throw new SpladeError(`${id}: shard ${shard} is missing`, ErrorCode.io);
        await save(s, join(snap, shard));
      }
    }
    weights = true;
    break;
  }
  if (!weights) throw new SpladeError(`${id}: no weights (${WEIGHT_FILES.join(', ')}) at ${endpoint}`, ErrorCode.io);
  mkdirSync(join(repo, 'refs'), { recursive: true });
  if (commit !== revision) atomicWriteText(join(repo, 'refs', revision), commit);
  return snap;
}
