import { Bm25Index } from '../../bm25/index.js';
import { writeFileAtomic } from '../../data/atomic.js';
import { readQrels } from '../../data/qrels.js';
import { SpladeError } from '../../errors.js';
import { bm25Retriever, mineNegatives, spladeRetriever, type Retriever } from '../../mine.js';
import { SpladeModel } from '../../model/splade-model.js';
import { encodeIndex, readTexts } from '../../pipeline.js';
import { intOption, listOption, parse, required } from '../args.js';
import { Progress } from '../../progress.js';

const HELP = `usage: splade mine --corpus CORPUS --queries QUERIES --qrels QRELS --out NEGATIVES.jsonl [options]

Mines hard negatives for training: for each judged query, candidates from each retriever (and
their fusion), positives removed, sampled by rank range. Writes JSONL records
{"qid", "pos": [...], "neg": {"bm25": [...], "splade": [...], "fused": [...]}}.

options:
  --retrievers bm25,splade   which retrievers (splade needs --model)
  --model DIR|ORG/NAME       the SPLADE model for the splade retriever
  --fusion rrf|sum|none      also fuse the rankings (default none)
  --depth N                  candidates per retriever (default 100)
  --ranks FROM-TO            1-based rank range to sample from (default 1-depth)
  --count N                  negatives per retriever (default 8)
  --seed N                   sampling seed (default 0)`;

export async function run(argv: string[]): Promise<number> {
  const v = parse(argv, {
    corpus: { type: 'string' }, queries: { type: 'string' }, qrels: { type: 'string' }, out: { type: 'string' },
    retrievers: { type: 'string' }, model: { type: 'string' }, fusion: { type: 'string' }, depth: { type: 'string' },
    ranks: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' },
  }, HELP);
  if (!v) return 0;
  const corpusPath = required(v, 'corpus');
  const names = listOption(v, 'retrievers', ['bm25']);
  const retrievers: Record<string, Retriever> = {};
  const docs: { id: string; text: string }[] = [];
  for await (const d of readTexts(corpusPath, 'document')) docs.push(d);
  for (const name of names) {
    if (name === 'bm25') retrievers.bm25 = bm25Retriever(Bm25Index.build(docs, { backend: 'native' }));
    else if (name === 'splade') {
      const model = await SpladeModel.load(required(v, 'model'));
      const progress = new Progress({ label: 'encode corpus', total: docs.length, unit: 'docs' });
      const { index } = await encodeIndex(model, docs, { onBatch: (n) => progress.tick(n) });
      progress.finish();
      retrievers.splade = spladeRetriever(model, index);
    } else throw new SpladeError(`unknown retriever '${name}' (bm25, splade)`);
  }
  const depth = intOption(v, 'depth', 100);
  let ranks: [number, number] | undefined;
  if (typeof v.ranks === 'string') {
    const m = /^(\d+)-(\d+)$/.exec(v.ranks);
    if (!m) throw new SpladeError(`--ranks must look like 10-100, got ${v.ranks}`);
    ranks = [Number(m[1]), Number(m[2])];
  }
  const queries = [];
  for await (const q of readTexts(required(v, 'queries'), 'query')) queries.push(q);
  const qrels = await readQrels(required(v, 'qrels'));
  const progress = new Progress({ label: 'mine', unit: 'queries' });
  const records = mineNegatives(queries, qrels, retrievers, {
    depth, ranks, count: intOption(v, 'count', 8), seed: intOption(v, 'seed', 0, 0), fusion: ((v.fusion as string) ?? 'none') as 'rrf' | 'sum' | 'none',
  });
  const out = required(v, 'out');
  await writeFileAtomic(out, (async function* () {
    for await (const r of records) {
      progress.tick();
      yield `${JSON.stringify(r)}\n`;
    }
  })());
  progress.finish();
  console.error(`wrote ${out}: ${progress.count} queries`);
  return 0;
}
