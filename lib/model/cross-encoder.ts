// CrossEncoder: a Hugging Face BertForSequenceClassification checkpoint with one label (the layout of
// cross-encoder/ms-marco-MiniLM-L-6-v2), the teacher that scores (query, passage) pairs for
// distillation. Pairs are tokenised as [CLS] q [SEP] p [SEP] with token type ids 0/1 and longest-first
// truncation (as transformers does); the native core runs the same BERT transformer as the SPLADE
// encoder, takes the final hidden state at [CLS], then pooler (dense + tanh) and classifier -> logit.
import { resolve } from 'node:path';

import { ErrorCode, SpladeError, callNative, callNativeAsync, expectInteger, invalidArgument } from '../errors.js';
import { setThreads } from '../info.js';
import { InFlight } from '../in-flight.js';
import { loadAddon } from '../native.js';
import { Checkpoint, lengthSortedBatches, packSequences } from './checkpoint.js';
import { type EncoderConfig, parseConfig } from './config.js';
import { resolveModel } from './hub.js';
import type { Layout } from './weights.js';

/** The cross-encoder part of the binding (native/binding/cross_binding.cpp). */
interface NativeCrossEncoderHandle {
  /** logits (B) for packed pairs; hidden (B*C) optional: the [CLS] hidden states. */
  forward(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, reference: boolean,
          logits: Float32Array, hidden: Float32Array | null): Promise<void>;
  /**
   * Training forward + loss + backward (native/model/cross_encoder_train.h): grads (arena-sized) +=
   * dLoss/dparams, logits (B) filled; resolves to the mean loss.
   */
  train(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, loss: 'pointwise' | 'listwise',
        targets: Float32Array | null, groupSizes: Int32Array | null, grads: Float32Array, logits: Float32Array,
        dropout: number, seed: number, reference: boolean): Promise<number>;
  /** Later calls throw; calls in flight finish. */
  dispose(): void;
}
interface CrossAddon {
  crossEncoderLayout(config: EncoderConfig): Layout;
  NativeCrossEncoder: new (config: EncoderConfig, arena: Float32Array) => NativeCrossEncoderHandle;
}

export interface CrossEncoderLoadOptions {
  threads?: number;
  /** For hub ids ("org/name"): branch, tag or commit (default 'main'). */
  revision?: string;
  /** For hub ids: the Hugging Face cache. */
  cacheDir?: string;
}

export interface ScoreOptions {
  /** Pairs per forward pass (default 32); pairs are sorted by length first. */
  batchSize?: number;
  /** Tokens per pair including [CLS] and the two [SEP] (default 512); capped at max_position_embeddings. */
  maxLength?: number;
}

export const CROSS_ARCHITECTURES = ['BertForSequenceClassification'] as const;
const DEFAULT_MAX_LENGTH = 512;
const DEFAULT_BATCH = 32;

/** config.json of a one-label BertForSequenceClassification -> the encoder config (Error otherwise). */
export function parseCrossConfig(json: Record<string, unknown>, file: string): EncoderConfig {
  const archs = Array.isArray(json.architectures) ? (json.architectures as unknown[]) : [];
  if (archs.length > 0 && archs[0] !== 'BertForSequenceClassification') {
    throw new SpladeError(
      `${file}: unsupported architecture ${JSON.stringify(archs[0])} for a cross-encoder (supported: ${CROSS_ARCHITECTURES.join(', ')})`,
      ErrorCode.unsupported,
    );
  }
  if (archs.length === 0 && json.model_type !== 'bert') {
    throw new SpladeError(`${file}: no architectures entry and unsupported model_type ${JSON.stringify(json.model_type)}`, ErrorCode.unsupported);
  }
  // transformers: num_labels is len(id2label), 2 when config.json has neither.
  const id2label = json.id2label;
  const numLabels = typeof json.num_labels === 'number' ? json.num_labels
    : id2label && typeof id2label === 'object' ? Object.keys(id2label).length : 2;
  if (numLabels !== 1) {
    throw new SpladeError(
      `${file}: the classifier has ${numLabels} labels; a cross-encoder teacher needs num_labels = 1 (one relevance logit)`,
      ErrorCode.unsupported,
    );
  }
  // The transformer's hyperparameters are read as for BertForMaskedLM.
  return parseConfig({ ...json, architectures: ['BertForMaskedLM'] }, file);
}

function crossAddon(): CrossAddon {
  return loadAddon<CrossAddon>();
}

export class CrossEncoder {
  private readonly calls: InFlight;

  private constructor(private readonly ckpt: Checkpoint, private readonly native: NativeCrossEncoderHandle) {
    this.calls = new InFlight('CrossEncoder', () => native.dispose());
  }

  /**
   * Releases the native handle; later calls throw ERR_SPLADE_INVALID_ARGUMENT. Calls in flight
   * (score, a training step) finish first.
   */
  dispose(): void {
    this.calls.dispose();
  }
  [Symbol.dispose](): void { this.dispose(); }

  get dir(): string { return this.ckpt.dir; }
  get config(): EncoderConfig { return this.ckpt.config; }

  /**
   * Loads a checkpoint directory (config.json, model.safetensors or shards or pytorch_model.bin,
   * tokenizer.json) or a Hugging Face hub id ("org/name", looked up in and downloaded to the cache).
   */
  static async load(dir: string, opts: CrossEncoderLoadOptions = {}): Promise<CrossEncoder> {
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path or hub id', dir);
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    if (opts.threads !== undefined) setThreads(expectInteger('threads', opts.threads, 1, 1024));
    if (opts.revision !== undefined && typeof opts.revision !== 'string') invalidArgument('revision', 'a string', opts.revision);
    if (opts.cacheDir !== undefined && typeof opts.cacheDir !== 'string') invalidArgument('cacheDir', 'a string', opts.cacheDir);
    const d = resolve(await resolveModel(dir, { revision: opts.revision, cacheDir: opts.cacheDir }));
    const addon = crossAddon();
    const ckpt = await Checkpoint.load(d, parseCrossConfig, (c) => addon.crossEncoderLayout(c));
    return new CrossEncoder(ckpt, callNative(() => new addon.NativeCrossEncoder(ckpt.config, ckpt.arena)));
  }

  /** The pair as the model sees it: [CLS] query [SEP] passage [SEP], type ids 0/1, truncated longest-first. */
  tokenizePair(query: string, passage: string, opts: { maxLength?: number } = {}): { ids: Int32Array; typeIds: Int32Array } {
    this.calls.check();
    if (typeof query !== 'string') invalidArgument('query', 'a string', query);
    if (typeof passage !== 'string') invalidArgument('passage', 'a string', passage);
    return this.ckpt.tokenizer.encodePair(query, passage, this.maxLength(opts.maxLength));
  }

  private maxLength(m: unknown): number {
    const v = m === undefined ? DEFAULT_MAX_LENGTH : expectInteger('maxLength', m, 3, 1 << 20);
    return Math.min(v, this.config.maxPositions);
  }

  /** One relevance logit per (query, passage) pair, in the order given. */
  async score(pairs: [string, string][], opts: ScoreOptions = {}): Promise<Float32Array> {
    return this.calls.run(() => this.scorePairs(pairs, opts));
  }

  private async scorePairs(pairs: [string, string][], opts: ScoreOptions): Promise<Float32Array> {
    if (!Array.isArray(pairs)) invalidArgument('pairs', 'an array of [query, passage] pairs', pairs);
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    const batchSize = opts.batchSize === undefined ? DEFAULT_BATCH : expectInteger('batchSize', opts.batchSize, 1, 1 << 20);
    const maxLength = this.maxLength(opts.maxLength);
    pairs.forEach((p, i) => {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') {
        invalidArgument(`pairs[${i}]`, 'a [query, passage] pair of strings', p);
      }
    });
    const enc = pairs.map(([q, p]) => this.ckpt.tokenizer.encodePair(q, p, maxLength));
    return this.scoreEncoded(enc, batchSize);
  }

  /** Scores pairs already tokenised ({ ids, typeIds } with the special tokens), in length-sorted batches. */
  private async scoreEncoded(enc: { ids: Int32Array; typeIds: Int32Array }[], batchSize: number): Promise<Float32Array> {
    const out = new Float32Array(enc.length);
    for (const idx of lengthSortedBatches(enc.map((e) => e.ids.length), batchSize)) {
      const { ids, typeIds: types, cu } = packSequences(idx.map((i) => enc[i].ids), idx.map((i) => enc[i].typeIds));
      const logits = new Float32Array(idx.length);
      await callNativeAsync(() => this.native.forward(ids, types, cu, false, logits, null));
      idx.forEach((i, k) => (out[i] = logits[k]));
    }
    return out;
  }

  /** The parameters under their Hugging Face names, as zero-copy views of the arena the kernels read. */
  parameters(): Map<string, Float32Array> {
    this.calls.check();
    return this.ckpt.views();
  }

  /** Named views of an arena-shaped buffer (the parameters, or a gradient). */
  views(arena: Float32Array): Map<string, Float32Array> {
    return this.ckpt.views(arena);
  }

  /** Floats in the parameter arena (the size of a gradient buffer). */
  get parameterCount(): number {
    return this.ckpt.arena.length;
  }

  /** The checkpoint's config.json (dropout probabilities for fine-tuning). */
  get rawConfig(): Record<string, unknown> {
    return this.ckpt.rawConfig;
  }

  /**
   * Writes the Hugging Face layout (model.safetensors, config.json, tokenizer.json) that load() and
   * transformers' BertForSequenceClassification.from_pretrained read; each file written atomically.
   */
  save(dir: string): void {
    this.calls.check();
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path', dir);
    this.ckpt.save(dir);
  }

  /**
   * One fine-tuning forward/backward over tokenised pairs (the Trainer's machinery: see
   * lib/train/cross-trainer.ts): grads += dLoss/dparams; returns the mean loss and the logits.
   * pointwise: targets (one per pair, in [0, 1]); listwise: groupSizes (pairs per query, the first of
   * each group its positive). @internal
   */
  async trainPairs(pairs: { ids: Int32Array; typeIds: Int32Array }[], loss: 'pointwise' | 'listwise',
                   targets: Float32Array | null, groupSizes: Int32Array | null, grads: Float32Array,
                   dropout: number, seed: number, reference = false): Promise<{ loss: number; logits: Float32Array }> {
    return this.calls.run(async () => {
      const { ids, typeIds: types, cu } = packSequences(pairs.map((p) => p.ids), pairs.map((p) => p.typeIds));
      const logits = new Float32Array(pairs.length);
      const value = await callNativeAsync(() =>
        this.native.train(ids, types, cu, loss, targets, groupSizes, grads, logits, dropout, seed, reference));
      return { loss: value, logits };
    });
  }
}
