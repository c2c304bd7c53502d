/*
 * The on-disk cache that Python's huggingface_hub shares (see ../hub.ts for the layout): where it
 * is, what a snapshot holds, and the writes that keep it consistent. @huggingface/hub gives the
 * cache root and the repo folder name; the rest is ours, because its downloadFileToCacheDir
 * files each blob under the commit that last changed it (not the revision's), writes no refs and
 * no .no_exist markers, and replaces a snapshot link non-atomically.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { homedir } from 'node:os';
import * as path from 'node:path';

import { ErrorCode, SpladeError } from '../../errors.js';

export const WEIGHTS = 'model.safetensors';
export const WEIGHTS_INDEX = 'model.safetensors.index.json';
export const WEIGHTS_PT = 'pytorch_model.bin';

/** A revision becomes a path under refs/: refuse anything that could leave that folder. */
export function validRevision(rev: string): boolean {
  return rev.length > 0 && !rev.startsWith('/') && !/[\\\0]/.test(rev) && rev.split('/').every((p) => p !== '' && p !== '.' && p !== '..');
}

/** A file name from the caller or from a shard index: a relative path that stays in the snapshot. */
export function validFileName(name: string): boolean {
  return typeof name === 'string' && validRevision(name) && !/^[A-Za-z]:/.test(name);
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') || p.startsWith('~\\') ? path.join(homedir(), p.slice(1)) : p;
}

export function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** HF_HOME, where `huggingface-cli login` saves its token. */
export function hfHome(): string {
  return path.resolve(expandHome(env('HF_HOME') ?? path.join(env('XDG_CACHE_HOME') ?? path.join(homedir(), '.cache'), 'huggingface')));
}

/**
 * models--{org}--{name} under cacheDir ?? HF_HUB_CACHE ?? HF_HOME/hub, as huggingface_hub names it.
 * @huggingface/hub is imported here and in client.ts on first use: it takes longer to import than the
 * rest of the package, and only Hub ids need it.
 */
export async function repoFolder(cacheDir: string | undefined, repoId: string): Promise<string> {
  const { getHFHubCachePath, getRepoFolderName } = await import('@huggingface/hub');
  return path.join(path.resolve(expandHome(cacheDir ?? getHFHubCachePath())), getRepoFolderName({ name: repoId, type: 'model' }));
}

export async function isFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile(); // follows the snapshot symlink: a dangling one is missing
  } catch {
    return false;
  }
}

/** The commit a cached ref (branch, tag) points at, if this cache has fetched it. */
export async function cachedRef(repoDir: string, revision: string): Promise<string | undefined> {
  try {
    const ref = (await fsp.readFile(path.join(repoDir, 'refs', revision), 'utf8')).trim();
    return ref !== '' && validFileName(ref) && !ref.includes('/') ? ref : undefined;
  } catch {
    return undefined; // never fetched at this revision
  }
}

export async function readShardIndex(indexPath: string): Promise<string[]> {
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

/**
 * What a snapshot folder lacks of `required` and, when `weights`, of one weights layout
 * ([] when it can be used as it is).
 */
export async function missingFromSnapshot(snap: string, required: readonly string[], weights: boolean): Promise<string[]> {
  const missing: string[] = [];
  for (const f of required) if (!(await isFile(path.join(snap, f)))) missing.push(f);
  if (weights && !(await isFile(path.join(snap, WEIGHTS)))) {
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

function tempName(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** Writes a small file (a ref, a .no_exist marker) so that readers see either the old or the new content. */
export async function writeAtomic(file: string, content: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempName(file);
  await fsp.writeFile(tmp, content);
  await fsp.rename(tmp, file);
}

/** snapshots/{commit}/{file} -> ../../blobs/{etag}; a hard link, then a copy, where symlinks are refused. */
export async function linkPointer(blob: string, pointer: string): Promise<void> {
  await fsp.mkdir(path.dirname(pointer), { recursive: true });
  const target = path.relative(path.dirname(pointer), blob);
  try {
    if ((await fsp.readlink(pointer)) === target) return;
  } catch {
    /* absent, or not a symlink */
  }
  const tmp = tempName(pointer);
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
