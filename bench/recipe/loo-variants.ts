// Evaluation variants of a leave-one-out run's models, without retraining: how documents are
// encoded (cut at N tokens, or windows of N max-pooled into one vector) and how queries are formed
// (the query encoder cut at N tokens, the same restricted to the query's own pieces, or
// inference-free idf bags). Prints nDCG@10 per held-out collection, alone / fused with BM25
// (max-normalised score sum); the runs are kept in <work>/fold-<c>/<runs file> (default
// variants.json) so a second call only computes what is new.
//
//   npx tsx bench/recipe/loo-variants.ts <work> d256q256,d128q256,dwin128q256,d128q256self,d128idf,d128idftf
//   SPLADE_LOO_VARIANTS_MODEL=<work>/pseudo-train/model ...   (one model for every collection instead of the fold models)
// Variant = documents (d<N> | dwin<N>) + queries (q<N> | q<N>self | idf | idftf | idfbm: idftf of the words BM25 keeps, bm25QueryText).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { SpladeModel } from '../../lib/index.js';
import type { Run } from '../../lib/data/types.js';
import { searchAll } from '../../lib/pipeline.js';
import { mapTexts, readCollection } from '../../lib/data/collections.js';
import { WordPieceIdf, bm25QueryText, modelWordPieces } from '../../lib/model/idf-query.js';
import { fuseRuns } from '../../lib/eval/fusion.js';
import { bm25Run, evaluateRun } from '../../lib/recipe/stages.js';
import { InvertedIndex } from '../../lib/search/inverted-index.js';
import type { SparseVector } from '../../lib/sparse.js';

const [WORK, list] = process.argv.slice(2);
if (!WORK || !list) throw new Error('usage: loo-variants.ts <work> <variant,...>');
const VARIANTS = list.split(',');
const DATA = process.env.SPLADE_LOO_DATA ?? '/work/shared/data';
const NAMES = ['cranfield', 'cacm', 'med', 'npl', 'lisa'];
const RUNS = process.env.SPLADE_LOO_VARIANTS_RUNS ?? 'variants.json';
const modelDir = (n: string) => process.env.SPLADE_LOO_VARIANTS_MODEL ?? join(WORK, `fold-${n}`, 'train', 'model');

function maxPool(vs: SparseVector[]): SparseVector {
  const m = new Map<number, number>();
  for (const v of vs) v.indices.forEach((t, i) => m.set(t, Math.max(m.get(t) ?? 0, v.values[i])));
  const idx = [...m.keys()].sort((a, b) => a - b);
  return { indices: Uint32Array.from(idx), values: Float32Array.from(idx, (t) => m.get(t)!) };
}

/** d<N>: cut at N tokens; dwin<N>: the whole text (up to max_position_embeddings) in windows of N, max-pooled. */
async function encodeDocs(model: SpladeModel, texts: string[], spec: string): Promise<SparseVector[]> {
  const win = /^dwin(\d+)$/.exec(spec), cut = /^d(\d+)$/.exec(spec);
  if (cut) return model.encode(texts, { kind: 'document', maxLength: Number(cut[1]) });
  if (!win) throw new Error(`unknown document variant ${spec}`);
  const W = Number(win[1]), windows: Int32Array[] = [], owner: number[] = [];
  texts.forEach((t, i) => {
    const ids = model.tokenize(t, { kind: 'document', maxLength: model.maxPositions });
    const body = ids.subarray(1, ids.length - 1);
    for (let s = 0; s === 0 || s < body.length; s += W - 2) {
      windows.push(Int32Array.from([ids[0], ...body.subarray(s, s + W - 2), ids[ids.length - 1]]));
      owner.push(i);
    }
  });
  const parts: SparseVector[][] = texts.map(() => []);
  (await model.encodeIds(windows)).forEach((v, j) => parts[owner[j]].push(v));
  return parts.map(maxPool);
}

async function encodeQueries(model: SpladeModel, texts: string[], spec: string, idf: () => WordPieceIdf): Promise<SparseVector[]> {
  if (spec === 'idftf') return texts.map((t) => idf().query(t));
  if (spec === 'idfbm') return texts.map((t) => idf().query(bm25QueryText(t)));
  if (spec === 'idf') {
    return texts.map((t) => {
      const v = idf().query(t);  // count x idf; binary: idf alone
      return { indices: v.indices, values: Float32Array.from(v.indices, (p) => idf().idf(p)) };
    });
  }
  const m = /^q(\d+)(self)?$/.exec(spec);
  if (!m) throw new Error(`unknown query variant ${spec}`);
  const vs = await model.encode(texts, { kind: 'query', maxLength: Number(m[1]) });
  if (!m[2]) return vs;
  // no query expansion: only the pieces the query has
  return vs.map((v, i) => {
    const own = new Set(model.tokenize(texts[i], { kind: 'query', maxLength: model.maxPositions }));
    const keep = [...v.indices.keys()].filter((j) => own.has(v.indices[j]));
    return { indices: Uint32Array.from(keep, (j) => v.indices[j]), values: Float32Array.from(keep, (j) => v.values[j]) };
  });
}

const means: Record<string, number[]> = {};
for (const n of NAMES) {
  const raw = await readCollection(join(DATA, n));
  // SPLADE_LOO_TEXT=words: the texts as a SPLADE_LOO_TEXT=words harness run gave them to its models
  const c = process.env.SPLADE_LOO_TEXT === 'words' ? mapTexts(raw, (t) => bm25QueryText(t) || t) : raw;
  const judged = c.queries.filter((q) => c.qrels[q.id]);
  const docs = c.corpus.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text }));
  const file = join(WORK, `fold-${n}`, RUNS);
  const runs: Record<string, Run> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  runs.bm25 ??= bm25Run(docs, judged, 100).run;
  const model = await SpladeModel.load(modelDir(n));
  let idfCache: WordPieceIdf | undefined;
  const idf = () => {
    if (!idfCache) {
      idfCache = new WordPieceIdf(modelWordPieces(model));
      for (const d of docs) idfCache.add(d.text);
    }
    return idfCache;
  };
  const indexes = new Map<string, InvertedIndex>();
  for (const v of VARIANTS) {
    if (runs[v]) continue;
    const m = /^(dwin\d+|d\d+)(.+)$/.exec(v);
    if (!m) throw new Error(`unknown variant ${v}`);
    let index = indexes.get(m[1]);
    if (!index) {
      const vectors = await encodeDocs(model, docs.map((d) => d.text), m[1]);
      index = await InvertedIndex.buildAsync((async function* () { yield* vectors; })(), { docIds: docs.map((d) => d.id), vocabSize: model.vocabulary().length });
      indexes.set(m[1], index);
    }
    const qv = await encodeQueries(model, judged.map((q) => q.text), m[2], idf);
    runs[v] = searchAll(index, judged.map((q, i) => ({ id: q.id, vector: qv[i] })), { k: 100, algorithm: 'maxscore' }).run;
  }
  mkdirSync(join(WORK, `fold-${n}`), { recursive: true });
  writeFileSync(file, JSON.stringify(runs));
  const line = [`${n.padEnd(9)} BM25 ${evaluateRun(runs.bm25, c.qrels)['ndcg@10'].toFixed(3)}`];
  for (const v of VARIANTS) {
    const alone = evaluateRun(runs[v], c.qrels)['ndcg@10'];
    (means[v] ??= []).push(alone);
    line.push(`${v} ${alone.toFixed(3)} / fused ${evaluateRun(fuseRuns([runs[v], runs.bm25], 'sum', 100), c.qrels)['ndcg@10'].toFixed(3)}`);
  }
  console.log(line.join('  '));
}
console.log(`mean      ${VARIANTS.map((v) => `${v} ${(means[v].reduce((a, b) => a + b, 0) / means[v].length).toFixed(3)}`).join('  ')}`);
