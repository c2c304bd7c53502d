import { readRun, writeRun } from '../../data/trec.js';
import type { Run } from '../../data/types.js';
import { ErrorCode, SpladeError } from '../../errors.js';
import { SCORE_NORMS, weightedFusion, weightedReciprocalRankFusion } from '../../eval/fusion.js';
import { intOption, listOption, parse, required } from '../args.js';

const METHODS = [...SCORE_NORMS, 'rrf'] as const;
type Method = (typeof METHODS)[number];

const HELP = `usage: splade fuse --runs RUN1,RUN2[,...] --out RUN [options]

Fuses several TREC runs (plain or gzipped) into one, query by query: an ensemble of SPLADE models,
or SPLADE with BM25 (hybrid search). A query missing from some runs is still fused; a document a run
did not retrieve gets that run's floor (0 for max, minmax and rrf; the lowest z-score for zscore).

options:
  --method M        how the runs' scores are combined (default max):
                      max     sum of weight * score / (the query's top score in that run)
                      minmax  sum of weight * (score - min) / (max - min)
                      zscore  sum of weight * (score - mean) / standard deviation
                      rrf     reciprocal-rank fusion, sum of weight / (60 + rank); ranks as trec_eval
                              ranks (score descending, ties by document id descending)
  --weights W1,W2   one weight per run, finite and >= 0, not all 0 (default all 1); with rrf a
                    weight multiplies that run's reciprocal-rank contribution
  --k N             documents kept per query (default 1000)
  --tag NAME        run tag (default fused)`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, { runs: { type: 'string' }, out: { type: 'string' }, method: { type: 'string' }, weights: { type: 'string' }, k: { type: 'string' }, tag: { type: 'string' } }, HELP);
  if (!v) return 0;
  const paths = listOption(v, 'runs', []);
  if (paths.length < 2) throw new SpladeError(`--runs needs at least two comma-separated run files, got ${paths.length} (see --help)`, ErrorCode.invalidArgument);
  const out = required(v, 'out');
  const method = methodOption(v.method);
  const weights = weightsOption(listOption(v, 'weights', []), paths.length);
  const k = intOption(v, 'k', 1000);
  const tag = (v.tag as string | undefined) ?? 'fused';
  const runs: Run[] = [];
  for (const p of paths) runs.push(await readRun(p));
  // Fused in full, then cut to k by writeRun, so the documents kept are the top k in the order
  // trec_eval ranks them (ties at the cut go the way the written ranks go).
  const fused = method === 'rrf' ? weightedReciprocalRankFusion(runs, weights) : weightedFusion(runs, weights, method, Infinity);
  await writeRun(out, fused, { tag, k });
  console.error(`wrote ${out}: ${Object.keys(fused).length} queries, method ${method}, weights ${weights.join(',')}, ${runs.length} runs, k ${k}`);
  return 0;
}

function methodOption(value: unknown): Method {
  const m = value ?? 'max';
  if (!(METHODS as readonly unknown[]).includes(m)) throw new SpladeError(`--method must be one of ${METHODS.join(', ')}, got ${String(m)}`, ErrorCode.invalidArgument);
  return m as Method;
}

function weightsOption(given: string[], runCount: number): number[] {
  if (given.length === 0) return Array<number>(runCount).fill(1);
  if (given.length !== runCount) throw new SpladeError(`--weights needs one weight per run (${runCount} runs), got ${given.length}: ${given.join(',')}`, ErrorCode.invalidArgument);
  const weights = given.map(Number);
  weights.forEach((w, i) => {
    if (!Number.isFinite(w) || w < 0) throw new SpladeError(`--weights: each weight must be a finite number >= 0, got ${given[i]} for run ${i + 1}`, ErrorCode.invalidArgument);
  });
  if (weights.every((w) => w === 0)) throw new SpladeError('--weights: at least one weight must be above 0', ErrorCode.invalidArgument);
  return weights;
}
