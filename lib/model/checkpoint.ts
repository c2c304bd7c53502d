// Checkpoint: one Hugging Face checkpoint directory in memory, what SpladeModel's encoders and the
// CrossEncoder share: config.json (its text, kept to be written back as it was, and the parsed encoder
// config), the tokenizer, and the parameter arena filled from the weight files with its layout (the
// native core's table of named offsets). Named views over the arena or any arena-shaped buffer (a
// gradient, an optimizer moment), and save() in the same layout. Also the one sequence packer.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError, callNative } from '../errors.js';
import type { EncoderConfig } from './config.js';
import { atomicWriteText } from '../data/atomic.js';
import { writeSafetensors } from './safetensors.js';
import { SpladeTokenizer } from './tokenizer.js';
import { type Layout, fillArena, matchLayout, openCheckpoint, storedLayerCount } from './weights.js';

export class Checkpoint {
  private constructor(
    readonly dir: string,
    readonly config: EncoderConfig,
    readonly configJson: string,
    readonly tokenizer: SpladeTokenizer,
    readonly layout: Layout,
    readonly arena: Float32Array,
  ) {}

  /**
   * Reads dir (an existing local directory): parse turns config.json into the encoder config (an Error
   * for an architecture it does not take), layoutOf gives the arena's layout for that config.
   */
  static async load(dir: string, parse: (raw: Record<string, unknown>, file: string) => EncoderConfig,
                    layoutOf: (config: EncoderConfig) => Layout): Promise<Checkpoint> {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new SpladeError(`${dir}: no such checkpoint directory`, ErrorCode.io);
    const cfgFile = join(dir, 'config.json');
    if (!existsSync(cfgFile)) throw new SpladeError(`${dir}: config.json is missing`, ErrorCode.io);
    const configJson = readFileSync(cfgFile, 'utf8');
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(configJson);
    } catch (err) {
      throw new SpladeError(`${cfgFile}: not valid JSON (${(err as Error).message})`, ErrorCode.corruptFile);
    }
    const config = parse(raw, cfgFile);
    const tokenizer = SpladeTokenizer.load(dir);
    // config.json is checked against the weights' headers before anything it sizes exists: the layout
    // grows with the layer count, the arena with every size (a damaged config would otherwise
    // allocate gigabytes before failing).
    const files = openCheckpoint(dir);
    let layout: Layout, arena: Float32Array;
    try {
      const stored = storedLayerCount(files);
      if (stored !== config.layers) {
        throw new SpladeError(`${cfgFile}: names ${config.layers} layers but the weights (${files.files.join(', ')}) hold ${stored}`, ErrorCode.corruptFile);
      }
      try {
        layout = callNative(() => layoutOf(config));
      } catch (err) {
        // The sizes come from the file: a value the native core refuses (over its limits, heads that
        // do not divide the hidden size) is a damaged config.json, not a caller's mistake.
        if (err instanceof SpladeError && err.code === ErrorCode.invalidArgument) throw new SpladeError(`${cfgFile}: ${err.message}`, ErrorCode.corruptFile);
        throw err;
      }
      const tensors = matchLayout(layout, files);
      arena = new Float32Array(layout.total);
      await fillArena(arena, layout, tensors);
    } finally {
      files.close();
    }
    return new Checkpoint(dir, config, configJson, tokenizer, layout, arena);
  }

  /** config.json as parsed JSON (the keys the encoder config leaves out, such as dropout). */
  get rawConfig(): Record<string, unknown> {
    return JSON.parse(this.configJson) as Record<string, unknown>;
  }

  /** The tensors of an arena-shaped buffer (default: the parameters) under their names, prefixed. */
  views(arena: Float32Array = this.arena, prefix = ''): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const e of this.layout.entries) out.set(prefix + e.name, arena.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)));
    return out;
  }

  /** Writes model.safetensors, config.json and the tokenizer files into dir, each atomically. */
  save(dir: string): void {
    mkdirSync(dir, { recursive: true });
    const views = this.views();
    writeSafetensors(join(dir, 'model.safetensors'), this.layout.entries.map((e) => [e.name, views.get(e.name)!, e.shape]));
    atomicWriteText(join(dir, 'config.json'), this.configJson);
    this.tokenizer.save(dir);
  }
}

/** A batch as the native core takes it: sequences back to back, ids (N), typeIds (N) and cuSeqlens (B+1). */
export interface PackedSequences { ids: Int32Array; typeIds: Int32Array | null; cu: Int32Array }

/** Packs seqs in the given order; typeIds, when given, per sequence (null: zeros). */
export function packSequences(seqs: ArrayLike<number>[], typeIds: (ArrayLike<number> | null)[] | null = null): PackedSequences {
  const cu = new Int32Array(seqs.length + 1);
  seqs.forEach((s, k) => (cu[k + 1] = cu[k] + s.length));
  const ids = new Int32Array(cu[seqs.length]);
  const types = typeIds ? new Int32Array(cu[seqs.length]) : null;
  seqs.forEach((s, k) => {
    ids.set(s, cu[k]);
    if (types && typeIds![k]) types.set(typeIds![k]!, cu[k]);
  });
  return { ids, typeIds: types, cu };
}

/** Indices 0..n-1 sorted by length (ties in index order) and cut into batches of batchSize. */
export function lengthSortedBatches(lengths: number[], batchSize: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const out: number[][] = [];
  for (let start = 0; start < order.length; start += batchSize) out.push(order.slice(start, start + batchSize));
  return out;
}
