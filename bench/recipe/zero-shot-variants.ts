// Evaluation-time variants of zero-shot models (the pseudo-query chains of a leave-one-out run,
// words-only text), each model alone and their ensemble (sum of max-normalised runs), with idf
// queries as the recipe searches: document length normalisation (ln<b>), document weights to a
// power (pow<p>), idf of whole words spread over their pieces (widfn; widf: not divided),
// pseudo-relevance feedback (prf<docs>_<terms>_<beta>: the top documents' mean vector, its terms
// ranked by weight x idf, added to the query times beta). Development only (bench/RESULTS.md, after run 8).
//
//   npx tsx bench/recipe/zero-shot-variants.ts <model>,<model>,... base,ln0.2,pow0.7,widfn,prf10_20_0.5
import { join } from 'node:path';
import { SpladeModel } from '../../lib/index.js';
import type { Run } from '../../lib/data/types.js';
import { searchAll } from '../../lib/pipeline.js';
import { mapTexts, readCollection } from '../../lib/data/collections.js';
import { bm25QueryText, corpusWordPieceIdf, modelWordPieces, type WordPieceIdf } from '../../lib/model/idf-query.js';
import { weightedFusion } from '../../lib/eval/fusion.js';
import { bm25Run, evaluateRun } from '../../lib/recipe/stages.js';
import { InvertedIndex } from '../../lib/search/inverted-index.js';
import { sumVectors, type SparseVector } from '../../lib/sparse.js';
import { bm25Idf } from '../../lib/bm25/index.js';

const models = process.argv[2].split(',');
const variants = (process.argv[3] ?? 'base').split(',');
const WORDS = process.env.SPLADE_LOO_TEXT !== 'raw'; // words-only text unless SPLADE_LOO_TEXT=raw
const NAMES = (process.env.ONLY ?? 'cranfield,cacm,med,npl,lisa').split(',');
const res: Record<string, number[]> = {};
const add = (k: string, v: number) => (res[k] ??= []).push(v);
for (const n of NAMES) {
  const raw = await readCollection(join(process.env.SPLADE_LOO_DATA ?? '/work/shared/data', n));
  const c = WORDS ? mapTexts(raw, (t) => bm25QueryText(t) || t) : raw;
  const judged = c.queries.filter((q) => c.qrels[q.id]);
  const docs = c.corpus.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text }));
  const bm = bm25Run(docs, judged, 100).run;
  add('bm25', evaluateRun(bm, c.qrels)['ndcg@10']);
  const perVariant: Record<string, Run[]> = {};
  // the ensemble as one index: every document's vectors summed over the models (raw scores added)
  const perDoc: SparseVector[][] = docs.map(() => []);
  let lastIdf: WordPieceIdf | undefined, lastVocab = 0;
  for (const dir of models) {
    const model = await SpladeModel.load(dir);
    const wp = modelWordPieces(model);
    const idf = await corpusWordPieceIdf(model, docs.map((d) => d.text));
    const vecs = await model.encode(docs.map((d) => d.text), { kind: 'document', maxLength: 128 });
    const ntok = docs.map((d) => Math.min(126, wp(d.text).length));
    const avg = ntok.reduce((a, b) => a + b, 0) / ntok.length;
    // word-level df
    const wdf = new Map<string, number>();
    for (const d of docs) for (const w of new Set(bm25QueryText(d.text).split(' '))) wdf.set(w, (wdf.get(w) ?? 0) + 1);
    vecs.forEach((x, i) => perDoc[i].push(x));
    lastIdf = idf;
    lastVocab = model.vocabulary().length;
    for (const v of variants) {
      let dv = vecs;
      const ln = /ln([\d.]+)/.exec(v);
      if (ln) {
        const b = Number(ln[1]);
        dv = vecs.map((x, i) => ({ indices: x.indices, values: x.values.map((y) => y / (1 - b + b * ntok[i] / avg)) }));
      }
      const pw = /pow([\d.]+)/.exec(v);
      if (pw) dv = dv.map((x) => ({ indices: x.indices, values: x.values.map((y) => y ** Number(pw[1])) }));
      const index = await InvertedIndex.buildAsync((async function* () { yield* dv; })(), { docIds: docs.map((d) => d.id), vocabSize: model.vocabulary().length });
      let qv: SparseVector[];
      if (v.includes('widf')) {
        qv = judged.map((q) => {
          const m = new Map<number, number>();
          for (const w of bm25QueryText(q.text).split(' ').filter(Boolean)) {
            const df = wdf.get(w) ?? 0;
            if (!df) continue;
            const ps = Array.from(wp(w));
            const wi = bm25Idf(docs.length, df) / (v.includes('widfn') ? ps.length : 1);
            for (const p of ps) m.set(p, (m.get(p) ?? 0) + wi);
          }
          const ids = [...m.keys()].sort((a, b) => a - b);
          return { indices: Uint32Array.from(ids), values: Float32Array.from(ids, (t) => m.get(t)!) };
        });
      } else qv = judged.map((q) => idf.query(q.text));
      let run = searchAll(index, judged.map((q, i) => ({ id: q.id, vector: qv[i] })), { k: 100, algorithm: 'maxscore' }).run;
      const prf = /prf(\d+)_(\d+)_([\d.]+)/.exec(v);
      if (prf) {
        const [fk, fm, beta] = [Number(prf[1]), Number(prf[2]), Number(prf[3])];
        const pos = new Map(docs.map((d, i) => [d.id, i]));
        const q2 = judged.map((q, qi) => {
          const top = Object.entries(run[q.id]).sort((a, b) => b[1] - a[1]).slice(0, fk);
          const c = new Map<number, number>();
          for (const [d] of top) { const x = dv[pos.get(d)!]; x.indices.forEach((t, j) => c.set(t, (c.get(t) ?? 0) + x.values[j] / top.length)); }
          const cand = [...c.entries()].map(([t, w]) => [t, w * idf.idf(t)] as const).filter(([, w]) => w > 0).sort((a, b) => b[1] - a[1]).slice(0, fm);
          const m = new Map<number, number>();
          qv[qi].indices.forEach((t, j) => m.set(t, qv[qi].values[j]));
          for (const [t, w] of cand) m.set(t, (m.get(t) ?? 0) + beta * w);
          const ids = [...m.keys()].sort((a, b) => a - b);
          return { indices: Uint32Array.from(ids), values: Float32Array.from(ids, (t) => m.get(t)!) };
        });
        run = searchAll(index, judged.map((q, i) => ({ id: q.id, vector: q2[i] })), { k: 100, algorithm: 'maxscore' }).run;
      }
      (perVariant[v] ??= []).push(run);
      add(`${v} ${dir.split('/').slice(-2, -1)[0]}`, evaluateRun(run, c.qrels)['ndcg@10']);
    }
  }
  if (models.length > 1) {
    const sv = perDoc.map(sumVectors);
    const index = await InvertedIndex.buildAsync((async function* () { yield* sv; })(), { docIds: docs.map((d) => d.id), vocabSize: lastVocab });
    const run = searchAll(index, judged.map((q) => ({ id: q.id, vector: lastIdf!.query(q.text) })), { k: 100, algorithm: 'maxscore' }).run;
    add('summed vectors, one index', evaluateRun(run, c.qrels)['ndcg@10']);
  }
  for (const v of variants) {
    const runs = perVariant[v];
    if (runs.length > 1) add(`${v} ENS`, evaluateRun(weightedFusion(runs, runs.map(() => 1), 'max', 100), c.qrels)['ndcg@10']);
  }
  console.error(`done ${n}`);
}
for (const [k, xs] of Object.entries(res)) console.log(`${k.padEnd(44)} ${xs.map((x) => x.toFixed(3)).join(' ')}  mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(4)}`);
