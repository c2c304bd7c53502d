/*
 * Weighted score fusion of runs (BM25 and SPLADE): each run's scores normalised per query, then
 * summed with weights (`splade fuse`).
 */
import type { Run } from '../data/types.js';
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
