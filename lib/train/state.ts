// Trainer checkpoints, next to the model directory that SpladeModel.save writes:
//   optimizer.bin  "SPLADEOPT1\n", uint32 LE header length, header JSON { names, sizes, count },
//                  then m and v (count float32 LE each), in the order of the names
//   trainer.json   { version, options, step, rng } (written last: a directory without it is not a
//                  checkpoint)
// Every file is written atomically (temporary file, fsync, rename).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import { atomicWriteText, writeFileAtomicSync } from '../data/atomic.js';
import type { ResolvedTrainerOptions } from './types.js';

const MAGIC = 'SPLADEOPT1\n';
const VERSION = 1;

export interface TrainerState {
  options: ResolvedTrainerOptions;
  step: number;
  rng: number[];
  names: string[];
  sizes: number[];
  m: Float32Array;
  v: Float32Array;
}

function f32bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function writeTrainerState(dir: string, s: TrainerState): void {
  mkdirSync(dir, { recursive: true });
  const header = Buffer.from(JSON.stringify({ names: s.names, sizes: s.sizes, count: s.m.length }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  writeFileAtomicSync(join(dir, 'optimizer.bin'), [Buffer.from(MAGIC, 'latin1'), len, header, f32bytes(s.m), f32bytes(s.v)]);
  atomicWriteText(join(dir, 'trainer.json'),
    JSON.stringify({ version: VERSION, options: s.options, step: s.step, rng: s.rng }, null, 1) + '\n');
}

export function readTrainerState(dir: string): TrainerState {
  const tj = join(dir, 'trainer.json'), ob = join(dir, 'optimizer.bin');
  if (!existsSync(tj) || !existsSync(ob)) {
    throw new SpladeError(`${dir}: not a trainer checkpoint (trainer.json or optimizer.bin missing)`, ErrorCode.io);
  }
  let meta: { version: number; options: ResolvedTrainerOptions; step: number; rng: number[] };
  try {
    meta = JSON.parse(readFileSync(tj, 'utf8'));
  } catch (err) {
    throw new SpladeError(`${tj}: not valid JSON (${(err as Error).message})`, ErrorCode.corruptFile);
  }
  if (meta.version !== VERSION || !Number.isInteger(meta.step) || meta.step < 0 || !Array.isArray(meta.rng) || typeof meta.options !== 'object') {
    throw new SpladeError(`${tj}: unsupported or corrupt trainer state`, ErrorCode.corruptFile);
  }
  const buf = readFileSync(ob);
  const corrupt = (why: string) => new SpladeError(`${ob}: ${why}`, ErrorCode.corruptFile);
  if (buf.length < MAGIC.length + 4 || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) throw corrupt('bad magic');
  const hlen = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (start + hlen > buf.length) throw corrupt('truncated header');
  let header: { names: string[]; sizes: number[]; count: number };
  try {
    header = JSON.parse(buf.toString('utf8', start, start + hlen));
  } catch {
    throw corrupt('bad header');
  }
  const body = start + hlen;
  if (buf.length !== body + 8 * header.count) throw corrupt(`expected ${body + 8 * header.count} bytes, found ${buf.length} (truncated?)`);
  const data = new Float32Array(2 * header.count);
  new Uint8Array(data.buffer).set(buf.subarray(body));
  return {
    options: meta.options, step: meta.step, rng: meta.rng, names: header.names, sizes: header.sizes,
    m: data.subarray(0, header.count), v: data.subarray(header.count),
  };
}
