import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadBeir } from '../../data/beir.js';
import { formatEfficiency, type Efficiency } from '../../eval/efficiency.js';
import { SpladeError } from '../../errors.js';
import { evaluate } from '../../eval/evaluate.js';
import { info } from '../../info.js';
import { SpladeModel } from '../../model/splade-model.js';
import { encodeIndex, readTexts, searchAll, sparseEfficiency } from '../../pipeline.js';
import { bm25Run, initModel } from '../../recipe/stages.js';
import { MODEL_FLAGS_HELP, modelFlags, modelLoadOptions, parse } from '../args.js';
import { Progress } from '../../progress.js';
import { formatTable } from '../table.js';

const HELP = `usage: splade demo [--collection DIR] [--model DIR|ORG/NAME]

The main job on bundled data: indexes a collection (default: the bundled MED collection, 1033
abstracts, 30 judged queries) with BM25 and with a SPLADE model, searches its queries, and prints
nDCG@10, RR@10 and Recall@100 with each run's efficiency figures. Without --model it uses a model
the package initialises itself (lexical initialisation, untrained), and says so.

${MODEL_FLAGS_HELP}`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const METRICS = ['ndcg@10', 'mrr@10', 'recall@100'];

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, { collection: { type: 'string' }, model: { type: 'string' }, ...modelFlags }, HELP);
  if (!v) return 0;
  const dir = (v.collection as string | undefined) ?? join(root, 'data', 'med');
  if (!existsSync(dir)) throw new SpladeError(`no collection at ${dir}`);
  const data = await loadBeir(dir, 'test');
  const judged = data.queries.filter((q) => data.qrels[q.id]);
  const i = info();
  console.log(`collection ${dir}: ${judged.length} judged queries; cpu kernels ${i.cpu}, ${i.threads} threads\n`);
  const rows: (string | number)[][] = [];
  const effs: [string, Efficiency][] = [];

  // BM25 over the native inverted index.
  let t0 = performance.now();
  const docs: { id: string; text: string }[] = [];
  for await (const d of readTexts(data.paths.corpus, 'document')) docs.push(d);
  const bm25 = bm25Run(docs, judged, 100);
  const bm25Eval = evaluate(bm25.run, data.qrels, METRICS);
  rows.push(['BM25 (k1 0.9, b 0.4)', ...METRICS.map((m) => bm25Eval.mean[m]), ((performance.now() - t0) / 1000).toFixed(1)]);
  effs.push(['BM25', bm25.efficiency]);

  // SPLADE: encode the corpus, index, encode the queries, search with MaxScore.
  let modelDir = v.model as string | undefined;
  let tmp: string | undefined;
  let label = 'SPLADE';
  if (!modelDir) {
    tmp = mkdtempSync(join(tmpdir(), 'splade-demo-'));
    modelDir = join(tmp, 'model');
    initModel(modelDir, { layers: 2, hidden: 128, heads: 2, init: 'lexical' });
    label = 'SPLADE (untrained, lexical init)';
    console.log('No trained model given: using a 2-layer, 128-wide BERT the package initialised itself (lexical');
    console.log('initialisation: each token maps to itself, no learned expansion or weighting). Pass --model for a real one.\n');
  }
  try {
    t0 = performance.now();
    const model = await SpladeModel.load(modelDir, modelLoadOptions(v));
    const progress = new Progress({ label: 'encode documents', total: docs.length, unit: 'docs' });
    const { index, stats } = await encodeIndex(model, docs, { onBatch: (n) => progress.tick(n) });
    progress.finish();
    const queries = await model.encode(judged.map((q) => q.text), { kind: 'query' });
    const res = searchAll(index, judged.map((q, j) => ({ id: q.id, vector: queries[j] })), { k: 100, algorithm: 'maxscore' });
    const ev = evaluate(res.run, data.qrels, METRICS);
    rows.push([label, ...METRICS.map((m) => ev.mean[m]), ((performance.now() - t0) / 1000).toFixed(1)]);
    effs.push(['SPLADE', sparseEfficiency(index, stats, queries, res.latenciesMs)]);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }

  console.log(`\n${formatTable(['run', ...METRICS, 'seconds'], rows)}\n`);
  for (const [name, e] of effs) console.log(`${name}: ${formatEfficiency(e)}`);
  return 0;
}
