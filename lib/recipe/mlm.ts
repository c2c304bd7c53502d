/*
 * The masked-LM adaptation stage of the domain recipe (one recipe entry: { "stage": "mlm", ... }): a
 * `splade train` job with `"objective": "mlm"` on the stage's corpus (BERT's masking: 15% of the tokens
 * other than the special ones, 80% [MASK] / 10% a random id / 10% kept, with the trainer's seeded RNG;
 * cross-entropy on the masked positions), resumable like every train job. Its model is
 * `<output>/model`.
 */
import { ErrorCode, SpladeError } from '../errors.js';
import { trainJob, type TrainJobOptions } from '../train/job.js';
import type { TrainerOptions } from '../train/types.js';

export interface MlmStage {
  model: string; corpus: string; output: string; steps: number;
  batchSize?: number; maxLength?: number; maskProbability?: number; seed?: number; trainer?: TrainerOptions;
}

/** BERT's masking rate, the one the Trainer's MLM objective applies. */
export const MLM_MASK_PROBABILITY = 0.15;

/** Runs masked-LM adaptation (resuming from <output>/checkpoint); returns the adapted model's directory. */
export async function runMlmStage(stage: MlmStage, opts: Pick<TrainJobOptions, 'progress' | 'log'> = {}): Promise<string> {
  if (stage.maskProbability !== undefined && stage.maskProbability !== MLM_MASK_PROBABILITY) {
    throw new SpladeError(`mlm stage (${stage.output}): "maskProbability" must be ${MLM_MASK_PROBABILITY} (BERT's rate, the one the Trainer masks with), got ${stage.maskProbability}`,
      ErrorCode.unsupported);
  }
  const job = await trainJob({
    objective: 'mlm', model: stage.model, output: stage.output, corpus: stage.corpus,
    batchSize: stage.batchSize ?? 16, steps: stage.steps, docMaxLength: stage.maxLength ?? 256, seed: stage.seed ?? 0,
    trainer: stage.trainer ?? {},
  }, opts);
  return job.model;
}
