import { scoreNegatives } from '../../train/teacher-scores.js';
import { intOption, parse, required } from '../args.js';
import { Progress } from '../../progress.js';

const HELP = `usage: splade score --negatives IN.jsonl --corpus CORPUS --queries QUERIES --model CROSS_DIR|ORG/NAME --out OUT.jsonl [options]

Adds cross-encoder teacher scores to a negatives file (as \`splade mine\` writes it): every record
{"qid", "pos": [...], "neg": {name: [...]}} gets "scores": {"<docid>": logit, ...} for each of its
positive and negative documents. The model is a BertForSequenceClassification with one label (e.g.
cross-encoder/ms-marco-MiniLM-L-6-v2). Streams the records; only the documents they name are kept
in memory; OUT is written atomically.

options:
  --batch-size N     pairs per forward pass (default 32)
  --max-length N     tokens per pair (default 512, capped at the model's positions)
  --threads N        CPU threads`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    negatives: { type: 'string' }, corpus: { type: 'string' }, queries: { type: 'string' }, model: { type: 'string' },
    out: { type: 'string' }, 'batch-size': { type: 'string' }, 'max-length': { type: 'string' }, threads: { type: 'string' },
  }, HELP);
  if (!v) return 0;
  const [negatives, corpus, queries, model, out] = (['negatives', 'corpus', 'queries', 'model', 'out'] as const).map((k) => required(v, k));
  const count = await scoreNegatives({
    negatives, corpus, queries, model, out,
    batchSize: intOption(v, 'batch-size', 32),
    maxLength: v['max-length'] === undefined ? undefined : intOption(v, 'max-length', 512, 3),
    threads: v.threads === undefined ? undefined : intOption(v, 'threads', 1),
    progress: (task) => new Progress(task),
  });
  console.error(`wrote ${out}: ${count} queries`);
  return 0;
}
