import { readVectors } from '../../data/vectors.js';
import { latencySummary } from '../../eval/efficiency.js';
import { info } from '../../info.js';
import { SpladeModel } from '../../model/splade-model.js';
import { readTexts } from '../../pipeline.js';
import { InvertedIndex, type SearchAlgorithm } from '../../search/inverted-index.js';
import type { SparseVector } from '../../sparse.js';
import { MODEL_FLAGS_HELP, intOption, listOption, modelFlags, modelLoadOptions, parse, required, searchOptions } from '../args.js';
import { formatTable } from '../table.js';

const ALL_ALGORITHMS: SearchAlgorithm[] = ['exhaustive', 'wand', 'maxscore', 'bmw', 'bmp', 'approximate'];

const HELP = `usage: splade bench --index INDEX --queries QUERY_VECTORS.jsonl [--k 10,1000] [--repeat 3]
                    [--algorithms exhaustive,wand,maxscore,bmw,bmp,approximate] [--alpha X] [--beta X] [--blocks N]
       splade bench --model DIR --input TEXTS [--kind document|query] [--limit 64] [--batch-size 32]

Measures on your own data: per-query latency (mean, p50, p90, p99 ms), postings scored and recall@k
against exhaustive search (1 for every exact algorithm; approximate search may miss documents) for
each search algorithm on one thread, or encoding throughput (texts/s, tokens/s) of a model. --alpha,
--beta and --blocks set approximate search's knobs (see splade search --help). bench/ in the repository holds
the harnesses behind bench/RESULTS.md.

model options (encoding throughput):
${MODEL_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    index: { type: 'string' }, queries: { type: 'string' }, k: { type: 'string' }, repeat: { type: 'string' },
    algorithms: { type: 'string' }, alpha: { type: 'string' }, beta: { type: 'string' }, blocks: { type: 'string' },
    model: { type: 'string' }, input: { type: 'string' }, kind: { type: 'string' }, limit: { type: 'string' }, 'batch-size': { type: 'string' }, ...modelFlags,
  }, HELP);
  if (!v) return 0;
  if (v.model) {
    const model = await SpladeModel.load(v.model as string, modelLoadOptions(v));
    const kind = ((v.kind as string) ?? 'document') as 'query' | 'document';
    const limit = intOption(v, 'limit', 64);
    const texts: string[] = [];
    for await (const t of readTexts(required(v, 'input'), kind)) {
      texts.push(t.text);
      if (texts.length >= limit) break;
    }
    const tokens = texts.reduce((n, t) => n + model.tokenize(t, { kind }).length, 0);
    await model.encode(texts.slice(0, 4), { kind }); // warm-up
    const t0 = performance.now();
    await model.encode(texts, { kind, batchSize: intOption(v, 'batch-size', 32) });
    const s = (performance.now() - t0) / 1000;
    console.log(`encode ${texts.length} ${kind}s (${tokens} tokens) on ${info().threads} threads: ${(texts.length / s).toFixed(1)} texts/s, ${(tokens / s).toFixed(0)} tokens/s`);
    return 0;
  }
  const index = InvertedIndex.open(required(v, 'index'));
  const queries: SparseVector[] = [];
  for await (const q of readVectors(required(v, 'queries'))) queries.push(q.vector);
  const ks = (typeof v.k === 'string' ? v.k : '10,1000').split(',').map(Number);
  const repeat = intOption(v, 'repeat', 3);
  const algorithms = listOption(v, 'algorithms', index.hasBlockMaxStore ? ALL_ALGORITHMS : ALL_ALGORITHMS.filter((a) => a !== 'bmp' && a !== 'approximate'));
  const knobs = searchOptions(v);
  const rows: (string | number)[][] = [];
  for (const k of ks) {
    const exact = queries.map((q) => new Set(index.search(q, { k, algorithm: 'exhaustive' }).ids));
    for (const algorithm of algorithms as SearchAlgorithm[]) {
      const opts = algorithm === 'approximate' ? { k, algorithm, alpha: knobs.alpha, beta: knobs.beta, blocks: knobs.blocks } : { k, algorithm };
      let best: number[] | undefined;
      let postings = 0, found = 0, wanted = 0;
      for (let r = 0; r < repeat; r++) {
        const ms: number[] = [];
        postings = found = wanted = 0;
        queries.forEach((q, i) => {
          const t0 = performance.now();
          const res = index.search(q, opts);
          ms.push(performance.now() - t0);
          postings += res.postingsScored;
          for (const id of res.ids) found += exact[i].has(id) ? 1 : 0;
          wanted += exact[i].size;
        });
        if (!best || ms.reduce((a, b) => a + b) < best.reduce((a, b) => a + b)) best = ms;
      }
      const l = latencySummary(best!)!;
      rows.push([`k=${k} ${algorithm}`, l.mean, l.p50, l.p90, l.p99, Math.round(postings / Math.max(1, queries.length)),
        (wanted ? found / wanted : 1).toFixed(3)]);
    }
  }
  console.log(`${index.numDocs} documents, ${index.numPostings} postings, ${queries.length} queries, best of ${repeat} rounds\n`);
  console.log(formatTable(['algorithm', 'mean ms', 'p50 ms', 'p90 ms', 'p99 ms', 'postings/query', `recall@k`], rows));
  return 0;
}
