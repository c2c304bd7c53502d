// SpladeModel: load a Hugging Face masked-LM checkpoint (or two: query and document encoders), encode
// texts or token ids into SPLADE sparse vectors, explain them, save them back in the same layout.
// TypeScript validates and orchestrates (tokenising, length-bucketed batching, sparsifying); the
// native encoder runs the forward pass in a worker thread over a parameter arena allocated here, so
// parameters() are zero-copy views of the very floats the kernels read.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { ErrorCode, SpladeError, callNative, callNativeAsync, expectInteger, expectOneOf, invalidArgument } from '../errors.js';
import { assertCudaUsable, createCudaEncoder } from './cuda-encoder.js';
import { InFlight } from '../in-flight.js';
import { info, setThreads } from '../info.js';
import type { SparseVector } from '../sparse.js';
import { Checkpoint, lengthSortedBatches, packSequences } from './checkpoint.js';
import { type EncoderConfig, parseConfig } from './config.js';
import { type EncoderHandle, encoderAddon } from './native-encoder.js';
import { resolveModel } from './hub.js';
import { QueryWeights } from './query-weights.js';
import { type MlmRoute, type SparseEncoderLayout, readSparseEncoderDir, writeSparseEncoderDir } from './sentence-transformers.js';
import { SpladeTokenizer } from './tokenizer.js';
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
  /**
   * kind 'query' on a model with query weights of its own (an OpenSearch idf.json, a SparseEncoder's
   * SparseStaticEmbedding): true (default) weighs the query's tokens by them with no encoder pass;
   * false runs the query encoder instead. Ignored for models without query weights.
   */
  queryWeights?: boolean;
}

export interface SaveOptions {
  /**
   * 'huggingface' (default): config.json, model.safetensors, tokenizer files (and idf.json for a model
   * with query weights); 'sentence-transformers': a sentence-transformers v5 SparseEncoder directory.
   */
  format?: 'huggingface' | 'sentence-transformers';
}

/** How one side (query or document) turns text into a vector beyond the encoder (SparseEncoder settings). */
interface Route {
  pooling: Pooling;              // default pooling
  log1p: boolean;                // SpladePooling's log1p_relu: one more log1p over the pooled vector
  prompt: string;                // prefixed to each text
  lowerCase: boolean;            // sentence_bert_config's do_lower_case
}
const PLAIN_ROUTE: Route = { pooling: 'max', log1p: false, prompt: '', lowerCase: false };

export const DEFAULT_MAX_LENGTH = 256;
const DEFAULT_BATCH = 32;

/** What the trainer needs of one encoder (SpladeModel.trainingEncoders). @internal */
export interface TrainingEncoder {
  readonly config: EncoderConfig;
  readonly layout: Layout;
  readonly arena: Float32Array;
  /** The encoder handle (CPU or GPU): the training passes, the gradients and the optimizer's moments. */
  readonly native: EncoderHandle;
  /** Where the handle runs (on 'cuda' its parameters are a device copy of the arena). */
  readonly device: 'cpu' | 'cuda';
  parameters(prefix?: string, arena?: Float32Array): Map<string, Float32Array>;
}

/** One encoder: its checkpoint (config, tokenizer, parameter arena) and the native handle over the arena. */
class Encoder {
  constructor(
    readonly ckpt: Checkpoint,
    readonly native: EncoderHandle,
    readonly precision: Precision,
    readonly device: 'cpu' | 'cuda' = 'cpu',
  ) {}

  get config(): EncoderConfig { return this.ckpt.config; }
  get layout(): Layout { return this.ckpt.layout; }
  get arena(): Float32Array { return this.ckpt.arena; }
  get tokenizer(): SpladeTokenizer { return this.ckpt.tokenizer; }

  /**
   * The packed inference weights (the handle's prepare) as of the arena's last known state; dropped
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
    if (ckpt.config.arch === 'modernbert' && (device !== 'cpu' || precision !== 'fp32'))
      throw new SpladeError(`${dir}: ModernBERT models run on the CPU in fp32 only`, ErrorCode.unsupported);
    if (device === 'cuda') {
      return new Encoder(ckpt, createCudaEncoder(ckpt.config, ckpt.arena), precision, 'cuda');
    }
    return new Encoder(ckpt, callNative(() => new addon.Encoder(ckpt.config, ckpt.arena)), precision);
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
    // One batch in the native threads while this thread hands the previous one's rows to onRow
    // (sparsifying 32 x V floats is JavaScript work that would otherwise leave the cores idle).
    let done: { idx: number[]; out: Float32Array } | null = null;
    for (const idx of lengthSortedBatches(seqs.map((s) => s.length), batchSize)) {
      const { ids, typeIds: types, cu } = packSequences(idx.map((i) => seqs[i]), typeIds && idx.map((i) => typeIds[i]));
      const out = new Float32Array(idx.length * V);
      const running = callNativeAsync(() => this.native.forward(ids, types, cu, pooling, false, out, null, inference));
      try {
        if (done) emitRows(done.idx, done.out, V, onRow);
      } finally {
        await running;
      }
      done = { idx, out };
    }
    if (done) emitRows(done.idx, done.out, V, onRow);
  }
}

function emitRows(idx: number[], out: Float32Array, V: number, onRow: (i: number, row: Float32Array) => void): void {
  idx.forEach((i, k) => onRow(i, out.subarray(k * V, (k + 1) * V)));
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

/** sparsify's threshold and topK on a vector already sparse. */
function sparsifySparse(v: SparseVector, threshold: number, topK: number | undefined): SparseVector {
  let keep = Array.from(v.indices.keys()).filter((k) => v.values[k] > threshold);
  if (topK !== undefined && keep.length > topK) {
    keep.sort((a, b) => v.values[b] - v.values[a] || a - b);
    keep = keep.slice(0, topK).sort((a, b) => a - b);
  }
  return { indices: Uint32Array.from(keep, (k) => v.indices[k]), values: Float32Array.from(keep, (k) => v.values[k]) };
}

function checkPooling(pooling: unknown): Pooling {
  return pooling === undefined ? 'max' : expectOneOf('pooling', pooling, ['max', 'sum'] as const);
}

export class SpladeModel {
  private readonly calls: InFlight;

  private constructor(
    private readonly query: Encoder,
    private readonly document: Encoder,
    private readonly defaultMaxLength: { query: number; document: number },
    private readonly routes: { query: Route; document: Route } = { query: PLAIN_ROUTE, document: PLAIN_ROUTE },
    /** Inference-free query weights (idf.json or a SparseStaticEmbedding), or null. */
    private readonly staticQuery: QueryWeights | null = null,
    /** SparseEncoder's max_active_dims: encode()'s default topK. */
    private readonly maxActiveDims?: number,
  ) {
    this.calls = new InFlight('SpladeModel', () => new Set([query, document]).forEach((e) => e.native.dispose()));
  }

  /**
   * Frees the native memory (the packed inference weights, the gradient arena; device memory on
   * 'cuda') now rather than when the garbage collector gets to it; later calls throw
   * ERR_SPLADE_INVALID_ARGUMENT. Encodes in flight finish first.
   */
  dispose(): void {
    this.calls.dispose();
  }
  [Symbol.dispose](): void { this.dispose(); }

  /**
   * Loads a checkpoint directory (config.json, weights, tokenizer.json), or two: `{ query, document }`.
   * A Hugging Face hub id ("org/name") that is not a local path is looked up in the Hugging Face cache
   * and downloaded there when missing (see hub.ts).
   * A directory holding `query/` and `document/` (as save() writes a two-encoder model) loads both.
   * A sentence-transformers SparseEncoder directory (modules.json) loads its MLMTransformer routes with
   * their SpladePooling settings, its inference-free SparseStaticEmbedding query route and
   * max_active_dims (sentence-transformers.ts); an idf.json beside a plain checkpoint (OpenSearch's
   * inference-free models) gives the query weights (query-weights.ts).
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
    let st: SparseEncoderLayout | undefined;
    if (typeof dir === 'string') {
      const d = resolve(await local(dir));
      st = readSparseEncoderDir(d);
      if (st) {
        dDir = st.document.dir;
        qDir = 'staticDir' in st.query ? dDir : st.query.dir;
      } else if (!existsSync(join(d, 'config.json')) && existsSync(join(d, 'query', 'config.json')) && existsSync(join(d, 'document', 'config.json'))) {
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
    const V = document.config.vocabSize;
    if (!st) return new SpladeModel(query, document, defaults, undefined, QueryWeights.readIdfJson(qDir, query.tokenizer, V));
    const route = (r: MlmRoute): Route => ({ pooling: r.pooling, log1p: r.activation === 'log1p_relu', prompt: '', lowerCase: r.lowerCase });
    const routes = { document: { ...route(st.document), prompt: st.prompts.document }, query: { ...PLAIN_ROUTE, prompt: st.prompts.query } };
    let staticQuery: QueryWeights | null = null;
    if ('staticDir' in st.query) {
      const sd = st.query.staticDir;
      const tok = existsSync(join(sd, 'tokenizer.json')) ? SpladeTokenizer.load(sd) : document.tokenizer;
      staticQuery = await QueryWeights.readStaticEmbedding(sd, tok, V);
    } else {
      routes.query = { ...route(st.query), prompt: st.prompts.query };
    }
    // sentence_bert_config's max_seq_length: the default truncation where load() was given none
    const seqLen = (r: SparseEncoderLayout['document'] | SparseEncoderLayout['query'], kind: EncodeKind) =>
      ml[kind] === undefined && 'maxSeqLength' in r && r.maxSeqLength !== undefined ? r.maxSeqLength : defaults[kind];
    const lengths = { query: seqLen(st.query, 'query'), document: seqLen(st.document, 'document') };
    return new SpladeModel(query, document, lengths, routes, staticQuery, st.maxActiveDims);
  }

  /** True when encode(texts, { kind: 'query' }) uses the model's own query weights (no encoder pass). */
  get hasQueryWeights(): boolean {
    return this.staticQuery !== null;
  }

  /**
   * The model's inference-free query vector of a text (idf.json or SparseStaticEmbedding weights of its
   * distinct tokens, truncated as encode() would); null when the model has no query weights.
   */
  queryWeightsVector(text: string, opts: { maxLength?: number } = {}): SparseVector | null {
    expectString(text);
    if (!this.staticQuery) return null;
    const maxLength = this.maxLength(this.query, 'query', opts.maxLength);
    return this.staticQuery.query(this.routeText(text, 'query'), maxLength);
  }

  /** A text as the route feeds it to the tokenizer: prompt prefixed, lower-cased where configured. */
  private routeText(text: string, kind: EncodeKind): string {
    const r = this.routes[kind];
    return r.prompt + (r.lowerCase ? text.toLowerCase() : text);
  }

  /**
   * The precision encode() runs in and the kernels that take it on this machine now (info().precisions;
   * on 'cuda': 'cuda fp32' or 'cuda bf16', int8 running as fp32 there). A precision this CPU has no
   * instructions for still runs, on the path named here (e.g. int8 'generic', bf16 'fallback').
   */
  get kernels(): { precision: Precision; kernel: string } {
    const { precision, device } = this.document;
    if (device === 'cuda') return { precision, kernel: precision === 'bf16' ? 'cuda bf16' : 'cuda fp32' };
    return { precision, kernel: info().precisions[precision] };
  }

  /** The vocabulary size (the dimension of every SparseVector). */
  get vocabSize(): number {
    return this.document.config.vocabSize;
  }

  /** Token ids of a text as the model sees it (special tokens included, truncated to maxLength). */
  tokenize(text: string, opts: { kind?: EncodeKind; maxLength?: number } = {}): Int32Array {
    this.calls.check();
    expectString(text);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    return enc.tokenizer.encode(text, this.maxLength(enc, kind, opts.maxLength));
  }

  /** Pair encoding for cross-encoders: [CLS] a [SEP] b [SEP] with token type ids. */
  tokenizePair(a: string, b: string, opts: { maxLength?: number } = {}): { ids: Int32Array; typeIds: Int32Array } {
    this.calls.check();
    expectString(a);
    expectString(b);
    return this.document.tokenizer.encodePair(a, b, this.maxLength(this.document, 'document', opts.maxLength));
  }

  private maxLength(enc: Encoder, kind: EncodeKind, maxLength: unknown): number {
    const m = maxLength === undefined ? this.defaultMaxLength[kind] : expectInteger('maxLength', maxLength, 2, 1 << 20);
    return Math.min(m, enc.config.maxPositions);
  }

  async encode(texts: string[], opts: EncodeOptions = {}): Promise<SparseVector[]> {
    return this.calls.run(() => this.encodeTexts(texts, opts));
  }

  private async encodeTexts(texts: string[], opts: EncodeOptions): Promise<SparseVector[]> {
    if (!Array.isArray(texts)) invalidArgument('texts', 'an array of strings', texts);
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const route = this.routes[kind];
    const maxLength = this.maxLength(enc, kind, opts.maxLength);
    const batchSize = opts.batchSize === undefined ? DEFAULT_BATCH : expectInteger('batchSize', opts.batchSize, 1, 1 << 20);
    const pooling = opts.pooling === undefined ? route.pooling : checkPooling(opts.pooling);
    if (route.log1p && pooling !== 'max') {
      throw new SpladeError("this model's SpladePooling applies log1p_relu, which is implemented for max pooling only", ErrorCode.unsupported);
    }
    const topK = opts.topK === undefined ? this.maxActiveDims : expectInteger('topK', opts.topK, 1);
    const threshold = opts.threshold === undefined ? 0 : expectFiniteNumber('threshold', opts.threshold);
    if (opts.queryWeights !== undefined && typeof opts.queryWeights !== 'boolean') invalidArgument('queryWeights', 'a boolean', opts.queryWeights);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') invalidArgument(`texts[${i}]`, 'a string', t);
    });
    if (texts.length === 0) return [];
    if (kind === 'query' && this.staticQuery && opts.queryWeights !== false) {
      const weights = this.staticQuery;
      return texts.map((t) => {
        const v = weights.query(this.routeText(t, kind), maxLength);
        return sparsifySparse(v, threshold, topK);
      });
    }
    const tokenize = (t: string) => enc.tokenizer.encode(this.routeText(t, kind), maxLength);
    const out: SparseVector[] = new Array(texts.length);
    // Texts in groups of a few batches, the next group tokenized (on this thread, in slices) while the
    // native threads encode this one: tokenizing is a twentieth of a small model's time, idle cores
    // otherwise. The native forward packs sequences without padding, so sorting by length within a
    // group rather than over all texts costs nothing.
    const group = batchSize * TOKENIZE_GROUP_BATCHES;
    let next: Promise<Int32Array[]> | null = tokenizeYielding(texts.slice(0, group), tokenize);
    for (let g0 = 0; g0 < texts.length; g0 += group) {
      const seqs = await next!;
      next = g0 + group < texts.length ? tokenizeYielding(texts.slice(g0 + group, g0 + 2 * group), tokenize) : null;
      next?.catch(() => undefined);  // handled here; awaited (and thrown) at the next group
      try {
        await enc.forward(seqs, null, pooling, batchSize, (i, row) => {
          if (route.log1p) for (let j = 0; j < row.length; j++) row[j] = Math.log1p(row[j]);  // max pooling: log1p of the max
          out[g0 + i] = sparsify(row, threshold, topK);
        });
      } catch (e) {
        await next?.catch(() => undefined);  // no tokenization left running behind the error
        throw e;
      }
    }
    return out;
  }

  /** Encodes token ids as given (special tokens included, no truncation) with the document encoder. */
  async encodeIds(ids: ArrayLike<number>[], opts: { pooling?: Pooling; kind?: EncodeKind } = {}): Promise<SparseVector[]> {
    return this.calls.run(() => this.encodeIdSequences(ids, opts));
  }

  private async encodeIdSequences(ids: ArrayLike<number>[], opts: { pooling?: Pooling; kind?: EncodeKind }): Promise<SparseVector[]> {
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
    this.calls.check();
    const pooling = checkPooling(opts.pooling);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const V = enc.config.vocabSize;
    if (!Array.isArray(ids) || ids.length === 0) invalidArgument('ids', 'a non-empty array of id sequences', ids);
    if (!(dw instanceof Float32Array) || dw.length !== ids.length * V) invalidArgument('dw', `a Float32Array of ${ids.length * V} values`, dw);
    const { ids: packed, cu } = packSequences(ids);
    enc.invalidatePacked();  // a training step follows: the arena is about to change
    return this.calls.run(() => enc.withGradLock(async () => {
      enc.grads ??= new Float32Array(enc.layout.total);
      enc.grads.fill(0);
      const vectors = new Float32Array(ids.length * V);
      await callNativeAsync(() => enc.native.gradients(packed, null, cu, pooling, dw, vectors, enc.grads!));
      return { vectors, gradients: enc.parameters('', enc.grads) };
    }));
  }

  /**
   * Training path: dense (B x V) vectors of id sequences (already validated by the caller, special
   * tokens included), run as one batch in the given order. The trainer's first phase (loss on these,
   * then encodeIdsBackward with dLoss/dw).
   * @internal
   */
  async encodeIdsDense(ids: Int32Array[], opts: { pooling?: Pooling; kind?: EncodeKind } = {}): Promise<Float32Array> {
    this.calls.check();
    const pooling = checkPooling(opts.pooling);
    const kind = opts.kind === undefined ? 'document' : expectOneOf('kind', opts.kind, ['query', 'document'] as const);
    const enc = kind === 'query' ? this.query : this.document;
    const V = enc.config.vocabSize;
    const out = new Float32Array(ids.length * V);
    await this.calls.run(() => enc.forward(ids, null, pooling, Math.max(1, ids.length), (i, row) => out.set(row, i * V), false));
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
    this.calls.check();
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
    this.calls.check();
    const tok = this.document.tokenizer;
    return Array.from({ length: this.document.config.vocabSize }, (_, i) => tok.idToToken(i));
  }

  explain(v: SparseVector, top?: number): { token: string; weight: number }[] {
    this.calls.check();
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
  async save(dir: string, opts: SaveOptions = {}): Promise<void> {
    this.calls.check();
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path', dir);
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    const format = opts.format === undefined ? 'huggingface' : expectOneOf('format', opts.format, ['huggingface', 'sentence-transformers'] as const);
    if (format === 'sentence-transformers') return this.saveSparseEncoder(dir);
    if (this.query === this.document) {
      this.document.ckpt.save(dir);
      this.staticQuery?.writeIdfJson(dir);
    } else {
      this.query.ckpt.save(join(dir, 'query'));
      this.document.ckpt.save(join(dir, 'document'));
      this.staticQuery?.writeIdfJson(join(dir, 'query'));
    }
  }

  private saveSparseEncoder(dir: string): void {
    const writer = (enc: Encoder, kind: EncodeKind) => ({
      saveCheckpoint: (d: string) => enc.ckpt.save(d),
      pooling: this.routes[kind].pooling,
      activation: this.routes[kind].log1p ? 'log1p_relu' as const : 'relu' as const,
      vocabSize: this.vocabSize,
      maxSeqLength: Math.min(this.defaultMaxLength[kind], enc.config.maxPositions),
      lowerCase: this.routes[kind].lowerCase,
    });
    const q = this.routes.query, d = this.routes.document;
    const shared = this.query === this.document && !this.staticQuery && q.pooling === d.pooling && q.log1p === d.log1p &&
      q.lowerCase === d.lowerCase && this.defaultMaxLength.query === this.defaultMaxLength.document;
    const staticQuery = this.staticQuery;
    writeSparseEncoderDir(dir, {
      document: writer(this.document, 'document'),
      query: shared ? null : staticQuery ? { writeStatic: (d: string) => staticQuery.writeStaticEmbedding(d) } : writer(this.query, 'query'),
      maxActiveDims: this.maxActiveDims,
      prompts: { query: this.routes.query.prompt, document: this.routes.document.prompt },
    });
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
    this.calls.check();
    if (this.query === this.document) return this.document.parameters();
    return new Map([...this.query.parameters('query/'), ...this.document.parameters('document/')]);
  }
}

/** Main-thread time tokenization may take before it lets the event loop run (timers, I/O, other requests). */
const TOKENIZE_SLICE_MS = 10;
const TOKENIZE_GROUP_BATCHES = 4;

/** Tokenizes texts in order, yielding to the event loop every TOKENIZE_SLICE_MS (10k texts take seconds). */
async function tokenizeYielding(texts: string[], tokenize: (t: string) => Int32Array): Promise<Int32Array[]> {
  const out: Int32Array[] = new Array(texts.length);
  let sliceStart = performance.now();
  for (let i = 0; i < texts.length; i++) {
    out[i] = tokenize(texts[i]);
    if (performance.now() - sliceStart > TOKENIZE_SLICE_MS) {
      await new Promise((r) => setImmediate(r));
      sliceStart = performance.now();
    }
  }
  return out;
}

function expectString(v: unknown): void {
  if (typeof v !== 'string') invalidArgument('text', 'a string', v);
}

function expectFiniteNumber(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) invalidArgument(name, 'a finite number', v);
  return v;
}
