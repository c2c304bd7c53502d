/*
 * Weighted score fusion of two runs (BM25 and SPLADE) and the choice of its weight and score
 * normalisation without the held-out collection's judgments: nested leave-one-out over the folds
 * of a leave-one-out evaluation. For held-out collection c the weight is the one that maximises the
 * mean metric over the OTHER folds' held-out evaluations (fold c' evaluated its own model on c'),
 * so c's judgments never pick anything that is then measured on c.
 */
import type { Qrels, Run } from '../data/types.js';
import { evaluate } from '../eval/evaluate.js';
import { invalidArgument } from '../errors.js';

/** How each run's scores are put on one scale per query before they are added. */
export type ScoreNorm = 'max' | 'minmax' | 'zscore';
export const SCORE_NORMS: readonly ScoreNorm[] = ['max', 'minmax', 'zscore'];

/**
 * One query's scores normalised; `floor` is what a document the run did not retrieve gets (at most
 * what its lowest retrieved document gets: 0 for max and min-max, the lowest z-score for z-score).
 */
export function normaliseScores(scores: Record<string, number>, norm: ScoreNorm): { values: Map<string, number>; floor: number } {
  const entries = Object.entries(scores);
  const values = new Map<string, number>();
  if (entries.length === 0) return { values, floor: 0 };
  const xs = entries.map(([, s]) => s);
  const hi = Math.max(...xs), lo = Math.min(...xs);
  if (norm === 'max') {
    for (const [d, s] of entries) values.set(d, hi > 0 ? s / hi : 0);
    return { values, floor: 0 };
  }
  if (norm === 'minmax') {
    for (const [d, s] of entries) values.set(d, hi > lo ? (s - lo) / (hi - lo) : 1);
    return { values, floor: 0 };
  }
  if (norm === 'zscore') {
    const mu = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mu) ** 2, 0) / xs.length);
    for (const [d, s] of entries) values.set(d, sd > 0 ? (s - mu) / sd : 0);
    return { values, floor: sd > 0 ? (lo - mu) / sd : 0 };
  }
  return invalidArgument('norm', `one of ${SCORE_NORMS.join(', ')}`, norm);
}

/**
 * sum_i weights[i] * norm(runs[i]) per query, the top k kept. A document missing from a run gets
 * that run's floor; ties go to the lower document id, so the order is deterministic.
 */
export function weightedFusion(runs: Run[], weights: number[], norm: ScoreNorm, k: number): Run {
  if (weights.length !== runs.length) invalidArgument('weights', `${runs.length} weights (one per run)`, weights);
  weights.forEach((w, i) => {
    if (!Number.isFinite(w) || w < 0) invalidArgument(`weights[${i}]`, 'a finite number >= 0', w);
  });
  const out: Run = {};
  for (const q of new Set(runs.flatMap((r) => Object.keys(r)))) {
    const parts = runs.map((r) => normaliseScores(r[q] ?? {}, norm));
    const docs = new Set(parts.flatMap((p) => [...p.values.keys()]));
    const fused = [...docs].map((d) => [d, parts.reduce((s, p, i) => s + weights[i] * (p.values.get(d) ?? p.floor), 0)] as const);
    fused.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    out[q] = Object.fromEntries(fused.slice(0, k));
  }
  return out;
}

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
