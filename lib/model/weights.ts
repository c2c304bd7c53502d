// Reads a checkpoint directory's weights (model.safetensors, model.safetensors.index.json + shards,
// or pytorch_model.bin) into the parameter arena, tensor by tensor, under the arena's Hugging Face
// names. Old-style names (LayerNorm.gamma/beta) and checkpoints saved without the base-model prefix
// are accepted; the tied decoder weight, position_ids buffers and unused heads are ignored.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { ErrorCode, SpladeError } from '../errors.js';
import { readSafetensors } from './safetensors.js';
import { FileHandle, type StoredTensor, corrupt, numel } from './tensor.js';
import { readTorchCheckpoint } from './torch-pickle.js';

export interface LayoutEntry {
  name: string;
  offset: number;
  shape: number[];
}
export interface Layout {
  total: number;
  entries: LayoutEntry[];
}

export interface WeightFiles {
  tensors: Map<string, StoredTensor>;
  files: string[];
  close(): void;
}

export function weightFiles(dir: string): string[] | undefined {
  if (existsSync(join(dir, 'model.safetensors'))) return [join(dir, 'model.safetensors')];
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return [join(dir, 'model.safetensors.index.json')];
  if (existsSync(join(dir, 'pytorch_model.bin'))) return [join(dir, 'pytorch_model.bin')];
  return undefined;
}

export function openCheckpoint(dir: string): WeightFiles {
  const handles: FileHandle[] = [];
  const tensors = new Map<string, StoredTensor>();
  const close = () => handles.forEach((h) => h.close());
  const open = (path: string) => {
    const h = new FileHandle(path);
    handles.push(h);
    return h;
  };
  try {
    const st = join(dir, 'model.safetensors');
    const index = join(dir, 'model.safetensors.index.json');
    const bin = join(dir, 'pytorch_model.bin');
    if (existsSync(st)) {
      for (const t of readSafetensors(open(st))) tensors.set(t.name, t);
    } else if (existsSync(index)) {
      let weightMap: Record<string, string>;
      try {
        weightMap = JSON.parse(readFileSync(index, 'utf8')).weight_map;
      } catch (err) {
        throw corrupt(index, `not valid JSON (${(err as Error).message})`);
      }
      if (!weightMap || typeof weightMap !== 'object') throw corrupt(index, 'no weight_map');
      const shards = [...new Set(Object.values(weightMap))];
      for (const shard of shards) {
        if (shard.includes('/') || shard.includes('\\')) throw corrupt(index, `shard name ${shard} is not a plain file name`);
        const path = join(dir, shard);
        if (!existsSync(path)) throw new SpladeError(`${index}: shard ${shard} is missing from ${dir}`, ErrorCode.io);
        for (const t of readSafetensors(open(path))) tensors.set(t.name, t);
      }
    } else if (existsSync(bin)) {
      for (const t of readTorchCheckpoint(open(bin))) tensors.set(t.name, t);
    } else {
      throw new SpladeError(
        `${dir}: no weights found (expected model.safetensors, model.safetensors.index.json or pytorch_model.bin)`,
        ErrorCode.io,
      );
    }
  } catch (err) {
    close();
    throw err;
  }
  return { tensors, files: handles.map((h) => h.path), close };
}

function candidates(name: string): string[] {
  const out = [name];
  const legacy = name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
  if (legacy !== name) out.push(legacy);
  for (const n of [...out]) {
    for (const prefix of ['bert.', 'distilbert.', 'roberta.']) if (n.startsWith(prefix)) out.push(n.slice(prefix.length));
  }
  if (name === 'cls.predictions.bias') out.push('cls.predictions.decoder.bias');
  if (name === 'lm_head.bias') out.push('lm_head.decoder.bias');
  if (name === 'model.embeddings.tok_embeddings.weight') out.push('decoder.weight');  // ModernBERT saved with the decoder's name kept
  return out;
}

/**
 * The number of transformer layers the weights hold (BERT's encoder.layer.N, DistilBERT's
 * transformer.layer.N, ModernBERT's model.layers.N): one more than the largest N.
 */
export function storedLayerCount(ckpt: WeightFiles): number {
  let n = 0;
  for (const name of ckpt.tensors.keys()) {
    const m = /(?:^|\.)(?:(?:encoder|transformer)\.layer|model\.layers)\.(\d+)\./.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/**
 * The stored tensor of each layout entry, every one present with the expected shape: checked from the
 * headers alone, so that a config.json that does not match the weights fails before the arena it
 * sizes is allocated.
 */
export function matchLayout(layout: Layout, ckpt: WeightFiles): StoredTensor[] {
  const where = ckpt.files.join(', ');
  return layout.entries.map((e) => {
    let t: StoredTensor | undefined;
    for (const c of candidates(e.name)) if ((t = ckpt.tensors.get(c))) break;
    if (!t) throw new SpladeError(`${where}: missing tensor ${e.name}`, ErrorCode.corruptFile);
    const same = t.shape.length === e.shape.length && t.shape.every((s, i) => s === e.shape[i]);
    if (!same) {
      throw new SpladeError(
        `${t.file}: tensor ${t.name} has shape [${t.shape.join(', ')}], expected [${e.shape.join(', ')}] (from config.json)`,
        ErrorCode.corruptFile,
      );
    }
    return t;
  });
}

/** Fills arena from the tensors matchLayout found for the layout's entries. */
export async function fillArena(arena: Float32Array, layout: Layout, tensors: StoredTensor[]): Promise<void> {
  for (const [i, e] of layout.entries.entries()) await tensors[i].read(arena.subarray(e.offset, e.offset + numel(e.shape)));
}
