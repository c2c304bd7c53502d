/*
 * evaluate(run, qrels, metrics): trec_eval's measures, computed in TypeScript.
 *
 * Definitions (trec_eval 9.x; pytrec_eval runs the same code):
 *   ranking     each query's documents sorted by score descending; equal scores by document id
 *               DESCENDING in strcmp order (trec_eval's comp_sim_docno). The rank column of a TREC
 *               file plays no part. Direction matters only for exact ties; it is chosen to match
 *               trec_eval/pytrec_eval to the last digit, not the "ascending id" one might expect.
 *   relevant    a judged document with relevance > 0 (trec_eval's default relevance_level 1).
 *   ndcg@k      ndcg_cut_k: DCG = sum over ranks r = 1..k of gain / log2(r + 1), gain = the graded
 *               relevance (0 for unjudged and for grades <= 0); ideal DCG from all the query's judged
 *               relevant documents sorted by grade, cut at k. 'ndcg' (no cutoff) uses the full run.
 *   mrr@k       recip_rank on the top k: 1 / rank of the first relevant document, 0 if none.
 *   recall@k    relevant documents in the top k / relevant documents judged.
 *   p@k         relevant documents in the top k / k (k even when fewer were retrieved, as trec_eval).
 *   map         average precision over the full run: sum of precision at each relevant retrieved
 *               document / relevant documents judged. map@k = map_cut_k (only the top k count).
 * Names: 'ndcg@10' | 'ndcg_cut_10' | 'ndcg', 'mrr@10' | 'recip_rank' | 'mrr', 'recall@100' |
 * 'recall_100', 'p@10' | 'P_10', 'map' | 'map@100' | 'map_cut_100'; case-insensitive. Results are
 * keyed by the name as given.
 *
 * Which queries count: only queries with at least one relevant judgment (queries whose judgments
 * are all <= 0 are skipped: every measure is undefined or 0 there). A judged query absent from the run
 * counts with every measure 0 (`missingAsZero: true`, the default; trec_eval -c). This makes the mean
 * "over the judged queries" no matter what the run retrieved. With `missingAsZero: false` the mean is
 * over judged queries present in the run, as plain trec_eval and pytrec_eval/BEIR average.
 * Queries in the run but not in the qrels are ignored (as in trec_eval).
 * The mean of a measure over zero queries is 0.
 */
import { ErrorCode, SpladeError } from '../errors.js';
import { trecOrder } from '../data/trec.js';
import type { Qrels, Run } from '../data/types.js';

export type { Qrels, Run } from '../data/types.js';

export interface EvaluateOptions {
  /** Judged queries missing from the run score 0 (default true); false: they are left out. */
  missingAsZero?: boolean;
}

export interface EvaluateResult {
  /** metric (as named in the call) -> mean over the evaluated queries. */
  mean: Record<string, number>;
  /** query id -> metric -> value, for every evaluated query. */
  perQuery: Record<string, Record<string, number>>;
}

type Kind = 'ndcg' | 'mrr' | 'recall' | 'p' | 'map';
interface Metric { name: string; kind: Kind; k: number } // k = Infinity: no cutoff

const PATTERNS: [RegExp, Kind][] = [
  [/^ndcg(?:@(\d+)|_cut_(\d+))?$/, 'ndcg'],
  [/^(?:mrr|recip_rank|rr)(?:@(\d+)|_(\d+))?$/, 'mrr'],
  [/^recall(?:@(\d+)|_(\d+))$/, 'recall'],
  [/^(?:p|precision)(?:@(\d+)|_(\d+))$/, 'p'],
  [/^map(?:@(\d+)|_cut_(\d+))?$/, 'map'],
];

function parseMetric(name: unknown): Metric {
  if (typeof name === 'string') {
    const lower = name.trim().toLowerCase();
    for (const [re, kind] of PATTERNS) {
      const m = re.exec(lower);
      if (!m) continue;
      const digits = m[1] ?? m[2];
      const k = digits === undefined ? Infinity : Number(digits);
      if (k === 0) break;
      return { name, kind, k };
    }
  }
  throw new SpladeError(
    `Expected a metric like 'ndcg@10', 'mrr@10', 'recall@100', 'p@10', 'map' (or trec_eval's ndcg_cut_10, recip_rank, recall_100, P_10) but received ${JSON.stringify(name)}`,
    ErrorCode.invalidArgument,
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The run's documents for one query, in trec_eval's order, as their relevance grades. */
function rankedGrades(docs: Record<string, number>, judged: Record<string, number>, qid: string): Float64Array {
  const entries = Object.entries(docs);
  for (const [d, s] of entries) {
    if (typeof s !== 'number' || Number.isNaN(s)) {
      throw new SpladeError(`Expected numeric scores in the run but query ${qid} document ${d} has ${String(s)}`, ErrorCode.invalidArgument);
    }
  }
  entries.sort((a, b) => trecOrder(a[0], a[1], b[0], b[1]));
  const grades = new Float64Array(entries.length);
  for (let i = 0; i < entries.length; i++) grades[i] = judged[entries[i][0]] ?? 0;
  return grades;
}

function dcg(grades: ArrayLike<number>, k: number): number {
  let sum = 0;
  const n = Math.min(k, grades.length);
  for (let i = 0; i < n; i++) if (grades[i] > 0) sum += grades[i] / Math.log2(i + 2);
  return sum;
}

function measure(m: Metric, grades: Float64Array, idealGrades: number[], numRel: number): number {
  const n = Math.min(m.k, grades.length);
  switch (m.kind) {
    case 'ndcg': {
      const ideal = dcg(idealGrades, m.k);
      return ideal > 0 ? dcg(grades, m.k) / ideal : 0;
    }
    case 'mrr':
      for (let i = 0; i < n; i++) if (grades[i] > 0) return 1 / (i + 1);
      return 0;
    case 'recall':
    case 'p': {
      let hits = 0;
      for (let i = 0; i < n; i++) if (grades[i] > 0) hits++;
      return m.kind === 'recall' ? hits / numRel : hits / m.k;
    }
    case 'map': {
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        if (grades[i] > 0) {
          hits++;
          sum += hits / (i + 1);
        }
      }
      return sum / numRel;
    }
  }
}

export function evaluate(run: Run, qrels: Qrels, metrics: string[], opts: EvaluateOptions = {}): EvaluateResult {
  if (!isRecord(run)) throw new SpladeError(`Expected a run (query id -> document id -> score) but received ${Array.isArray(run) ? 'an array' : typeof run}`, ErrorCode.invalidArgument);
  if (!isRecord(qrels)) throw new SpladeError(`Expected qrels (query id -> document id -> relevance) but received ${Array.isArray(qrels) ? 'an array' : typeof qrels}`, ErrorCode.invalidArgument);
  if (!Array.isArray(metrics) || metrics.length === 0) {
    throw new SpladeError('Expected a non-empty array of metric names for metrics', ErrorCode.invalidArgument);
  }
  const parsed = metrics.map(parseMetric);
  const missingAsZero = opts.missingAsZero ?? true;

  const perQuery: Record<string, Record<string, number>> = Object.create(null) as Record<string, Record<string, number>>;
  const sums = new Float64Array(parsed.length);
  let count = 0;
  for (const qid of Object.keys(qrels)) {
    const judged = qrels[qid];
    if (!isRecord(judged)) throw new SpladeError(`Expected qrels[${JSON.stringify(qid)}] to be an object of document id -> relevance`, ErrorCode.invalidArgument);
    const idealGrades: number[] = [];
    for (const g of Object.values(judged)) if (typeof g === 'number' && g > 0) idealGrades.push(g);
    if (idealGrades.length === 0) continue; // no relevant document: skipped
    idealGrades.sort((a, b) => b - a);
    const docs = Object.prototype.hasOwnProperty.call(run, qid) ? run[qid] : undefined;
    if (docs === undefined && !missingAsZero) continue;
    if (docs !== undefined && !isRecord(docs)) throw new SpladeError(`Expected run[${JSON.stringify(qid)}] to be an object of document id -> score`, ErrorCode.invalidArgument);
    const grades = docs ? rankedGrades(docs, judged as Record<string, number>, qid) : new Float64Array(0);
    const values: Record<string, number> = {};
    parsed.forEach((m, i) => {
      const v = measure(m, grades, idealGrades, idealGrades.length);
      values[m.name] = v;
      sums[i] += v;
    });
    perQuery[qid] = values;
    count++;
  }
  const mean: Record<string, number> = {};
  parsed.forEach((m, i) => {
    mean[m.name] = count > 0 ? sums[i] / count : 0;
  });
  return { mean, perQuery };
}
