// Times every search setting on the same queries on one thread (synchronous search(), the time of
// each call including the JavaScript around it), and checks each against exhaustive search: recall@k
// is the fraction of exhaustive's top-k ids it found. Rounds run round-robin across the settings,
// so load that comes and goes on a shared machine falls on all of them; a query's time is its best
// round.
import type { InvertedIndex, SparseVector } from '../../lib/index.js';
import type { SearchSetting } from './args.js';

/** Algorithms allowed to miss documents; every other one must equal exhaustive search. */
export const APPROXIMATE_ALGORITHMS: readonly string[] = ['approximate'];

export interface SettingFigures {
  k: number;
  algorithm: string;
  options: Record<string, unknown>;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Mean over queries of postings whose score was computed. */
  postingsScored: number;
  /** Mean over queries of |found ∩ exhaustive top-k| / |exhaustive top-k| (queries with no match left out). */
  recall: number;
  minRecall: number;
  /** Queries whose ids or scores differ from exhaustive's in any way (order and bitwise scores included). */
  differing: number;
  exact: boolean;
  timesMs?: number[];
}

export const settingLabel = (s: { algorithm: string; options: Record<string, unknown> }) =>
  Object.keys(s.options).length === 0 ? s.algorithm : `${s.algorithm} ${JSON.stringify(s.options)}`;

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function sameList(a: { ids: Uint32Array; scores: Float32Array }, b: { ids: Uint32Array; scores: Float32Array }): boolean {
  if (a.ids.length !== b.ids.length) return false;
  for (let i = 0; i < a.ids.length; i++) if (a.ids[i] !== b.ids[i] || !Object.is(a.scores[i], b.scores[i])) return false;
  return true;
}

/** settings[0] must be exhaustive: it is run first in every round and is the reference. */
export function measureSettings(index: InvertedIndex, queries: SparseVector[], k: number, settings: SearchSetting[], repeat: number, keepTimes: boolean): SettingFigures[] {
  if (settings[0]?.algorithm !== 'exhaustive' || Object.keys(settings[0].options).length > 0) throw new Error('measureSettings: the first setting must be exhaustive without options');
  const times = settings.map(() => new Float64Array(queries.length).fill(Infinity));
  const scored = new Float64Array(settings.length);
  const recallSum = new Float64Array(settings.length);
  const recallMin = new Float64Array(settings.length).fill(1);
  const differing = new Uint32Array(settings.length);
  let judged = 0;
  const truth: { ids: Uint32Array; scores: Float32Array }[] = [];
  for (let round = 0; round < repeat; round++) {
    for (const [s, setting] of settings.entries()) {
      const opts = { ...setting.options, k, algorithm: setting.algorithm };
      for (let i = 0; i < queries.length; i++) {
        const t0 = performance.now();
        // options pass through as given: the index refuses what it does not know
        const res = index.search(queries[i], opts as Parameters<InvertedIndex['search']>[1]);
        const ms = performance.now() - t0;
        if (ms < times[s][i]) times[s][i] = ms;
        if (round > 0) continue;
        scored[s] += res.postingsScored;
        if (s === 0) {
          truth.push({ ids: res.ids, scores: res.scores });
          if (res.ids.length > 0) judged++;
          continue;
        }
        if (!sameList(res, truth[i])) differing[s]++;
        if (truth[i].ids.length === 0) continue;
        const want = new Set(truth[i].ids);
        let found = 0;
        for (const id of res.ids) if (want.has(id)) found++;
        const r = found / truth[i].ids.length;
        recallSum[s] += r;
        if (r < recallMin[s]) recallMin[s] = r;
      }
    }
  }
  return settings.map((setting, s) => {
    const sorted = Float64Array.from(times[s]).sort();
    return {
      k, algorithm: setting.algorithm, options: setting.options,
      meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99),
      postingsScored: scored[s] / queries.length,
      recall: s === 0 ? 1 : judged > 0 ? recallSum[s] / judged : 1, minRecall: s === 0 ? 1 : recallMin[s], differing: differing[s],
      exact: !APPROXIMATE_ALGORITHMS.includes(setting.algorithm),
      ...(keepTimes ? { timesMs: Array.from(times[s]) } : {}),
    };
  });
}

/** Loud lines for every exact algorithm that did not return exhaustive's results. */
export function exactnessWarnings(rows: SettingFigures[]): string[] {
  return rows.filter((r) => r.exact && (r.differing > 0 || r.recall < 1)).map((r) =>
    `!!! WARNING: ${settingLabel(r)} at k = ${r.k} is meant to be exact but differs from exhaustive on ${r.differing} queries (recall@${r.k} ${r.recall.toFixed(4)}, min ${r.minRecall.toFixed(4)}) !!!`);
}
