import { SpladeError } from '../../errors.js';
import { Bm25Index } from '../../bm25/index.js';
import { writeRun } from '../../data/trec.js';
import { readVectors } from '../../data/vectors.js';
import { formatEfficiency, latencySummary } from '../../eval/efficiency.js';
import { loadSparseEncoder } from '../../model/ensemble.js';
import { bm25SearchAll, encodeStream, readTexts, searchAll, sparseEfficiency } from '../../pipeline.js';
import { InvertedIndex } from '../../search/inverted-index.js';
import type { SparseVector } from '../../sparse.js';
import { MODEL_FLAGS_HELP, SEARCH_FLAGS_HELP, intOption, modelFlags, modelLoadOptions, parse, required, searchFlags, searchOptions } from '../args.js';
import { TEXT_FLAGS_HELP, encoderQueryWeights, queryIdf, readModelTexts, textFlags, textMode } from '../text-options.js';

const HELP = `usage: splade search --index INDEX --queries QUERY_VECTORS.jsonl --out RUN [options]
       splade search --index INDEX --model DIR[,DIR...] --queries queries.jsonl --out RUN [options]
       splade search --bm25 INDEX --queries queries.jsonl --out RUN [--k 1000]

Answers queries against an index (a file, or a live index directory: its newest commit) and writes
a TREC run. Query vectors come from 'splade encode --kind query', or are encoded here with --model.
Ends with the efficiency figures: terms per document and query, FLOPS, index size, latency
percentiles.

options:
  --k N                     documents per query (default 1000)
${SEARCH_FLAGS_HELP}
  --tag NAME                run tag (default splade)
with --model:
${TEXT_FLAGS_HELP}
${MODEL_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    index: { type: 'string' }, bm25: { type: 'string' }, queries: { type: 'string' }, model: { type: 'string' }, out: { type: 'string' },
    k: { type: 'string' }, ...searchFlags, tag: { type: 'string' }, ...modelFlags, ...textFlags,
  }, HELP);
  if (!v) return 0;
  const k = intOption(v, 'k', 1000);
  const out = required(v, 'out');
  const queriesPath = required(v, 'queries');
  if (v.bm25) {
    const index = Bm25Index.open(v.bm25 as string);
    const texts = [];
    for await (const q of readTexts(queriesPath, 'query')) texts.push(q);
    const { run, latenciesMs } = bm25SearchAll(index, texts, k);
    await writeRun(out, run, { tag: (v.tag as string) ?? 'bm25' });
    console.error(`wrote ${out}: ${Object.keys(run).length} queries; ${formatEfficiency({ latencyMs: latencySummary(latenciesMs) })}`);
    return 0;
  }
  const index = InvertedIndex.open(required(v, 'index'));
  const queries: { id: string; vector: SparseVector }[] = [];
  if (v.model) {
    const model = await loadSparseEncoder(v.model as string, modelLoadOptions(v));
    const mode = textMode(v);
    const idf = await queryIdf(v, model, mode);
    const texts = readModelTexts(queriesPath, 'query', mode);
    if (idf) for await (const q of texts) queries.push({ id: q.id, vector: idf.query(q.text) });
    else for await (const q of encodeStream(model, texts, { kind: 'query', queryWeights: encoderQueryWeights(v) })) queries.push(q);
  } else {
    if (v.text !== undefined || v['query-weights'] !== undefined || v.corpus !== undefined) throw new SpladeError('--text, --query-weights and --corpus need --model (query vectors given as a file are used as they are)');
    for await (const q of readVectors(queriesPath)) queries.push(q);
  }
  const how = searchOptions(v);
  const algorithm = how.algorithm;
  const res = searchAll(index, queries, { k, ...how });
  await writeRun(out, res.run, { tag: (v.tag as string) ?? 'splade' });
  const eff = sparseEfficiency(index, undefined, queries.map((q) => q.vector), res.latenciesMs);
  console.error(`wrote ${out}: ${queries.length} queries, ${algorithm}; ${formatEfficiency(eff)}`);
  return 0;
}
