// The trainer's public types: its batches, step statistics and options (apart from trainer.ts so
// that state.ts, which saves the resolved options, does not import the trainer).
import type { RankingLoss, Regulariser } from './losses.js';

/**
 * One optimizer step's batch. Query i comes with its documents: `documents[i][0]` is its positive,
 * `documents[i][1..]` its hard negatives (every query has the same number of documents);
 * `teacherScores[i][j]` (for marginmse / kldiv) scores `documents[i][j]`. Ids hold the special
 * tokens, as SpladeModel.tokenize() returns them.
 */
export type TrainBatch = { queries: Int32Array[]; documents: Int32Array[][]; teacherScores?: number[][] };

/**
 * A masked-language-model batch (the second objective: pre-training or adapting the encoder on a
 * corpus). `sequences` are id sequences with their special tokens (SpladeModel.tokenize(text,
 * { kind: 'document' })). Without `labels` the trainer masks them as BERT does (15% of the
 * non-special tokens selected; of those 80% become [MASK], 10% a random id, 10% unchanged) with its
 * seeded RNG; with `labels` (one Int32Array per sequence: the target id, or -1 / -100 where nothing
 * is predicted) the sequences are taken as already masked. The loss is the mean cross-entropy of the
 * MLM head (the tied decoder) over the labelled positions, as BertForMaskedLM computes it. With
 * separate query and document encoders each one gets this loss on the same batch (mlmLoss is their
 * mean).
 */
export type MlmBatch = { objective: 'mlm'; sequences: Int32Array[]; labels?: Int32Array[] };

/**
 * What a step did. `loss` = rankingLoss + lambdaQ * regQ + lambdaD * regD (the lambdas of this step,
 * after warm-up); `lr` is the learning rate this step used; `gradNorm` the global L2 norm of the
 * gradients before clipping; nnzQ / nnzD the average number of non-zero terms per query / document.
 */
export type StepStats = {
  step: number; loss: number; rankingLoss: number; regQ: number; regD: number;
  lambdaQ: number; lambdaD: number; lr: number; gradNorm: number; nnzQ: number; nnzD: number;
  /**
   * Peak resident memory of the process during the step, in bytes (Linux: the high-water mark reset
   * at the step's start; elsewhere the process's peak so far).
   */
  peakMemoryBytes: number;
  /** MLM steps only: the mean masked-LM cross-entropy (then loss = mlmLoss; ranking fields are 0). */
  mlmLoss?: number;
  /** MLM steps only: the number of labelled (predicted) positions. */
  maskedTokens?: number;
};

export type LossName = RankingLoss;

/**
 * Trainer options. Definitions (the training issue's, following naver/splade and PyTorch):
 * - representations q_i, d_ij from the model with max pooling; scores s_ij = q_i . d_ij.
 * - `contrastive`: cross-entropy of the softmax over s_ij / temperature with target j = 0 (the
 *   positive); with `inBatchNegatives` the candidates of query i also include every other query's
 *   documents; mean over queries.
 * - `marginmse`: mean over i and j >= 1 of ((s_i0 - s_ij) - (t_i0 - t_ij))^2, t = teacherScores.
 * - `kldiv`: KL(softmax(t_i / T) || softmax(s_i / T)) over query i's own documents, mean over queries.
 * - a list of `{ loss, weight }` sums the weighted losses.
 * - regularisers: FLOPS(R) = sum_j (mean_i |r_ij|)^2, L1(R) = mean_i sum_j |r_ij|, on the batch's
 *   queries (`queryReg`) and on all the batch's documents together (`docReg`);
 *   loss = ranking loss + lambdaQ_t * reg(Q) + lambdaD_t * reg(D), with the quadratic warm-up
 *   lambda_t = lambda * min(1, (t / lambdaWarmupSteps)^2), t = 1 for the first step.
 * - AdamW as torch.optim.AdamW (betas 0.9 / 0.999, eps 1e-8, decoupled weight decay; none on biases
 *   and LayerNorm weights); the learning rate follows transformers' get_linear_schedule_with_warmup
 *   stepped after each optimizer step (so the first step of a warm-up uses lr 0); gradients are
 *   clipped as torch.nn.utils.clip_grad_norm_(maxGradNorm).
 */
export interface TrainerOptions {
  /** Default 'contrastive'. */
  loss?: LossName | Array<{ loss: LossName; weight: number }>;
  /** contrastive: also use the other queries' documents as negatives (default false). */
  inBatchNegatives?: boolean;
  /** contrastive / kldiv temperature T (default 1). */
  temperature?: number;
  /** Regulariser weights (default 0.01 and 0.008) and their quadratic warm-up (default 0: none). */
  lambdaQ?: number; lambdaD?: number; lambdaWarmupSteps?: number;
  /** Default 'flops' for both. */
  queryReg?: Regulariser; docReg?: Regulariser;
  /** Peak learning rate (default 2e-5), weight decay (default 0.01). */
  lr?: number; weightDecay?: number;
  /** Linear LR warm-up steps (default 0) and total steps of the linear decay (default: no decay). */
  warmupSteps?: number; totalSteps?: number;
  /** Global-norm clipping (default 1; 0 or Infinity: none). */
  maxGradNorm?: number;
  /**
   * Dropout probability in [0, 1), applied as BERT does in training mode (inverted dropout on the
   * embeddings' LayerNorm output, the attention probabilities, the attention output projection (BERT;
   * DistilBERT has none there) and the FFN output; none in the MLM head). Default: the checkpoint's
   * config (the largest of hidden_dropout_prob / attention_probs_dropout_prob, or DistilBERT's
   * dropout / attention_dropout). Masks come from the trainer's seeded RNG (one seed per encoder
   * call), so a run is deterministic and save/resume continues it bit for bit. 0: no dropout.
   */
  dropout?: number;
  /** Seed of the trainer's random number generator (default 42). */
  seed?: number;
  /**
   * Inference-free queries (SPLADE's document-only variant): one weight >= 0 per vocabulary id
   * (e.g. the idf of each word piece). When given, queries are not encoded: query i's vector is the
   * sum over its ids of these weights (count x weight), and only the documents are learned (no
   * query gradient, no query regulariser). Default: none (queries through the model).
   */
  queryTermWeights?: ArrayLike<number>;
}

/** The options with every default filled in (what save() records). */
export interface ResolvedTrainerOptions {
  loss: Array<{ loss: LossName; weight: number }>;
  inBatchNegatives: boolean; temperature: number;
  lambdaQ: number; lambdaD: number; lambdaWarmupSteps: number;
  queryReg: Regulariser; docReg: Regulariser;
  lr: number; weightDecay: number; warmupSteps: number; totalSteps: number | null; maxGradNorm: number;
  dropout: number; seed: number;
  queryTermWeights: number[] | null;
}
