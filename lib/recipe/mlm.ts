/*
 * The masked-LM adaptation stage of the domain recipe (one recipe entry: { "stage": "mlm", ... }).
 *
 * NOT CONNECTED YET: the Trainer's masked-LM objective is being added on another branch
 * (feat/train-perf). Until it lands, `mlmAvailable()` is false and the runner skips the stage with a
 * message, passing its input model on unchanged. To connect it, implement `runMlmStage` with the
 * Trainer's MLM step (mask `maskProbability` of the corpus tokens, 80/10/10 as BERT, cross-entropy on
 * the masked positions) and return true from `mlmAvailable()`; the stage's keys are already checked
 * by the recipe parser (model, corpus, output, steps, batchSize, maxLength, maskProbability, seed,
 * trainer) and its output model is `<output>/model`.
 */
import { SpladeError, ErrorCode } from '../errors.js';

export interface MlmStage {
  model: string; corpus: string; output: string; steps: number;
  batchSize?: number; maxLength?: number; maskProbability?: number; seed?: number; trainer?: Record<string, unknown>;
}

export function mlmAvailable(): boolean {
  return false;
}

/** Runs masked-LM adaptation; returns the adapted model's directory. */
export async function runMlmStage(stage: MlmStage): Promise<string> {
  throw new SpladeError(
    `mlm stage (${stage.output}): the Trainer has no masked-LM objective in this build yet (it comes with feat/train-perf)`,
    ErrorCode.unsupported,
  );
}
