/*
 * The choice of the fusion weight and score normalisation without the held-out collection's
 * judgments: nested leave-one-out over the folds of a leave-one-out evaluation (bench/recipe/loo.ts).
 * For held-out collection c the (norm, weight) is the one that maximises the mean metric over the
 * OTHER folds' held-out evaluations (fold c' evaluated its own model on c'), so c's judgments never
 * pick anything that is then measured on c.
 */
import type { Qrels, Run } from '../../../lib/data/types.js';
import { invalidArgument } from '../../../lib/errors.js';
import { evaluate } from '../../../lib/eval/evaluate.js';
import { weightedFusion, type ScoreNorm } from '../../../lib/eval/fusion.js';

/** One leave-one-out fold's held-out evaluation: its judgments and its two runs on its own queries. */
export interface FusionFold {
  name: string;
  qrels: Qrels;
  /** BM25's run on this fold's held-out queries. */
  bm25: Run;
  /** The fold's trained SPLADE run on the same queries. */
  splade: Run;
}

export interface FusionChoice {
  /** fused = norm(BM25) + weight * norm(SPLADE). */
  weight: number;
  norm: ScoreNorm;
  /** The mean metric over the other folds that picked it. */
  othersMean: number;
  /** The folds it was chosen on (every fold but the held-out one). */
  chosenOn: string[];
}

/**
 * For each fold, the (norm, weight) of the grid with the highest mean metric over the other folds
 * (the first in grid order on a tie: norms outer, weights inner). Needs at least two folds.
 */
export function chooseFusionLeaveOneOut(folds: FusionFold[], opts: { weights: number[]; norms?: readonly ScoreNorm[]; metric?: string; k?: number }): Record<string, FusionChoice> {
  if (!Array.isArray(folds) || folds.length < 2) invalidArgument('folds', 'at least two folds (one to choose on, one held out)', folds);
  if (!Array.isArray(opts.weights) || opts.weights.length === 0) invalidArgument('weights', 'a non-empty array of weights', opts.weights);
  const norms = opts.norms ?? ['max'];
  if (norms.length === 0) invalidArgument('norms', 'a non-empty array of score normalisations', norms);
  const metric = opts.metric ?? 'ndcg@10', k = opts.k ?? 100;
  // score[g][f]: grid point g evaluated on fold f (its own held-out queries and judgments)
  const grid = norms.flatMap((norm) => opts.weights.map((weight) => ({ norm, weight })));
  const score = grid.map(({ norm, weight }) => folds.map((f) => {
    const m = evaluate(weightedFusion([f.bm25, f.splade], [1, weight], norm, k), f.qrels, [metric]).mean[metric];
    if (m === undefined) invalidArgument('metric', 'a metric evaluate() knows', metric);
    return m;
  }));
  const out: Record<string, FusionChoice> = {};
  folds.forEach((held, h) => {
    let best = -1, bestMean = -Infinity;
    grid.forEach((_, g) => {
      const others = score[g].filter((_, f) => f !== h);
      const m = others.reduce((a, b) => a + b, 0) / others.length;
      if (m > bestMean) { best = g; bestMean = m; }
    });
    out[held.name] = { ...grid[best], othersMean: bestMean, chosenOn: folds.filter((_, f) => f !== h).map((f) => f.name) };
  });
  return out;
}
