import { readQrels } from '../../data/qrels.js';
import { readRun } from '../../data/trec.js';
import { evaluate } from '../../eval/evaluate.js';
import { listOption, parse, required } from '../args.js';
import { formatTable } from '../table.js';

const HELP = `usage: splade eval --run RUN --qrels QRELS [--metrics ndcg@10,mrr@10,recall@100] [--per-query] [--json]

Scores a TREC run against judgments (BEIR qrels TSV or TREC qrels) with trec_eval's definitions.
Metrics: ndcg@k, mrr@k, recall@k, p@k, map (trec_eval names such as ndcg_cut_10 work too).`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, { run: { type: 'string' }, qrels: { type: 'string' }, metrics: { type: 'string' }, 'per-query': { type: 'boolean' }, json: { type: 'boolean' } }, HELP);
  if (!v) return 0;
  const metrics = listOption(v, 'metrics', ['ndcg@10', 'mrr@10', 'recall@100']);
  const result = evaluate(await readRun(required(v, 'run')), await readQrels(required(v, 'qrels')), metrics);
  if (v.json) {
    console.log(JSON.stringify(v['per-query'] ? result : { mean: result.mean }));
    return 0;
  }
  if (v['per-query']) {
    const rows = Object.entries(result.perQuery).map(([qid, m]) => [qid, ...metrics.map((k) => m[k])]);
    console.log(formatTable(['query', ...metrics], rows));
    console.log('');
  }
  console.log(formatTable(['', ...metrics], [['mean', ...metrics.map((k) => result.mean[k])]]));
  return 0;
}
