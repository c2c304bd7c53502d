// Trainer: SPLADE fine-tuning steps on a SpladeModel (contrastive with hard and in-batch negatives,
// MarginMSE and KL distillation, FLOPS / L1 sparsity regularisation, AdamW, linear LR schedule,
// global-norm clipping), matching PyTorch / transformers step for step (test/train.test.ts checks it
// against test/fixtures/make_train_fixtures.py).
//
// One ranking step: (1) the native training forward of the batch's queries and of its documents to
// dense (B x V) vectors, each keeping its activations in a handle; (2) losses and dLoss/dvectors in
// TypeScript (losses.ts); (3) the native backward of each handle with those dL/dw, accumulating into
// arena-shaped gradient buffers (with one shared encoder both add up in one buffer); (4) clip, AdamW.
// An MLM step (objective 'mlm') runs the masked-LM forward, loss and backward natively in one call.
// The passes go through the encoders' native handles, the same on the CPU and on a model loaded with
// device 'cuda' (training-state.ts); there forward, backward, gradient norm and AdamW run on the device,
// the losses here, the parameters copied back after each update.
import { join } from 'node:path';

import { ErrorCode, SpladeError, expectFinite, expectInteger, expectOneOf, invalidArgument } from '../errors.js';
import { packSequences } from '../model/checkpoint.js';
import { SpladeModel, type TrainingEncoder } from '../model/splade-model.js';
import { noDecay } from './adamw.js';
import {
  averageNnz,
  rankingLossForwardBackward,
  regForwardBackward,
  scores,
  scoresBackward,
} from './losses.js';
import { peakMemoryBytes, resetPeakMemory } from './memory.js';
import { maskTokens } from './mlm.js';
import { lambdaAt, linearWarmupFactor } from './schedule.js';
import { Rng } from '../random.js';
import { readTrainerState, writeTrainerState } from './state.js';
import type { LossName, MlmBatch, ResolvedTrainerOptions, StepStats, TrainBatch, TrainerOptions } from './types.js';
import { TrainingState } from './training-state.js';

export type { LossName, MlmBatch, ResolvedTrainerOptions, StepStats, TrainBatch, TrainerOptions } from './types.js';

const LOSSES = ['contrastive', 'marginmse', 'kldiv'] as const;
const REGS = ['flops', 'l1'] as const;

function resolveOptions(model: SpladeModel, opts: TrainerOptions): ResolvedTrainerOptions {
  if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
  let loss: Array<{ loss: LossName; weight: number }>;
  if (opts.loss === undefined) loss = [{ loss: 'contrastive', weight: 1 }];
  else if (typeof opts.loss === 'string') loss = [{ loss: expectOneOf('loss', opts.loss, LOSSES), weight: 1 }];
  else if (Array.isArray(opts.loss) && opts.loss.length > 0) {
    loss = opts.loss.map((p, k) => {
      if (p === null || typeof p !== 'object') invalidArgument(`loss[${k}]`, 'an object { loss, weight }', p);
      return { loss: expectOneOf(`loss[${k}].loss`, p.loss, LOSSES), weight: expectFinite(`loss[${k}].weight`, p.weight) };
    });
  } else invalidArgument('loss', "'contrastive', 'marginmse', 'kldiv' or a non-empty array of { loss, weight }", opts.loss);
  const bool = (name: string, v: unknown, d: boolean): boolean => {
    if (v === undefined) return d;
    if (typeof v !== 'boolean') invalidArgument(name, 'a boolean', v);
    return v;
  };
  const nonNeg = (name: string, v: unknown, d: number): number => {
    if (v === undefined) return d;
    if (typeof v !== 'number' || !(v >= 0) || Number.isNaN(v)) invalidArgument(name, 'a non-negative number', v);
    return v;
  };
  const positive = (name: string, v: unknown, d: number): number => {
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) invalidArgument(name, 'a positive finite number', v);
    return v;
  };
  const count = (name: string, v: unknown, d: number): number => (v === undefined ? d : expectInteger(name, v, 0));
  const dropout = opts.dropout === undefined ? model.configDropout() : nonNeg('dropout', opts.dropout, 0);
  if (!(dropout < 1)) invalidArgument('dropout', 'a probability in [0, 1)', dropout);
  const maxGradNorm = nonNeg('maxGradNorm', opts.maxGradNorm, 1);
  const r: ResolvedTrainerOptions = {
    loss,
    inBatchNegatives: bool('inBatchNegatives', opts.inBatchNegatives, false),
    temperature: positive('temperature', opts.temperature, 1),
    lambdaQ: nonNeg('lambdaQ', opts.lambdaQ, 0.01),
    lambdaD: nonNeg('lambdaD', opts.lambdaD, 0.008),
    lambdaWarmupSteps: count('lambdaWarmupSteps', opts.lambdaWarmupSteps, 0),
    queryReg: opts.queryReg === undefined ? 'flops' : expectOneOf('queryReg', opts.queryReg, REGS),
    docReg: opts.docReg === undefined ? 'flops' : expectOneOf('docReg', opts.docReg, REGS),
    lr: nonNeg('lr', opts.lr, 2e-5),
    weightDecay: nonNeg('weightDecay', opts.weightDecay, 0.01),
    warmupSteps: count('warmupSteps', opts.warmupSteps, 0),
    totalSteps: opts.totalSteps === undefined || opts.totalSteps === null ? null : expectInteger('totalSteps', opts.totalSteps, 1),
    maxGradNorm: Number.isFinite(maxGradNorm) ? maxGradNorm : 0,
    dropout,
    seed: opts.seed === undefined ? 42 : expectInteger('seed', opts.seed, 0, 2 ** 32 - 1),
    queryTermWeights: opts.queryTermWeights === undefined || opts.queryTermWeights === null ? null : termWeights(model, opts.queryTermWeights),
  };
  if (!Number.isFinite(r.lr) || !Number.isFinite(r.weightDecay) || !Number.isFinite(r.lambdaQ) || !Number.isFinite(r.lambdaD)) {
    invalidArgument('lr, weightDecay, lambdaQ, lambdaD', 'finite numbers', opts);
  }
  return r;
}

function termWeights(model: SpladeModel, w: unknown): number[] {
  const V = model.vocabSize;
  const a = w as ArrayLike<number>;
  if (a === null || typeof a !== 'object' || a.length !== V) invalidArgument('queryTermWeights', `${V} weights (one per vocabulary id)`, w);
  const out = Array.from(a);
  out.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) invalidArgument(`queryTermWeights[${i}]`, 'a finite number >= 0', x);
  });
  return out;
}

/** Inference-free query vectors (B x V): per query, the sum of the weights of its ids. */
function weightedBags(queries: Int32Array[], weights: number[], V: number): Float32Array {
  const Q = new Float32Array(queries.length * V);
  queries.forEach((ids, i) => {
    for (const t of ids) Q[i * V + t] += weights[t];
  });
  return Q;
}

interface CheckedBatch { queries: Int32Array[]; documents: Int32Array[]; B: number; n: number; teacher?: number[][] }
interface CheckedMlmBatch { sequences: Int32Array[]; labels?: Int32Array[] }

function isMlm(batch: TrainBatch | MlmBatch): batch is MlmBatch {
  return batch !== null && typeof batch === 'object' && (batch as MlmBatch).objective === 'mlm';
}

/**
 * Trains a SpladeModel one batch per optimizer step (see TrainerOptions for the exact definitions).
 * step() and computeGradients() take turns on one trainer (a per-trainer lock); the model must not be
 * used for encoding while a step runs (AdamW writes the parameter arena in place). The same seed,
 * batches and thread count give the same bits.
 *
 * On a model loaded with `{ device: 'cuda' }` the steps run on the GPU (fp32 kernels, the CPU's dropout
 * masks; the parameters, gradients and AdamW moments stay on the device, the host arena is brought level
 * after each update), MLM batches included. The public fields m / v are filled from the device by save().
 */
export class Trainer {
  readonly model: SpladeModel;
  readonly options: ResolvedTrainerOptions;
  /** Optimizer steps done. */
  private t = 0;
  private readonly rng: Rng;
  private readonly names: string[];
  private readonly params: Float32Array[];
  private readonly decay: boolean[];
  private readonly grad: Float32Array[];
  /** The encoders (one when shared) and their arena-shaped gradient buffers (this.grad views them). */
  private readonly encoders: Array<{ kind: 'query' | 'document' | 'shared'; enc: TrainingEncoder; grads: Float32Array }>;
  /** AdamW's moments in the optimizer's parameter order, as of the last save() or resume (they live in the encoder handles). */
  readonly m: Float32Array;
  readonly v: Float32Array;
  private mViews: Float32Array[];
  private vViews: Float32Array[];
  /** Gradients kept by computeGradients({ accumulate: true }) for the next step. */
  private pending = false;
  private lock: Promise<unknown> = Promise.resolve();
  /** The passes, gradients and optimizer over the encoders' handles, on their device. */
  private readonly state: TrainingState;

  constructor(model: SpladeModel, opts: TrainerOptions = {}) {
    if (!(model instanceof SpladeModel)) invalidArgument('model', 'a SpladeModel', model);
    this.model = model;
    this.options = resolveOptions(model, opts);
    this.rng = new Rng(this.options.seed);
    const params = model.parameters();
    this.names = [...params.keys()];
    this.params = [...params.values()];
    this.decay = this.names.map((n) => !noDecay(n));
    const total = this.params.reduce((a, p) => a + p.length, 0);
    const { query, document } = model.trainingEncoders();
    this.encoders = query === document
      ? [{ kind: 'shared', enc: document, grads: new Float32Array(document.layout.total) }]
      : [{ kind: 'query', enc: query, grads: new Float32Array(query.layout.total) },
         { kind: 'document', enc: document, grads: new Float32Array(document.layout.total) }];
    const gradViews = new Map<string, Float32Array>();
    for (const e of this.encoders) {
      for (const [name, view] of e.enc.parameters(e.kind === 'shared' ? '' : `${e.kind}/`, e.grads)) gradViews.set(name, view);
    }
    this.grad = this.names.map((name) => {
      const g = gradViews.get(name);
      if (g === undefined) throw new SpladeError(`internal: no gradient buffer for ${name}`, ErrorCode.internal);
      return g;
    });
    this.m = new Float32Array(total);
    this.v = new Float32Array(total);
    const views = (flat: Float32Array) => {
      let off = 0;
      return this.params.map((p) => flat.subarray(off, (off += p.length)));
    };
    this.mViews = views(this.m);
    this.vViews = views(this.v);
    this.state = new TrainingState(this.encoders, { params: this.params, grads: this.grad, m: this.mViews, v: this.vViews, decay: this.decay });
  }

  /** 'cuda' when the steps run on the GPU (the model was loaded with device 'cuda'). */
  get device(): 'cpu' | 'cuda' {
    return this.state.device;
  }

  /** Optimizer steps done so far. */
  get stepCount(): number {
    return this.t;
  }

  /** The parameter names in the order of the optimizer state. */
  get parameterNames(): string[] {
    return [...this.names];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** The learning rate the next optimizer step uses. */
  private currentLr(): number {
    const o = this.options;
    return o.lr * linearWarmupFactor(this.t, o.warmupSteps, o.totalSteps);
  }

  private checkBatch(batch: TrainBatch): CheckedBatch {
    if (batch === null || typeof batch !== 'object') invalidArgument('batch', 'a TrainBatch { queries, documents, teacherScores? }', batch);
    const { queries, documents, teacherScores } = batch;
    if (!Array.isArray(queries) || queries.length === 0) invalidArgument('batch.queries', 'a non-empty array of id sequences', queries);
    if (!Array.isArray(documents) || documents.length !== queries.length) {
      invalidArgument('batch.documents', `an array of ${queries.length} document lists (one per query)`, documents);
    }
    const B = queries.length;
    const n = Array.isArray(documents[0]) ? documents[0].length : 0;
    if (n < 1) invalidArgument('batch.documents[0]', 'a non-empty array of id sequences (positive first)', documents[0]);
    const V = this.model.vocabSize, P = this.model.maxPositions;
    const seq = (name: string, s: unknown): Int32Array => {
      if (!(s instanceof Int32Array) && !Array.isArray(s)) invalidArgument(name, 'an Int32Array of token ids', s);
      const a = s as ArrayLike<number>;
      if (a.length < 1 || a.length > P) invalidArgument(name, `between 1 and ${P} ids (max_position_embeddings)`, `${a.length} ids`);
      for (let k = 0; k < a.length; k++) {
        const id = a[k];
        if (!Number.isInteger(id) || id < 0 || id >= V) invalidArgument(`${name}[${k}]`, `an integer id in [0, ${V - 1}]`, id);
      }
      return s instanceof Int32Array ? s : Int32Array.from(a);
    };
    const qs = queries.map((q, i) => seq(`batch.queries[${i}]`, q));
    const ds: Int32Array[] = [];
    documents.forEach((list, i) => {
      if (!Array.isArray(list) || list.length !== n) {
        invalidArgument(`batch.documents[${i}]`, `an array of ${n} id sequences (every query has as many documents)`, list);
      }
      list.forEach((d, j) => ds.push(seq(`batch.documents[${i}][${j}]`, d)));
    });
    const kinds = new Set(this.options.loss.map((p) => p.loss));
    let teacher: number[][] | undefined;
    if (kinds.has('marginmse') || kinds.has('kldiv')) {
      if (!Array.isArray(teacherScores) || teacherScores.length !== B) {
        invalidArgument('batch.teacherScores', `a ${B} x ${n} array of teacher scores (the marginmse / kldiv losses need them)`, teacherScores);
      }
      teacher = teacherScores.map((row, i) => {
        if (!Array.isArray(row) || row.length !== n) invalidArgument(`batch.teacherScores[${i}]`, `an array of ${n} numbers`, row);
        return row.map((x, j) => expectFinite(`batch.teacherScores[${i}][${j}]`, x));
      });
    }
    if (kinds.has('marginmse') && n < 2) {
      invalidArgument('batch.documents', 'at least 2 documents per query (a positive and a negative) for marginmse', documents);
    }
    return { queries: qs, documents: ds, B, n, teacher };
  }

  private checkMlmBatch(batch: MlmBatch): CheckedMlmBatch {
    const { sequences, labels } = batch;
    if (!Array.isArray(sequences) || sequences.length === 0) invalidArgument('batch.sequences', 'a non-empty array of id sequences', sequences);
    const V = this.model.vocabSize, P = this.model.maxPositions;
    const seqs = sequences.map((s, i) => {
      const name = `batch.sequences[${i}]`;
      if (!(s instanceof Int32Array) && !Array.isArray(s)) invalidArgument(name, 'an Int32Array of token ids', s);
      const a = s as ArrayLike<number>;
      if (a.length < 1 || a.length > P) invalidArgument(name, `between 1 and ${P} ids (max_position_embeddings)`, `${a.length} ids`);
      for (let k = 0; k < a.length; k++) {
        if (!Number.isInteger(a[k]) || a[k] < 0 || a[k] >= V) invalidArgument(`${name}[${k}]`, `an integer id in [0, ${V - 1}]`, a[k]);
      }
      return Int32Array.from(a);
    });
    if (labels === undefined) return { sequences: seqs };
    if (!Array.isArray(labels) || labels.length !== seqs.length) invalidArgument('batch.labels', `an array of ${seqs.length} label sequences`, labels);
    const labs = labels.map((l, i) => {
      const name = `batch.labels[${i}]`;
      if ((!(l instanceof Int32Array) && !Array.isArray(l)) || l.length !== seqs[i].length) {
        invalidArgument(name, `${seqs[i].length} labels (as many as batch.sequences[${i}] has ids)`, l);
      }
      return Int32Array.from(l as ArrayLike<number>, (x, k) => {
        if (x === -1 || x === -100) return -1;
        if (!Number.isInteger(x) || x < 0 || x >= V) invalidArgument(`${name}[${k}]`, `a label in [0, ${V - 1}], or -1 / -100 (none)`, x);
        return x;
      });
    });
    return { sequences: seqs, labels: labs };
  }

  /** A dropout seed for one native call (drawn only when dropout is on, so dropout 0 draws nothing). */
  private dropoutSeed(): number {
    if (this.options.dropout === 0) return 0;
    return (this.rng.nextU32() & 0x1fffff) * 4294967296 + this.rng.nextU32();
  }

  /** The MLM step's forward, loss and backward: gradients added into the encoders' buffers. */
  private async accumulateMlm(batch: CheckedMlmBatch): Promise<StepStats> {
    const o = this.options, t = this.t + 1;
    let labels = batch.labels, inputs = batch.sequences;
    if (labels === undefined) {
      const vocab = this.model.vocabulary();
      const maskId = vocab.indexOf('[MASK]');
      if (maskId < 0) throw new SpladeError('mlm: the vocabulary has no [MASK] token; pass batch.labels with pre-masked sequences', ErrorCode.invalidArgument);
      const special = new Set(['[CLS]', '[SEP]', '[PAD]', '[MASK]'].map((tok) => vocab.indexOf(tok)).filter((id) => id >= 0));
      const masked = inputs.map((s) => maskTokens(s, this.rng, vocab.length, maskId, special));
      inputs = masked.map((m) => m.inputs);
      labels = masked.map((m) => m.labels);
    }
    const { ids, cu } = packSequences(inputs);
    const flatLabels = packSequences(labels).ids;
    let loss = 0, count = 0;
    this.state.beginStep();
    for (const e of this.encoders) {
      const r = await this.state.mlm(e.enc, ids, cu, flatLabels, o.dropout, this.dropoutSeed());
      loss += r.loss / this.encoders.length;
      count = r.count;
    }
    return {
      step: t, loss, rankingLoss: 0, regQ: 0, regD: 0,
      lambdaQ: lambdaAt(o.lambdaQ, t, o.lambdaWarmupSteps), lambdaD: lambdaAt(o.lambdaD, t, o.lambdaWarmupSteps),
      lr: this.currentLr(), gradNorm: 0, nnzQ: 0, nnzD: 0, peakMemoryBytes: 0, mlmLoss: loss, maskedTokens: count,
    };
  }

  /** Forward, losses, backward: gradients added into this.grad. Returns the stats (gradNorm, lr unset). */
  private async accumulate(batch: CheckedBatch | CheckedMlmBatch): Promise<StepStats> {
    if ('sequences' in batch) return this.accumulateMlm(batch);
    const o = this.options, V = this.model.vocabSize;
    const { B, n } = batch;
    const C = B * n;
    const t = this.t + 1;
    const encQ = this.encoders[0], encD = this.encoders[this.encoders.length - 1];
    type Encoder = (typeof this.encoders)[number];
    // a dropout seed per pass (the same draws on both devices)
    const forward = (e: Encoder, seqs: Int32Array[], out: Float32Array) => {
      const { ids, cu } = packSequences(seqs);
      return this.state.forward(e.enc, ids, cu, out, o.dropout, this.dropoutSeed());
    };
    this.state.beginStep();
    // inference-free queries: weighted bags, no query encoder pass
    const fixedQ = o.queryTermWeights;
    const D = new Float32Array(C * V);
    const Q = fixedQ ? weightedBags(batch.queries, fixedQ, V) : new Float32Array(B * V);
    const hQ = fixedQ ? null : await forward(encQ, batch.queries, Q);
    const hD = await forward(encD, batch.documents, D);
    const S = scores(Q, D, B, C, V);
    const dS = new Float64Array(B * C);
    let rankingLoss = 0;
    for (const part of o.loss) {
      rankingLoss += part.weight * rankingLossForwardBackward(part.loss, S, dS, B, n, {
        temperature: o.temperature, inBatchNegatives: o.inBatchNegatives, teacher: batch.teacher, weight: part.weight,
      });
    }
    const dQ = new Float32Array(B * V), dD = new Float32Array(C * V);
    scoresBackward(dQ, dD, dS, Q, D, B, C, V);
    const lambdaQ = lambdaAt(o.lambdaQ, t, o.lambdaWarmupSteps);
    const lambdaD = lambdaAt(o.lambdaD, t, o.lambdaWarmupSteps);
    const regQ = fixedQ ? 0 : regForwardBackward(o.queryReg, Q, dQ, B, V, lambdaQ);
    const regD = regForwardBackward(o.docReg, D, dD, C, V, lambdaD);
    if (hQ) await this.state.backward(encQ.enc, hQ, dQ);
    await this.state.backward(encD.enc, hD, dD);
    return {
      step: t, loss: rankingLoss + lambdaQ * regQ + lambdaD * regD, rankingLoss, regQ, regD, lambdaQ, lambdaD,
      lr: this.currentLr(), gradNorm: 0, nnzQ: averageNnz(Q, B, V), nnzD: averageNnz(D, C, V), peakMemoryBytes: 0,
    };
  }

  /**
   * Loss and gradients of one batch, without updating anything. The gradients are copies, under the
   * names of SpladeModel.parameters(). With `accumulate: true` they are added to those of earlier
   * accumulate calls (and returned summed); the next step() adds its own batch's gradients to them
   * and applies the sum (gradient accumulation: sums, not means). Without it, any accumulated
   * gradients are discarded first.
   */
  computeGradients(batch: TrainBatch | MlmBatch, opts: { accumulate?: boolean } = {})
    : Promise<StepStats & { gradients: Map<string, Float32Array> }> {
    const accumulate = opts?.accumulate ?? false;
    if (typeof accumulate !== 'boolean') invalidArgument('accumulate', 'a boolean', accumulate);
    const checked = isMlm(batch) ? this.checkMlmBatch(batch) : this.checkBatch(batch);
    return this.serial(async () => {
      resetPeakMemory();
      if (!this.pending) await this.state.zeroGrads();
      this.pending = false;
      let stats: StepStats;
      try {
        stats = await this.accumulate(checked);
      } catch (err) {
        await this.state.zeroGrads();
        throw err;
      }
      this.pending = accumulate;
      await this.state.readGrads();
      const gradients = new Map(this.names.map((name, k) => [name, this.grad[k].slice()]));
      return { ...stats, gradNorm: await this.state.optimizer.gradNorm(), peakMemoryBytes: peakMemoryBytes(), gradients };
    });
  }

  /** Gradients of the batch (plus any accumulated ones), clipping, one AdamW update, schedules. */
  step(batch: TrainBatch | MlmBatch): Promise<StepStats> {
    const checked = isMlm(batch) ? this.checkMlmBatch(batch) : this.checkBatch(batch);
    return this.serial(async () => {
      resetPeakMemory();
      if (!this.pending) await this.state.zeroGrads();
      this.pending = false;
      try {
        const stats = await this.accumulate(checked);
        const lr = this.currentLr();
        const t = this.t + 1;
        const o = { lr, weightDecay: this.options.weightDecay, maxGradNorm: this.options.maxGradNorm, step: t };
        const gradNorm = await this.state.optimizer.step(o);
        this.t = t;
        this.model.weightsChanged();  // encode() between steps must not run the packed weights of before
        return { ...stats, lr, gradNorm, peakMemoryBytes: peakMemoryBytes() };
      } finally {
        await this.state.zeroGrads();
      }
    });
  }

  /**
   * Saves everything a bit-exact continuation needs: dir/model (SpladeModel.save, Hugging Face
   * layout), dir/optimizer.bin (AdamW moments), dir/trainer.json (options, step, RNG state), each
   * file written atomically, trainer.json last.
   */
  save(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path', dir);
    return this.serial(async () => {
      if (this.pending) {
        throw new SpladeError('save: accumulated gradients are pending; call step() first', ErrorCode.invalidArgument);
      }
      await this.model.save(join(dir, 'model'));
      await this.state.optimizer.readMoments();
      writeTrainerState(dir, {
        options: this.options, step: this.t, rng: this.rng.state(),
        names: this.names, sizes: this.params.map((p) => p.length), m: this.m, v: this.v,
      });
    });
  }

  /**
   * Loads a directory written by save() and continues where it stopped, on the CPU or (device 'cuda')
   * on the GPU; a run saved on one device continues on either.
   */
  static async resume(dir: string, opts: { threads?: number; device?: 'cpu' | 'cuda' } = {}): Promise<Trainer> {
    if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a directory path', dir);
    const device = opts.device === undefined ? 'cpu' : expectOneOf('device', opts.device, ['cpu', 'cuda'] as const);
    const state = readTrainerState(dir);
    const model = await SpladeModel.load(join(dir, 'model'), { threads: opts.threads, device });
    const trainer = new Trainer(model, { ...state.options, totalSteps: state.options.totalSteps ?? undefined, queryTermWeights: state.options.queryTermWeights ?? undefined });
    const sizes = trainer.params.map((p) => p.length);
    if (state.names.length !== trainer.names.length || state.names.some((n, k) => n !== trainer.names[k] || state.sizes[k] !== sizes[k])) {
      throw new SpladeError(`${join(dir, 'optimizer.bin')}: the optimizer state does not match the model's parameters`, ErrorCode.corruptFile);
    }
    trainer.m.set(state.m);
    trainer.v.set(state.v);
    await trainer.state.optimizer.writeMoments();
    trainer.t = state.step;
    trainer.rng.setState(state.rng);
    return trainer;
  }

  /** A draw from the trainer's random number generator (the one dropout seeds and MLM masks come from); seeded by `seed`. */
  random(): number {
    return this.rng.next();
  }
}
