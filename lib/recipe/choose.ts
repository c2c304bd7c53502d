/*
 * Choosing among recipe variants without a development split: nested leave-one-out over the
 * held-out evaluations of a leave-one-out run. For held-out collection c the variant is the one with
 * the best mean metric on the OTHER collections, so c's judgments never pick what is measured on c.
 * For zero-shot models (trained on corpus text only) this is clean: no variant saw any judgment.
 */
import { invalidArgument } from '../errors.js';

export interface VariantChoice {
  variant: string;
  /** The chosen variant's mean over the other collections. */
  othersMean: number;
  /** The collections it was chosen on (every one but the held-out). */
  chosenOn: string[];
  /** Its metric on the held-out collection: the figure to report. */
  heldOut: number;
}

/**
 * scores[variant][collection]: each variant's metric on each held-out collection (every variant
 * must have every collection). Returns the choice per collection (on a tie the variant listed first).
 */
export function chooseVariantLeaveOneOut(scores: Record<string, Record<string, number>>): Record<string, VariantChoice> {
  const variants = Object.keys(scores);
  if (variants.length === 0) invalidArgument('scores', 'at least one variant', scores);
  const collections = Object.keys(scores[variants[0]]);
  if (collections.length < 2) invalidArgument('scores', 'at least two collections per variant (one to choose on, one held out)', scores[variants[0]]);
  for (const v of variants) {
    for (const c of collections) {
      if (typeof scores[v][c] !== 'number' || !Number.isFinite(scores[v][c])) invalidArgument(`scores.${v}.${c}`, 'a finite number', scores[v][c]);
    }
    if (Object.keys(scores[v]).length !== collections.length) invalidArgument(`scores.${v}`, `exactly the collections ${collections.join(', ')}`, Object.keys(scores[v]));
  }
  const out: Record<string, VariantChoice> = {};
  for (const held of collections) {
    const others = collections.filter((c) => c !== held);
    let best = variants[0], bestMean = -Infinity;
    for (const v of variants) {
      const m = others.reduce((a, c) => a + scores[v][c], 0) / others.length;
      if (m > bestMean) { best = v; bestMean = m; }
    }
    out[held] = { variant: best, othersMean: bestMean, chosenOn: others, heldOut: scores[best][held] };
  }
  return out;
}
