// Fine-tuning a cross-encoder teacher on a user's own judgments, with the SPLADE Trainer's machinery
// (native forward/backward, AdamW as torch.optim.AdamW with no decay on biases and LayerNorm weights,
// transformers' linear schedule with warm-up, clip_grad_norm_, seeded dropout masks):
//   pointwise: binary cross-entropy with logits of every (query, passage) pair against its label in
//              [0, 1] (sentence-transformers' CrossEncoder default, torch.nn.BCEWithLogitsLoss);
//   listwise:  per query, the softmax cross-entropy over its passages' logits with the first passage
//              the positive (the localized-contrastive loss of rerankers), mean over queries.
// A batch is { queries, passages, labels? }: passages[i] are query i's candidates; labels[i][j] (pointwise)
// grades passages[i][j].
import { ErrorCode, SpladeError, expectOneOf, invalidArgument } from '../errors.js';
import type { CrossEncoder } from '../model/cross-encoder.js';
import { adamwStep, noDecay, trainAddon } from './adamw.js';
import { Rng } from '../random.js';
import { linearWarmupFactor } from './schedule.js';

export type CrossLossName = 'pointwise' | 'listwise';

export interface CrossTrainBatch {
  queries: string[];
  /** passages[i]: query i's candidates (listwise: the first is the positive). */
  passages: string[][];
  /** labels[i][j] in [0, 1] for passages[i][j] (pointwise; required there). */
  labels?: number[][];
}

export interface CrossTrainerOptions {
  loss?: CrossLossName;             // default 'pointwise'
  lr?: number;                      // default 2e-5
  weightDecay?: number;             // default 0.01
  warmupSteps?: number;             // default 0
  totalSteps?: number;              // default: none (constant after warm-up)
  maxGradNorm?: number;             // default 1; 0: no clipping
  /** Default: the checkpoint's hidden_dropout_prob / attention_probs_dropout_prob (the larger). */
  dropout?: number;
  maxLength?: number;               // tokens per pair, default 512 (capped at the model's positions)
  seed?: number;                    // default 42
}

export interface CrossStepStats { step: number; loss: number; lr: number; gradNorm: number; pairs: number }

function finiteNonNeg(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) invalidArgument(name, 'a finite number >= 0', v);
  return v as number;
}

export class CrossEncoderTrainer {
  private readonly addon = trainAddon();
  private readonly loss: CrossLossName;
  private readonly lr: number;
  private readonly weightDecay: number;
  private readonly warmupSteps: number;
  private readonly totalSteps: number | null;
  private readonly maxGradNorm: number;
  private readonly dropout: number;
  private readonly maxLength: number;
  private readonly rng: Rng;
  private readonly grads: Float32Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly params: Float32Array[];
  private readonly gradViews: Float32Array[];
  private readonly mViews: Float32Array[];
  private readonly vViews: Float32Array[];
  private readonly decay: boolean[];
  private t = 0;
  private busy = false;

  constructor(readonly model: CrossEncoder, opts: CrossTrainerOptions = {}) {
    if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object', opts);
    this.loss = opts.loss === undefined ? 'pointwise' : expectOneOf('loss', opts.loss, ['pointwise', 'listwise'] as const);
    this.lr = opts.lr === undefined ? 2e-5 : finiteNonNeg('lr', opts.lr);
    this.weightDecay = opts.weightDecay === undefined ? 0.01 : finiteNonNeg('weightDecay', opts.weightDecay);
    this.warmupSteps = opts.warmupSteps === undefined ? 0 : Math.floor(finiteNonNeg('warmupSteps', opts.warmupSteps));
    this.totalSteps = opts.totalSteps === undefined ? null : Math.floor(finiteNonNeg('totalSteps', opts.totalSteps));
    this.maxGradNorm = opts.maxGradNorm === undefined ? 1 : finiteNonNeg('maxGradNorm', opts.maxGradNorm);
    const raw = model.rawConfig;
    const fromConfig = Math.max(0, ...['hidden_dropout_prob', 'attention_probs_dropout_prob']
      .map((k) => (typeof raw[k] === 'number' && Number.isFinite(raw[k]) ? (raw[k] as number) : 0)));
    this.dropout = opts.dropout === undefined ? fromConfig : finiteNonNeg('dropout', opts.dropout);
    if (!(this.dropout < 1)) invalidArgument('dropout', 'a probability in [0, 1)', opts.dropout);
    this.maxLength = opts.maxLength === undefined ? 512 : Math.floor(finiteNonNeg('maxLength', opts.maxLength));
    this.rng = new Rng(opts.seed === undefined ? 42 : Math.floor(finiteNonNeg('seed', opts.seed)));
    const n = model.parameterCount;
    this.grads = new Float32Array(n);
    this.m = new Float32Array(n);
    this.v = new Float32Array(n);
    const names = [...model.parameters().keys()];
    this.params = [...model.parameters().values()];
    this.gradViews = [...model.views(this.grads).values()];
    this.mViews = [...model.views(this.m).values()];
    this.vViews = [...model.views(this.v).values()];
    this.decay = names.map((name) => !noDecay(name));
  }

  /** The learning rate the next step uses. */
  get currentLr(): number {
    return this.lr * linearWarmupFactor(this.t, this.warmupSteps, this.totalSteps);
  }

  /** Loss and gradients of one batch, parameters unchanged (gradients under Hugging Face names). */
  async computeGradients(batch: CrossTrainBatch): Promise<{ loss: number; logits: Float32Array; gradients: Map<string, Float32Array> }> {
    return this.exclusive(async () => {
      this.grads.fill(0);
      const { loss, logits } = await this.run(batch);
      return { loss, logits, gradients: this.model.views(this.grads.slice()) };
    });
  }

  /** One optimizer step on one batch: gradients, clipping, AdamW, schedule. */
  async step(batch: CrossTrainBatch): Promise<CrossStepStats> {
    return this.exclusive(async () => {
      this.grads.fill(0);
      const { loss } = await this.run(batch);
      const lr = this.currentLr, t = this.t + 1;
      const gradNorm = adamwStep(this.addon, { params: this.params, grads: this.gradViews, m: this.mViews, v: this.vViews, decay: this.decay },
        { lr, weightDecay: this.weightDecay, maxGradNorm: this.maxGradNorm, step: t });
      this.t = t;
      return { step: t, loss, lr, gradNorm, pairs: batch.passages.reduce((a, p) => a + p.length, 0) };
    });
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new SpladeError('CrossEncoderTrainer: a step is already running; await it first', ErrorCode.invalidArgument);
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private async run(batch: CrossTrainBatch): Promise<{ loss: number; logits: Float32Array }> {
    if (batch === null || typeof batch !== 'object') invalidArgument('batch', 'a { queries, passages, labels? } object', batch);
    const { queries, passages, labels } = batch;
    if (!Array.isArray(queries) || queries.length === 0) invalidArgument('batch.queries', 'a non-empty array of strings', queries);
    if (!Array.isArray(passages) || passages.length !== queries.length) {
      invalidArgument('batch.passages', `an array of ${queries.length} passage lists (one per query)`, passages);
    }
    const pairs: { ids: Int32Array; typeIds: Int32Array }[] = [];
    const targets: number[] = [];
    const groups: number[] = [];
    queries.forEach((q, i) => {
      const ps = passages[i];
      if (!Array.isArray(ps) || ps.length === 0) invalidArgument(`batch.passages[${i}]`, 'a non-empty array of strings', ps);
      if (this.loss === 'pointwise') {
        const ls = labels?.[i];
        if (!Array.isArray(ls) || ls.length !== ps.length) {
          invalidArgument(`batch.labels[${i}]`, `${ps.length} labels in [0, 1] (pointwise loss)`, ls);
        }
        ls.forEach((l, j) => {
          if (typeof l !== 'number' || !(l >= 0 && l <= 1)) invalidArgument(`batch.labels[${i}][${j}]`, 'a number in [0, 1]', l);
          targets.push(l);
        });
      }
      groups.push(ps.length);
      ps.forEach((p, j) => {
        if (typeof p !== 'string') invalidArgument(`batch.passages[${i}][${j}]`, 'a string', p);
        pairs.push(this.model.tokenizePair(q, p, { maxLength: this.maxLength }));
      });
    });
    const seed = this.dropout === 0 ? 0 : (this.rng.nextU32() & 0x1fffff) * 4294967296 + this.rng.nextU32();
    return this.model.trainPairs(pairs, this.loss, this.loss === 'pointwise' ? Float32Array.from(targets) : null,
      this.loss === 'listwise' ? Int32Array.from(groups) : null, this.grads, this.dropout, seed);
  }
}
