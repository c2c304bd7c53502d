// BERT's masked-language-model input corruption (transformers' DataCollatorForLanguageModeling with
// mlm_probability 0.15): each non-special token is selected with probability `probability`; a
// selected token becomes a label and its input is replaced by [MASK] with probability 0.8, by a
// uniformly random vocabulary id with probability 0.1, and left unchanged otherwise. Labels are -1
// where nothing is predicted. Draws come from the trainer's seeded RNG (in sequence order), so masks
// are reproducible and survive save/resume.
import type { Rng } from '../random.js';

export interface MaskedSequence { inputs: Int32Array; labels: Int32Array }

/**
 * Masks one id sequence. `special` holds the ids never selected ([CLS], [SEP], [PAD], [MASK]).
 * Four draws per token (selection, mask/random/keep, the random id), always, so the RNG advances by
 * a fixed amount per token whatever the outcome.
 */
export function maskTokens(ids: Int32Array, rng: Rng, vocabSize: number, maskId: number, special: ReadonlySet<number>,
                           probability = 0.15): MaskedSequence {
  const inputs = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(-1);
  for (let k = 0; k < ids.length; k++) {
    const select = rng.next(), how = rng.next(), keep = rng.next(), word = rng.nextU32() % vocabSize;
    if (special.has(ids[k]) || !(select < probability)) continue;
    labels[k] = ids[k];
    if (how < 0.8) inputs[k] = maskId;
    else if (keep < 0.5) inputs[k] = word;
  }
  return { inputs, labels };
}
