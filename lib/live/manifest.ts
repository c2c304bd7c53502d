// The commit point of a live index: `segments_N`, the list of segments (in commit order) and their
// deletion generations, with the index options fixed for the directory. One JSON line, then a line
// with its CRC-32 (zlib.crc32) in hex. Written to a temporary name, fsynced, renamed, the directory
// fsynced (lib/data/atomic.ts), so a reader sees a whole commit or the one before, never half of one.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

import { ErrorCode, SpladeError } from '../errors.js';
import { atomicWriteText } from '../data/atomic.js';

export const MANIFEST_FORMAT = 'splade-live-index';
export const MANIFEST_VERSION = 1;
const MANIFEST_NAME = /^segments_(\d+)$/;

/** Options fixed when the directory is created: every segment is built with them, so scores agree. */
export interface LiveIndexOptions {
  scale: number;
  impactBits: 8 | 16;
  blockSize: number;
  vocabSize: number;
  bmpBlockDocs: number;
}

export interface SegmentEntry {
  name: string;
  docs: number;
  /** Postings of the documents not deleted. */
  livePostings: number;
  deleted: number;
  /** Generation of the deletion file (0: none). */
  delGen: number;
}

export interface Manifest {
  generation: number;
  options: LiveIndexOptions;
  nextSegment: number;
  segments: SegmentEntry[];
}

export const manifestFile = (generation: number) => `segments_${generation}`;

export function writeManifest(dir: string, m: Manifest): void {
  const json = JSON.stringify({ format: MANIFEST_FORMAT, version: MANIFEST_VERSION, ...m });
  atomicWriteText(join(dir, manifestFile(m.generation)), `${json}\n${crc32(json).toString(16)}\n`);
}

/** Generations of the commit points in dir, newest first. */
export function listGenerations(dir: string): number[] {
  const gens: number[] = [];
  for (const f of readdirSync(dir)) {
    const m = MANIFEST_NAME.exec(f);
    if (m) gens.push(Number(m[1]));
  }
  return gens.sort((a, b) => b - a);
}

function damaged(path: string, what: string): SpladeError {
  return new SpladeError(`${path} is damaged: ${what}`, ErrorCode.corruptFile);
}

export function readManifest(dir: string, generation: number): Manifest {
  const path = join(dir, manifestFile(generation));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new SpladeError(`Cannot read ${path}: ${(err as Error).message}`, missing ? ErrorCode.corruptFile : ErrorCode.io, { cause: err });
  }
  const lines = text.split('\n');
  if (lines.length !== 3 || lines[2] !== '' || crc32(lines[0]).toString(16) !== lines[1]) throw damaged(path, 'checksum mismatch');
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(lines[0]);
  } catch {
    throw damaged(path, 'not JSON');
  }
  if (m.format !== MANIFEST_FORMAT) throw damaged(path, 'not a live index manifest');
  if (typeof m.version !== 'number' || m.version > MANIFEST_VERSION) {
    throw new SpladeError(`${path} was written by a newer version (manifest version ${String(m.version)}; this one reads ${MANIFEST_VERSION})`, ErrorCode.unsupported);
  }
  const out = m as unknown as Manifest;
  const ok = out.generation === generation && Array.isArray(out.segments) && typeof out.options === 'object' && out.options !== null &&
    Number.isInteger(out.nextSegment) &&
    out.segments.every((s) => typeof s.name === 'string' && /^s\d+$/.test(s.name) && Number.isInteger(s.docs) && Number.isInteger(s.deleted) &&
      Number.isInteger(s.delGen) && Number.isInteger(s.livePostings) && s.deleted >= 0 && s.deleted <= s.docs);
  if (!ok) throw damaged(path, 'fields missing or out of range');
  return out;
}

/** The newest commit of dir, or undefined when dir holds none. */
export function readLatestManifest(dir: string): Manifest | undefined {
  const gens = listGenerations(dir);
  return gens.length === 0 ? undefined : readManifest(dir, gens[0]);
}
