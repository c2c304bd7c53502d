// SpladeModel: load a Hugging Face masked-LM checkpoint (or two: query and document encoders), encode
// texts or token ids into SPLADE sparse vectors, explain them, save them back in the same layout.
// TypeScript validates and orchestrates (tokenising, length-bucketed batching, sparsifying); the
// native encoder runs the forward pass in a worker thread over a parameter arena allocated here, so
// parameters() are zero-copy views of the very floats the kernels read.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { ErrorCode, SpladeError, callNative, callNativeAsync, expectInteger, expectOneOf, invalidArgument } from '../errors.js';
import { type CudaTrainingHandle, assertCudaUsable, createCudaEncoder } from './cuda-encoder.js';
import { info, setThreads } from '../info.js';
import type { SparseVector } from '../sparse.js';
import { Checkpoint, lengthSortedBatches, packSequences } from './checkpoint.js';
import { type EncoderConfig, parseConfig } from './config.js';
import { type NativeEncoderHandle, encoderAddon } from './native-encoder.js';
import { resolveModel } from './hub.js';
import type { SpladeTokenizer } from './tokenizer.js';
import type { Layout } from './weights.js';

export type Pooling = 'max' | 'sum';
export type Precision = 'fp32' | 'bf16' | 'int8';
export type EncodeKind = 'query' | 'document';

export interface LoadOptions {
  device?: 'cpu' | 'cuda';
  threads?: number;
  /** For hub ids ("org/name"): branch, tag or commit (default 'main'). */
  revision?: string;
  /** For hub ids: the Hugging Face cache (default HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Default truncation per kind when encode() gets no maxLength (default 256 for both). */
  maxLength?: { query?: number; document?: number };
  /**
   * Arithmetic of encode() / encodeIds(): 'fp32' (default) or 'bf16', the opt-in reduced precision
   * (weights kept as bf16 copies made at load, activations rounded to bf16 per matrix product, fp32
   * accumulation; AMX-BF16 where the CPU has it, a slower portable path elsewhere) or 'int8' (weights
   * quantised per output channel at load, activations per token per matrix product, integer products on
   * AVX-512 VNNI, AVX-VNNI or AVX2; as ONNX Runtime's dynamic quantization). `model.kernels` and `info()`
   * say which path a precision takes on this CPU; on 'cuda', int8 runs as fp32. Its agreement with fp32
   * is measured in bench/RESULTS.md. Training (encodeIdsBackward) always runs fp32.
   */
  precision?: Precision;
}

export interface EncodeOptions {
  /** Which encoder (and default length) to use; default 'document'. */
  kind?: EncodeKind;
  /**
   * Tokens per text including special tokens; default: load()'s maxLength for the kind, else 256.
   * Always capped at max_position_embeddings.
   */
  maxLength?: number;
  /** Texts per forward pass; default 32. Texts are sorted by length first (length bucketing). */
  batchSize?: number;
  pooling?: Pooling;
  /** Keep only the topK largest weights. */
  topK?: number;
  /** Keep only weights > threshold (default 0). */
  threshold?: number;
}

export const DEFAULT_MAX_LENGTH = 256;
const DEFAULT_BATCH = 32;

/** What the trainer needs of one encoder (SpladeModel.trainingEncoders). @internal */
export interface TrainingEncoder {
  readonly config: EncoderConfig;
  readonly layout: Layout;
  readonly arena: Float32Array;
  /** The encoder handle (CPU or GPU): the training passes and the gradient arena. */
  readonly native: NativeEncoderHandle;
  /** The same handle on device 'cuda', whose optimizer keeps its state on the device; null on the CPU. */
  readonly cuda: CudaTrainingHandle | null;
  parameters(prefix?: string, arena?: Float32Array): Map<string, Float32Array>;
}

/** One encoder: its checkpoint (config, tokenizer, parameter arena) and the native handle over the arena. */
class Encoder {
  constructor(
    readonly ckpt: Checkpoint,
    readonly native: NativeEncoderHandle,
    readonly precision: Precision,
    readonly cuda: CudaTrainingHandle | null = null,
  ) {}

  get config(): EncoderConfig { return this.ckpt.config; }
  get layout(): Layout { return this.ckpt.layout; }
  get arena(): Float32Array { return this.ckpt.arena; }
  get tokenizer(): SpladeTokenizer { return this.ckpt.tokenizer; }

  /**
   * The packed inference weights (NativeEncoder.prepare) as of the arena's last known state; dropped
   * whenever the arena may be written (parameters() handed out, a backward for training), and packed
   * again on the next encode.
   */
  private packing: Promise<unknown> | undefined;

  invalidatePacked(): void {
    this.packing = undefined;
  }

  private ensurePacked(): Promise<unknown> {
    if (!this.packing) {
      const p = callNativeAsync(() => this.native.prepare(this.precision));
      this.packing = p;
      p.catch(() => {
        if (this.packing === p) this.packing = undefined;
      });
    }
    return this.packing;
  }

  static async load(dir: string, precision: Precision = 'fp32', device: 'cpu' | 'cuda' = 'cpu'): Promise<Encoder> {
    const addon = encoderAddon();
    const ckpt = await Checkpoint.load(dir, parseConfig, (c) => addon.encoderLayout(c));
    if (device === 'cuda') {
      const gpu = createCudaEncoder(ckpt.config, ckpt.arena);
      return new Encoder(ckpt, gpu, precision, gpu);
    }
    return new Encoder(ckpt, callNative(() => new addon.NativeEncoder(ckpt.config, ckpt.arena)), precision);
  }

  parameters(prefix = '', arena: Float32Array = this.arena): Map<string, Float32Array> {
    if (arena === this.arena) this.invalidatePacked();  // the caller may write through these views
    return this.ckpt.views(arena, prefix);
  }

  /** Gradient arena, allocated on the first backward (same layout as the parameters). */
  grads: Float32Array | undefined;
  /** Serialises users of the gradient arena (one backward at a time per encoder). */
  private gradLock: Promise<unknown> = Promise.resolve();

  withGradLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.gradLock.then(fn, fn);
    this.gradLock = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs the packed sequences through the model in batches; returns one dense (V) row per sequence.
   * inference: on the packed weights in the model's precision (encode, encodeIds); otherwise on the
   * arena itself in fp32 (the training path, whose arena changes every step).
   */
  async forward(seqs: Int32Array[], typeIds: (Int32Array | null)[] | null, pooling: Pooling, batchSize: number,
                onRow: (i: number, row: Float32Array) => void, inference = true): Promise<void> {
    const V = this.config.vocabSize;
    if (inference) await this.ensurePacked();
    for (const idx of lengthSortedBatches(seqs.map((s) => s.length), batchSize)) {
      const { ids, typeIds: types, cu } = packSequences(idx.map((i) => seqs[i]), typeIds && idx.map((i) => typeIds[i]));
      const out = new Float32Array(idx.length * V);
      await callNativeAsync(() => this.native.forward(ids, types, cu, pooling, false, out, null, inference));
      idx.forEach((i, k) => onRow(i, out.subarray(k * V, (k + 1) * V)));
    }
  }
}

function sparsify(row: Float32Array, threshold: number, topK: number | undefined): SparseVector {
  let idx: number[] = [];
  for (let j = 0; j < row.length; j++) if (row[j] > threshold && row[j] > 0) idx.push(j);
  if (topK !== undefined && idx.length > topK) {
    idx.sort((a, b) => row[b] - row[a] || a - b);
    idx = idx.slice(0, topK).sort((a, b) => a - b);
  }
  const indices = Uint32Array.from(idx);
  const values = new Float32Array(indices.length);
  for (let k = 0; k < indices.length; k++) values[k] = row[indices[k]];
  return { indices, values };
}

function checkPooling(pooling: unknown): Pooling {
  return pooling === undefined ? 'max' : expectOneOf('pooling', pooling, ['max', 'sum'] as const);
}

export class SpladeModel {
  private constructor(
    private readonly query: Encoder,
    private readonly document: Encoder,
    private readonly defaultMaxLength: { query: number; document: number },
  ) {}

  /**
   * Loads a checkpoint directory (config.json, weights, tokenizer.json), or two: `{ query, document }`.
   * A Hugging Face hub id ("org/name") that is not a local path is looked up in the Hugging Face cache
   * and downloaded there when missing (see hub.ts).
   * A directory holding `query/` and `document/` (as save() writes a two-encoder model) loads both.
   */
  static async load(dir: string | { query: string; document: string }, opts: LoadOptions = {}): Promise<SpladeModel> {
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    const device = opts.device === undefined ? 'cpu' : expectOneOf('device', opts.device, ['cpu', 'cuda'] as const);
    if (device === 'cuda') assertCudaUsable();  // a clear Error before any weights are read
    if (opts.threads !== undefined) setThreads(expectInteger('threads', opts.threads, 1, 1024));
    const precision = opts.precision === undefined ? 'fp32' : expectOneOf('precision', opts.precision, ['fp32', 'bf16', 'int8'] as const);
    if (opts.revision !== undefined && typeof opts.revision !== 'string') invalidArgument('revision', 'a string', opts.revision);
    if (opts.cacheDir !== undefined && typeof opts.cacheDir !== 'string') invalidArgument('cacheDir', 'a string', opts.cacheDir);
    const ml = opts.maxLength ?? {};
    if (ml === null || typeof ml !== 'object') invalidArgument('maxLength', 'an object { query?, document? }', ml);
    const defaults = {
      query: ml.query === undefined ? DEFAULT_MAX_LENGTH : expectInteger('maxLength.query', ml.query, 2, 1 << 20),
      document: ml.document === undefined ? DEFAULT_MAX_LENGTH : expectInteger('maxLength.document', ml.document, 2, 1 << 20),
    };
    const local = (d: string) => resolveModel(d, { revision: opts.revision, cacheDir: opts.cacheDir });
    let qDir: string, dDir: string;
    if (typeof dir === 'string') {
      const d = resolve(await local(dir));
      if (!existsSync(join(d, 'config.json')) && existsSync(join(d, 'query', 'config.json')) && existsSync(join(d, 'document', 'config.json'))) {
        qDir = join(d, 'query');
        dDir = join(d, 'document');
      } else {
        qDir = dDir = d;
      }
    } else if (dir && typeof dir === 'object' && typeof dir.query === 'string' && typeof dir.document === 'string') {
      qDir = resolve(await local(dir.query));
      dDir = resolve(await local(dir.document));
    } else {
      invalidArgument('dir', "a directory path or { query, document } paths", dir);
    }
    const document = await Encoder.load(dDir, precision, device);
    const query = qDir === dDir ? document : await Encoder.load(qDir, precision, device);
    if (query.config.vocabSize !== document.config.vocabSize) {
      throw new SpladeError(`${qDir} and ${dDir}: the query and document encoders have different vocabularies`, ErrorCode.invalidArgument);
    }
    return new SpladeModel(query, document, defaults);
  }

  /**
   * The precision encode() runs in and the kernels that take it on this machine now (info().precisions;
   * on 'cuda': 'cuda fp32' or 'cuda bf16', int8 running as fp32 there). A precision this CPU has no
   * instructions for still runs, on the path named here (e.g. int8 'generic', bf16 'fallback').
   */
  get kernels(): { precision: Precision; kernel: string } {
    const { precision, cuda } = this.document;
    if (cuda) return { precision, kernel: precision === 'bf16' ? 'cuda bf16' : 'cuda fp32' };
    return { precision, kernel: info().precisions[precision] };
  }

  /** The vocabulary size (the dimension of every SparseVector). */
  get vocabSize(): number {
    return this.document.config.vocabSize;
  }

  /** Token ids of a text as the model sees it (special tokens included, truncated to maxLength). */
  tokenize(text: string, opts: { kind?: EncodeKind; maxLength?: number } = {}): Int32Array {
    expectString(text);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    return enc.tokenizer.encode(text, this.maxLength(enc, kind, opts.maxLength));
  }

  /** Pair encoding for cross-encoders: [CLS] a [SEP] b [SEP] with token type ids. */
  tokenizePair(a: string, b: string, opts: { maxLength?: number } = {}): { ids: Int32Array; typeIds: Int32Array } {
    expectString(a);
    expectString(b);
    return this.document.tokenizer.encodePair(a, b, this.maxLength(this.document, 'document', opts.maxLength));
  }

  private maxLength(enc: Encoder, kind: EncodeKind, maxLength: unknown): number {
    const m = maxLength === undefined ? this.defaultMaxLength[kind] : expectInteger('maxLength', maxLength, 2, 1 << 20);
    return Math.min(m, enc.config.maxPositions);
  }

  async encode(texts: string[], opts: EncodeOptions = {}): Promise<SparseVector[]> {
    if (!Array.isArray(texts)) invalidArgument('texts', 'an array of strings', texts);
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const maxLength = this.maxLength(enc, kind, opts.maxLength);
    const batchSize = opts.batchSize === undefined ? DEFAULT_BATCH : expectInteger('batchSize', opts.batchSize, 1, 1 << 20);
    const pooling = checkPooling(opts.pooling);
    const topK = opts.topK === undefined ? undefined : expectInteger('topK', opts.topK, 1);
    const threshold = opts.threshold === undefined ? 0 : expectFiniteNumber('threshold', opts.threshold);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') invalidArgument(`texts[${i}]`, 'a string', t);
    });
    if (texts.length === 0) return [];
    const seqs = texts.map((t) => enc.tokenizer.encode(t, maxLength));
    const out: SparseVector[] = new Array(texts.length);
    await enc.forward(seqs, null, pooling, batchSize, (i, row) => (out[i] = sparsify(row, threshold, topK)));
    return out;
  }

  /** Encodes token ids as given (special tokens included, no truncation) with the document encoder. */
  async encodeIds(ids: ArrayLike<number>[], opts: { pooling?: Pooling; kind?: EncodeKind } = {}): Promise<SparseVector[]> {
    if (!Array.isArray(ids)) invalidArgument('ids', 'an array of id sequences', ids);
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    const pooling = checkPooling(opts.pooling);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const V = enc.config.vocabSize;
    const seqs = ids.map((s, i) => {
      if (s === null || typeof s !== 'object' || typeof (s as ArrayLike<number>).length !== 'number') {
        invalidArgument(`ids[${i}]`, 'an array of token ids', s);
      }
      if (s.length < 1) invalidArgument(`ids[${i}]`, 'a non-empty sequence', s);
      if (s.length > enc.config.maxPositions) {
        invalidArgument(`ids[${i}]`, `at most ${enc.config.maxPositions} ids (max_position_embeddings)`, `${s.length} ids`);
      }
      const a = Int32Array.from(s as ArrayLike<number>);
      for (let k = 0; k < s.length; k++) {
        const v = s[k];
        if (!Number.isInteger(v) || v < 0 || v >= V) invalidArgument(`ids[${i}][${k}]`, `an integer id in [0, ${V - 1}]`, v);
      }
      return a;
    });
    if (seqs.length === 0) return [];
    const out: SparseVector[] = new Array(seqs.length);
    await enc.forward(seqs, null, pooling, DEFAULT_BATCH, (i, row) => (out[i] = sparsify(row, 0, undefined)));
    return out;
  }

  /**
   * Training path (reference kernels): encodes the id sequences as one batch and backpropagates
   * dLoss/dw = dw (row b, column j: sequence b, term j) to every parameter. Returns the dense vectors
   * (B x V) and the gradients under the parameters' names (views of a gradient arena that the next
   * call overwrites). The trainer builds on this; the tests check it against PyTorch.
   */
  async encodeIdsBackward(ids: ArrayLike<number>[], dw: Float32Array, opts: { pooling?: Pooling; kind?: EncodeKind } = {})
    : Promise<{ vectors: Float32Array; gradients: Map<string, Float32Array> }> {
    const pooling = checkPooling(opts.pooling);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const V = enc.config.vocabSize;
    if (!Array.isArray(ids) || ids.length === 0) invalidArgument('ids', 'a non-empty array of id sequences', ids);
    if (!(dw instanceof Float32Array) || dw.length !== ids.length * V) invalidArgument('dw', `a Float32Array of ${ids.length * V} values`, dw);
    const { ids: packed, cu } = packSequences(ids);
    enc.invalidatePacked();  // a training step follows: the arena is about to change
    return enc.withGradLock(async () => {
      enc.grads ??= new Float32Array(enc.layout.total);
      enc.grads.fill(0);
      const vectors = new Float32Array(ids.length * V);
      await callNativeAsync(() => enc.native.gradients(packed, null, cu, pooling, dw, vectors, enc.grads!));
      return { vectors, gradients: enc.parameters('', enc.grads) };
    });
  }

  /**
   * Training path: dense (B x V) vectors of id sequences (already validated by the caller, special
   * tokens included), run as one batch in the given order. The trainer's first phase (loss on these,
   * then encodeIdsBackward with dLoss/dw).
   * @internal
   */
  async encodeIdsDense(ids: Int32Array[], opts: { pooling?: Pooling; kind?: EncodeKind } = {}): Promise<Float32Array> {
    const pooling = checkPooling(opts.pooling);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const V = enc.config.vocabSize;
    const out = new Float32Array(ids.length * V);
    await enc.forward(ids, null, pooling, Math.max(1, ids.length), (i, row) => out.set(row, i * V), false);
    return out;
  }

  /**
   * The largest dropout probability the checkpoint's config.json asks for (hidden and attention
   * dropout; BERT's hidden_dropout_prob / attention_probs_dropout_prob, DistilBERT's dropout /
   * attention_dropout), over both encoders.
   * @internal
   */
  configDropout(): number {
    let p = 0;
    for (const enc of [this.query, this.document]) {
      const raw = enc.ckpt.rawConfig;
      for (const k of ['hidden_dropout_prob', 'attention_probs_dropout_prob', 'dropout', 'attention_dropout']) {
        const v = raw[k];
        if (typeof v === 'number' && Number.isFinite(v)) p = Math.max(p, v);
      }
    }
    return p;
  }

  /**
   * The encoders as the trainer drives them (lib/train): config, parameter arena and layout, and
   * parameters(prefix, arena) views over an arena-shaped buffer (a gradient). @internal
   */
  trainingEncoders(): { query: TrainingEncoder; document: TrainingEncoder } {
    return { query: this.query, document: this.document };
  }

  /** The longest id sequence either encoder takes (max_position_embeddings). @internal */
  get maxPositions(): number {
    return Math.min(this.query.config.maxPositions, this.document.config.maxPositions);
  }

  /** True when queries and documents share one encoder (one set of weights). @internal */
  get sharedEncoder(): boolean {
    return this.query === this.document;
  }

  /** The top terms of a vector, heaviest first, as vocabulary tokens. */
  /** The document encoder's vocabulary: term id -> token string (what vector indices mean). */
  vocabulary(): string[] {
    const tok = this.document.tokenizer;
    return Array.from({ length: this.document.config.vocabSize }, (_, i) => tok.idToToken(i));
  }

  explain(v: SparseVector, top?: number): { token: string; weight: number }[] {
    if (!v || !(v.indices instanceof Uint32Array) || !(v.values instanceof Float32Array) || v.indices.length !== v.values.length) {
      invalidArgument('v', 'a SparseVector { indices: Uint32Array, values: Float32Array } of equal lengths', v);
    }
    const n = top === undefined ? v.indices.length : expectInteger('top', top, 0);
    const V = this.vocabSize;
    for (let k = 0; k < v.indices.length; k++) {
      if (v.indices[k] >= V) throw new SpladeError(`explain: v.indices[${k}] = ${v.indices[k]} is not below the vocabulary size ${V}`, ErrorCode.outOfRange);
    }
    const order = Array.from(v.indices.keys()).sort((a, b) => v.values[b] - v.values[a] || v.indices[a] - v.indices[b]);
    return order.slice(0, n).map((k) => ({ token: this.document.tokenizer.idToToken(v.indices[k]), weight: v.values[k] }));
  }

  /**
   * Writes the model in the Hugging Face layout (model.safetensors, config.json, tokenizer.json), each
   * file atomically. A model with two distinct encoders writes dir/query and dir/document.
   */
  async save(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path', dir);
    if (this.query === this.document) {
      this.document.ckpt.save(dir);
    } else {
      this.query.ckpt.save(join(dir, 'query'));
      this.document.ckpt.save(join(dir, 'document'));
    }
  }

  /** The arena was written (an optimizer step, views kept from parameters()): repack before encoding. */
  weightsChanged(): void {
    this.query.invalidatePacked();
    this.document.invalidatePacked();
  }

  /**
   * The parameters under their Hugging Face names, as zero-copy views of the arena the kernels read.
   * A model with two distinct encoders prefixes the names with 'query/' and 'document/'.
   * Encoding runs on a packed copy of the weights (fp32 or bf16) made from the arena; calling
   * parameters() drops it. Write through views kept from an earlier call, then call weightsChanged()
   * before the next encode (the Trainer does so after each step).
   */
  parameters(): Map<string, Float32Array> {
    if (this.query === this.document) return this.document.parameters();
    return new Map([...this.query.parameters('query/'), ...this.document.parameters('document/')]);
  }
}

function expectString(v: unknown): void {
  if (typeof v !== 'string') invalidArgument('text', 'a string', v);
}

function expectFiniteNumber(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) invalidArgument(name, 'a finite number', v);
  return v;
}
