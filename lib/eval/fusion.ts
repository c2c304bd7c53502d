// Fusion, in one place: reciprocal-rank and score-sum fusion of rankings (mining), of runs query by
// query (recipes), and weighted fusion with a score normalisation or weighted reciprocal ranks
// (`splade fuse`). Ties go to the lower document id unless said otherwise: fused orders are deterministic.
import { rankDocs } from '../data/trec.js';
import type { Run } from '../data/types.js';
import { invalidArgument } from '../errors.js';

/** A ranking: document ids best first, with their scores. */
export interface Ranking {
  docIds: string[];
  scores: ArrayLike<number>;
}

/** Reciprocal-rank fusion: score(d) = sum over rankings of 1 / (k + rank), ranks 1-based. */
export function reciprocalRankFusion(rankings: Ranking[], k = 60): Ranking {
  return fuse(rankings, (r, i) => 1 / (k + i + 1));
}

/** Score-sum fusion: score(d) = sum over rankings of score / (the ranking's top score). */
export function scoreSumFusion(rankings: Ranking[]): Ranking {
  return fuse(rankings, (r, i) => (r.scores[0] > 0 ? r.scores[i] / r.scores[0] : 0));
}

/** Score descending, ties to the lower document id (so fused orders are deterministic). */
function byScoreThenId(a: readonly [string, number], b: readonly [string, number]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

function fuse(rankings: Ranking[], contribution: (r: Ranking, i: number) => number): Ranking {
  const score = new Map<string, number>();
  for (const r of rankings) r.docIds.forEach((d, i) => score.set(d, (score.get(d) ?? 0) + contribution(r, i)));
  const sorted = [...score.entries()].sort(byScoreThenId);
  return { docIds: sorted.map(([d]) => d), scores: Float64Array.from(sorted, ([, s]) => s) };
}

/** Fuses runs query by query: reciprocal-rank fusion (k 60) or the sum of max-normalised scores. */
export function fuseRuns(runs: Run[], method: 'rrf' | 'sum', k: number): Run {
  const out: Run = {};
  const qids = new Set(runs.flatMap((r) => Object.keys(r)));
  for (const q of qids) {
    const rankings: Ranking[] = runs.map((r) => {
      const entries = Object.entries(r[q] ?? {}).sort((a, b) => b[1] - a[1]);
      return { docIds: entries.map(([d]) => d), scores: entries.map(([, s]) => s) };
    });
    const fused = method === 'rrf' ? reciprocalRankFusion(rankings) : scoreSumFusion(rankings);
    out[q] = Object.fromEntries(fused.docIds.slice(0, k).map((d, i) => [d, fused.scores[i]]));
  }
  return out;
}

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
    fused.sort(byScoreThenId);
    out[q] = Object.fromEntries(fused.slice(0, k));
  }
  return out;
}

/**
 * Weighted reciprocal-rank fusion: each run's reciprocal-rank scores come from reciprocalRankFusion
 * on that run alone, then add up weighted. With all weights 1 this is reciprocalRankFusion over all
 * the runs, to the bit (the same additions in the same order).
 */
export function weightedReciprocalRankFusion(runs: Run[], weights: number[]): Run {
  const out: Run = {};
  for (const q of new Set(runs.flatMap((r) => Object.keys(r)))) {
    const fused: Record<string, number> = Object.create(null) as Record<string, number>;
    runs.forEach((r, i) => {
      const ranked = rankDocs(r[q] ?? {});
      const rr = reciprocalRankFusion([{ docIds: ranked.map(([d]) => d), scores: ranked.map(([, s]) => s) }]);
      rr.docIds.forEach((d, j) => { fused[d] = (fused[d] ?? 0) + weights[i] * rr.scores[j]; });
    });
    out[q] = fused;
  }
  return out;
}
