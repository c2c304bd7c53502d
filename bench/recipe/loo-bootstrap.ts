// How sure is "SPLADE beats BM25 on the mean nDCG@10 over the held-out collections"? A bootstrap
// over queries: each of 10000 resamples draws every collection's judged queries with replacement
// (as many as it has), and takes mean over collections of (SPLADE - BM25) nDCG@10. Prints the
// observed difference, the 95% interval and the share of resamples at or below 0. Also, as the
// lexical ceiling of a document side that reproduces BM25 over the model's vocabulary: BM25 with
// the word-piece analyzer (the pieces idf queries use) next to BM25 over words, and BM25 over the
// word pieces of only the words BM25 keeps (bm25QueryText on documents and queries: no stop words,
// punctuation or single letters).
//
//   npx tsx bench/recipe/loo-bootstrap.ts <work> [run key, default spladeZero]   (reads <work>/fold-<c>/runs.json)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Bm25Index, SpladeModel } from '../../lib/index.js';
import type { Run } from '../../lib/data/types.js';
import { evaluate } from '../../lib/eval/evaluate.js';
import { mulberry32 } from '../../lib/random.js';
import { readCollection } from '../../lib/data/collections.js';
import { bm25QueryText } from '../../lib/model/idf-query.js';
import { evaluateRun } from '../../lib/recipe/stages.js';

const [WORK, KEY = 'spladeZero'] = process.argv.slice(2);
if (!WORK) throw new Error('usage: loo-bootstrap.ts <work> [run key]');
const DATA = process.env.SPLADE_LOO_DATA ?? '/work/shared/data';
const NAMES = ['cranfield', 'cacm', 'med', 'npl', 'lisa'];
const model = await SpladeModel.load(join(WORK, 'init'));
const vocab = model.vocabulary();
const pieces = (t: string) => Array.from(model.tokenize(t, { kind: 'document', maxLength: 1 << 20 }).subarray(1, -1), (id) => vocab[id]);

const diffs: number[][] = [];
const line: string[] = [];
for (const n of NAMES) {
  const c = await readCollection(join(DATA, n));
  const runs = JSON.parse(readFileSync(join(WORK, `fold-${n}`, 'runs.json'), 'utf8')) as Record<string, Run>;
  const per = (r: Run) => evaluate(r, c.qrels, ['ndcg@10']).perQuery;
  const s = per(runs[KEY]), b = per(runs.bm25);
  diffs.push(Object.keys(b).map((q) => (s[q]?.['ndcg@10'] ?? 0) - b[q]['ndcg@10']));
  const docs = c.corpus.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text }));
  const pieceBm25 = (tokenize: (t: string) => string[]) => {
    const wp = Bm25Index.build(docs, { analyzer: 'wordpiece', tokenize, backend: 'native' });
    const run: Run = {};
    for (const q of c.queries.filter((x) => c.qrels[x.id])) {
      const r = wp.search(q.text, { k: 100 });
      run[q.id] = Object.fromEntries(r.docIds.map((d, i) => [d, r.scores[i]]));
    }
    return evaluateRun(run, c.qrels)['ndcg@10'].toFixed(3);
  };
  line.push(`${n} words ${evaluateRun(runs.bm25, c.qrels)['ndcg@10'].toFixed(3)} / word pieces ${pieceBm25(pieces)} / pieces of BM25's words ${pieceBm25((t) => pieces(bm25QueryText(t)))}`);
}
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const observed = meanOf(diffs.map(meanOf));
const rand = mulberry32(7);
const R = 10000, stats: number[] = [];
for (let r = 0; r < R; r++) {
  stats.push(meanOf(diffs.map((d) => {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[Math.floor(rand() * d.length)];
    return s / d.length;
  })));
}
stats.sort((a, b) => a - b);
console.log(`${KEY} - BM25, mean over collections of nDCG@10 differences: ${observed.toFixed(4)}; 95% bootstrap interval [${stats[Math.floor(0.025 * R)].toFixed(4)}, ${stats[Math.floor(0.975 * R)].toFixed(4)}]; resamples <= 0: ${(stats.filter((x) => x <= 0).length / R * 100).toFixed(1)}%`);
console.log(`BM25 nDCG@10, words / bert-base-uncased word pieces / pieces of BM25's words: ${line.join('; ')}`);
