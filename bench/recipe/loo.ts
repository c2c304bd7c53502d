// Leave-one-out over the five bundled classic collections, as BEIR is used: for each collection,
// train on the other four (their judged queries) plus pseudo-queries from the corpora, evaluate on
// the one left out. Writes <work>/results.json, then the report (bench/recipe/runs/REPORT.md + loo.svg;
// runs/ is git-ignored) through bench/recipe/lib/report.ts. Every stage is skipped when its output exists, so a rerun resumes.
//
//   flock /tmp/bench.lock npx tsx bench/recipe/loo.ts        (the timed run; 30 min on 2 shared cores)
//
// Stages (one shared, then one per held-out collection):
//  1. init: 2-layer, 128-wide BERT, bert-base-uncased vocabulary, 'lexical' initialisation.
//  2. pseudo: one pseudo-query per document of all five corpora (title -> rest, or a sentence ->
//     rest of its document); BM25 negatives mined within each corpus; contrastive training with
//     in-batch negatives. Corpus text only: no query or judgment of any collection is used.
//  3. fold <c>: the other four collections' judged queries (BM25 negatives, within each corpus),
//     mixed 1:1 with pseudo-queries of <c>'s corpus; contrastive training from the stage-2 model.
//  4. eval <c>: encode + index <c>'s corpus (documents cut where training cut them), search its
//     queries (MaxScore, k 100) with the query encoder and as inference-free idf queries (word
//     pieces x idf over <c>'s corpus), BM25 (k1 0.9, b 0.4) and the fused runs (max-normalised score
//     sum and RRF at weight 1; and norm(BM25) + w norm(SPLADE) with w and the normalisation chosen
//     by nested leave-one-out: on the other four folds' held-out evaluations, never on <c>'s
//     judgments), nDCG@10, RR@10, R@100. The runs are kept in fold-<c>/runs.json.
// Knobs (env): SPLADE_LOO_WORK, SPLADE_LOO_MLM_STEPS (0: none; else a masked-LM stage on the five corpora after init; a list
// a,b: one MLM + pseudo-query chain per entry (<steps>s<seed>: with its own seed), the zero-shot ensemble sums their max-normalised runs; the folds start from the first), SPLADE_LOO_PSEUDO_STEPS (300), SPLADE_LOO_FOLD_STEPS (80), SPLADE_LOO_ONLY (a,b),
// SPLADE_LOO_SPAN=1 (word-span pseudo-queries where there is no title or sentence), SPLADE_LOO_TAG (the report goes to runs/REPORT-<tag>.md, runs/results-<tag>.json, runs/loo-<tag>.svg),
// SPLADE_LOO_EVAL_DLEN (document tokens at evaluation; default: the training length, DLEN), SPLADE_LOO_QUERY=idf (train for inference-free queries), SPLADE_LOO_MODEL (2x128).
// SPLADE_LOO_PSEUDO_LOSS: the pseudo-query stage's loss, 'contrastive' (default), 'marginmse', 'kldiv' or a '+'-joined sum of them
// (weights 1, e.g. contrastive+marginmse); marginmse / kldiv distil BM25 (lib/recipe/bm25-teacher.ts): the pseudo negatives file
// again with each pair's BM25 score (per corpus, 'words' analyzer) times SPLADE_LOO_TEACHER_SCALE (default 1: raw BM25). The scale
// must put the teacher's margins on the student's: the masked-LM model's pseudo-query margins have an RMS of 8.6 with encoder
// queries and 2.2 with idf queries (scaled to a largest weight of 1), BM25's 6.9 (a sample of 249 records, no judgments); so 1 for
// encoder queries, 0.3 for idf queries (measured by teacher-scale.ts: git show 15f82a6:bench/recipe/teacher-scale.ts). Scaled by 1 / the largest idf (0.10), marginmse +
// contrastive collapsed every vector to 0. Run 6 (bench/RESULTS.md history): every distilled variant ranked below plain contrastive.
// SPLADE_LOO_PSEUDO_QUERY=idf: the pseudo-query stage alone trains for inference-free queries (the folds as SPLADE_LOO_QUERY says).
// SPLADE_LOO_TEXT=words: all text reduced to the words BM25 keeps (no stop words, punctuation, single letters) before the models
// see it: more content words in the 128-token window; BM25 itself is unchanged (its analyzer drops the same).
// SPLADE_LOO_ENSEMBLE=sum: the zero-shot models' document vectors summed into one index, searched once (SpladeEnsemble's form),
// instead of fusing their max-normalised runs.
// SPLADE_LOO_ONLY=none: stop after the masked-LM + pseudo-query chains (development runs of the zero-shot models).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SpladeModel, info } from '../../lib/index.js';
import { latencySummary } from '../../lib/eval/efficiency.js';
import { mapTexts, mergeCollections, readCollection, writeCollection, type Collection } from '../../lib/data/collections.js';
import type { Run } from '../../lib/data/types.js';
import { sumVectors, type SparseVector } from '../../lib/sparse.js';
import { SCORE_NORMS, fuseRuns, weightedFusion } from '../../lib/eval/fusion.js';
import { chooseFusionLeaveOneOut } from './lib/choose.js';
import { bm25QueryText, corpusWordPieceIdf } from '../../lib/model/idf-query.js';
import { pseudoQueries } from '../../lib/recipe/pseudo-queries.js';
import { looReportMarkdown, looPlotSvg, type LooResults, type LooRow } from './lib/report.js';
import { encodeIndex, indexVectors } from '../../lib/pipeline.js';
import { bm25Run, bm25TeacherStage, evaluateRun, initModel, mineStage, runMlmStage, spladeRun, trainStage } from '../../lib/recipe/stages.js';

const here = dirname(fileURLToPath(import.meta.url));
const DATA = process.env.SPLADE_LOO_DATA ?? '/work/shared/data';
const WORK = process.env.SPLADE_LOO_WORK ?? join(here, '..', '.cache', 'recipe-loo');
const PSEUDO_STEPS = Number(process.env.SPLADE_LOO_PSEUDO_STEPS ?? 300);
const FOLD_STEPS = Number(process.env.SPLADE_LOO_FOLD_STEPS ?? 80);
// entries <steps> or <steps>s<seed> (the chain's MLM and pseudo-query seed; default 0)
const CHAINS = (process.env.SPLADE_LOO_MLM_STEPS ?? '0').split(',').map((e) => {
  const m = /^(\d+)(?:s(\d+))?$/.exec(e.trim());
  if (!m) throw new Error(`SPLADE_LOO_MLM_STEPS: expected <steps> or <steps>s<seed>, got ${JSON.stringify(e)}`);
  return { steps: Number(m[1]), seed: Number(m[2] ?? 0), name: `mlm${e.trim()}` };
});
const NAMES = ['cranfield', 'cacm', 'med', 'npl', 'lisa'];
const ONLY = process.env.SPLADE_LOO_ONLY === 'none' ? [] : process.env.SPLADE_LOO_ONLY ? process.env.SPLADE_LOO_ONLY.split(',') : NAMES;
const K = 100;

// SPLADE_LOO_MODEL=<layers>x<hidden> (default 2x128; one attention head per 64 dimensions)
const [LAYERS, HIDDEN] = (process.env.SPLADE_LOO_MODEL ?? '2x128').split('x').map(Number);
const MODEL = { layers: LAYERS, hidden: HIDDEN, heads: Math.max(1, HIDDEN / 64), init: 'lexical' as const };
const BATCH = 16, QLEN = 32, DLEN = 128;
// positions past the training length were never trained: evaluating at 256 tokens lost 0.01 nDCG@10
const EVAL_DLEN = Number(process.env.SPLADE_LOO_EVAL_DLEN ?? DLEN);
const FUSION_WEIGHTS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3];
const PSEUDO_TRAINER = { loss: 'contrastive' as const, inBatchNegatives: true, lr: 1e-3, warmupSteps: Math.round(PSEUDO_STEPS / 10), weightDecay: 0.01,
  lambdaQ: 0.01, lambdaD: 0.01, lambdaWarmupSteps: Math.round(PSEUDO_STEPS / 3), queryReg: 'l1' as const, docReg: 'flops' as const, dropout: 0 };
const FOLD_TRAINER = { ...PSEUDO_TRAINER, lr: 5e-4, warmupSteps: Math.round(FOLD_STEPS / 10), lambdaWarmupSteps: 0 };
// SPLADE_LOO_QUERY=idf: train for inference-free queries (word pieces x idf over the training corpus;
// only the documents are learned), the way the idf-query rows search
const QUERY_WEIGHTS = process.env.SPLADE_LOO_QUERY === 'idf' ? { queryWeights: 'idf' as const } : {};
const PSEUDO_QUERY_WEIGHTS = process.env.SPLADE_LOO_PSEUDO_QUERY === 'idf' ? { queryWeights: 'idf' as const } : QUERY_WEIGHTS;
const PSEUDO_LOSS = (process.env.SPLADE_LOO_PSEUDO_LOSS ?? 'contrastive').split('+').map((loss) => {
  if (!['contrastive', 'marginmse', 'kldiv'].includes(loss)) throw new Error(`SPLADE_LOO_PSEUDO_LOSS: expected contrastive, marginmse, kldiv or a '+'-joined sum, got ${JSON.stringify(loss)}`);
  return { loss: loss as 'contrastive' | 'marginmse' | 'kldiv', weight: 1 };
});
const TEXT_WORDS = process.env.SPLADE_LOO_TEXT === 'words';
// how the zero-shot models make one run: 'fuse' their max-normalised runs (default), or 'sum' their document vectors into one index
const ENSEMBLE = process.env.SPLADE_LOO_ENSEMBLE ?? 'fuse';
if (ENSEMBLE !== 'fuse' && ENSEMBLE !== 'sum') throw new Error(`SPLADE_LOO_ENSEMBLE: expected fuse or sum, got ${JSON.stringify(ENSEMBLE)}`);
// a text with no word BM25 keeps (a title of stop words) stays as it was: an empty text cannot be encoded
const wordsOrRaw = (t: string) => bm25QueryText(t) || t;
const PSEUDO_TEACHER = PSEUDO_LOSS.some((p) => p.loss !== 'contrastive');
const TEACHER_SCALE = Number(process.env.SPLADE_LOO_TEACHER_SCALE ?? 1);
if (!(TEACHER_SCALE > 0)) throw new Error(`SPLADE_LOO_TEACHER_SCALE: expected a positive number, got ${process.env.SPLADE_LOO_TEACHER_SCALE}`);
const PSEUDO_STAGE_TRAINER = PSEUDO_LOSS.length === 1 && !PSEUDO_TEACHER ? PSEUDO_TRAINER : { ...PSEUDO_TRAINER, loss: PSEUDO_LOSS };

// Load average sampled through the run (the machine is shared: other engineers' jobs compete).
const loads: number[] = [loadavg()[0]];
const sampler = setInterval(() => loads.push(loadavg()[0]), 15_000);
const stages: LooResults['stages'] = [];
async function stage<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now(), l0 = loadavg()[0];
  console.error(`== ${name}`);
  const r = await fn();
  const seconds = (performance.now() - t0) / 1000;
  stages.push({ name, seconds, load: [l0, loadavg()[0]] });
  console.error(`== ${name}: ${seconds.toFixed(1)} s (load ${l0.toFixed(2)} -> ${loadavg()[0].toFixed(2)})`);
  return r;
}
const docText = (d: { id: string; title: string; text: string }) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text });

const t0 = performance.now();
const started = new Date().toISOString();
const cols: Record<string, Collection> = {};
for (const n of NAMES) cols[n] = await readCollection(join(DATA, n));

await stage('init', () => initModel(join(WORK, 'init'), MODEL));

// 2. pseudo-queries over all five corpora (text only)
const pseudo: Record<string, Collection> = {};
// SPLADE_LOO_SPAN=1: documents without a title or sentences (NPL) give a span of their words
const SPAN = process.env.SPLADE_LOO_SPAN === '1';
for (const n of NAMES) pseudo[n] = { ...pseudoQueries(cols[n].corpus, { source: 'auto', span: SPAN, seed: 0 }) };
// SPLADE_LOO_TEXT=words: every text the models see (masked-LM corpus, pseudo-queries and their documents, judged queries,
// the documents encoded) reduced to the words BM25 keeps (bm25QueryText); pseudo-queries are cut from the raw text first
if (TEXT_WORDS) {
  for (const n of NAMES) {
    cols[n] = mapTexts(cols[n], wordsOrRaw);
    pseudo[n] = { ...pseudo[n], ...mapTexts({ ...pseudo[n] }, wordsOrRaw) };
  }
}
const pseudoDir = join(WORK, 'pseudo');
await stage('pseudo: write + mine BM25 negatives', async () => {
  if (existsSync(join(pseudoDir, 'negatives.jsonl'))) return;
  const merged = mergeCollections(pseudo);
  await writeCollection(pseudoDir, merged);
  await mineStage(merged.corpus, merged.queries, merged.qrels, join(pseudoDir, 'negatives.jsonl'), { retrievers: ['bm25'], perCollection: true, depth: 50, ranks: [1, 20], count: 1, seed: 0 });
});

// 2a. the teacher scores of the pseudo negatives, for a distilling pseudo-query loss: BM25 of each pair
// within its own corpus, times TEACHER_SCALE (one file per scale)
const teacherNegatives = join(pseudoDir, `negatives-bm25x${TEACHER_SCALE}.jsonl`);
if (PSEUDO_TEACHER) {
  await stage('pseudo: BM25 teacher scores', async () => {
    if (existsSync(teacherNegatives)) return;
    const merged = mergeCollections(pseudo);
    await bm25TeacherStage(merged.corpus, merged.queries, join(pseudoDir, 'negatives.jsonl'), teacherNegatives, { perCollection: true, scale: TEACHER_SCALE });
  });
}

// 1b + 2b, once per entry of SPLADE_LOO_MLM_STEPS: optional masked-LM adaptation on all five corpora
// (text only), as the domain recipe does, then contrastive training on the pseudo-queries. Corpus
// text only: each such model is zero-shot for every collection. The first chain's model is the one
// the folds start from (its folders keep the names of a single chain: mlm, pseudo-train).
async function pseudoChain({ steps: mlmSteps, seed, name }: (typeof CHAINS)[number], first: boolean): Promise<string> {
  const suffix = first ? '' : `-${name}`;
  let startModel = join(WORK, 'init');
  if (mlmSteps > 0) {
    const mlmData = join(WORK, 'mlm-corpus');
    if (!existsSync(join(mlmData, 'corpus.jsonl'))) await writeCollection(mlmData, { ...mergeCollections(cols), queries: [], qrels: {} });
    startModel = await stage(`mlm${seed ? ` (seed ${seed})` : ''}: ${mlmSteps} steps`, () => runMlmStage({
      model: startModel, corpus: join(mlmData, 'corpus.jsonl'), output: join(WORK, first ? 'mlm' : `mlm-${name.slice(3)}`), steps: mlmSteps, batchSize: BATCH,
      maxLength: DLEN, seed, trainer: { lr: 1e-3, warmupSteps: Math.round(mlmSteps / 10), weightDecay: 0.01, dropout: 0.1 },
    }));
  }
  return stage(`pseudo${first ? '' : ` (after mlm ${name.slice(3)})`}: train ${PSEUDO_STEPS} steps`, () => trainStage({
    objective: 'ranking', model: startModel, output: join(WORK, `pseudo-train${suffix}`), corpus: join(pseudoDir, 'corpus.jsonl'), queries: join(pseudoDir, 'queries.jsonl'),
    negatives: PSEUDO_TEACHER ? teacherNegatives : join(pseudoDir, 'negatives.jsonl'), negativesPerQuery: 1, batchSize: BATCH, steps: PSEUDO_STEPS, queryMaxLength: QLEN, docMaxLength: DLEN,
    checkpointEvery: 50, seed, ...PSEUDO_QUERY_WEIGHTS, trainer: PSEUDO_STAGE_TRAINER,
  }));
}
const zeroShotModels: Record<string, string> = {};
for (const [i, chain] of CHAINS.entries()) zeroShotModels[chain.name] = await pseudoChain(chain, i === 0);
const pseudoModel = Object.values(zeroShotModels)[0];

// 3-4. one fold per held-out collection
const rows: LooRow[] = [];
for (const held of ONLY) {
  const foldDir = join(WORK, `fold-${held}`);
  const train = mergeCollections(Object.fromEntries(NAMES.filter((n) => n !== held).map((n) => [n, cols[n]])));
  const judgedCount = train.queries.length;
  await stage(`fold ${held}: write + mine BM25 negatives`, async () => {
    if (existsSync(join(foldDir, 'negatives.jsonl'))) return;
    // the held-out corpus's pseudo-queries, as many as there are judged queries, under their own prefix
    const own = pseudo[held];
    const picked = own.queries.filter((_, i) => i % Math.max(1, Math.floor(own.queries.length / judgedCount)) === 0).slice(0, judgedCount);
    const mix = mergeCollections({ [`${held}-pseudo`]: { corpus: own.corpus, queries: picked, qrels: own.qrels } });
    const all: Collection = { corpus: [...train.corpus, ...mix.corpus], queries: [...train.queries, ...mix.queries], qrels: { ...train.qrels, ...mix.qrels } };
    await writeCollection(foldDir, all);
    await mineStage(all.corpus, all.queries, all.qrels, join(foldDir, 'negatives.jsonl'), { retrievers: ['bm25'], perCollection: true, depth: 50, ranks: [1, 30], count: 1, seed: 0 });
  });
  const foldModel = await stage(`fold ${held}: train ${FOLD_STEPS} steps`, () => trainStage({
    objective: 'ranking', model: pseudoModel, output: join(foldDir, 'train'), corpus: join(foldDir, 'corpus.jsonl'), queries: join(foldDir, 'queries.jsonl'),
    negatives: join(foldDir, 'negatives.jsonl'), negativesPerQuery: 1, batchSize: BATCH, steps: FOLD_STEPS, queryMaxLength: QLEN, docMaxLength: DLEN,
    checkpointEvery: 0, seed: 0, ...QUERY_WEIGHTS, trainer: FOLD_TRAINER,
  }));
  await stage(`eval ${held}`, async () => {
    const c = cols[held];
    const judged = c.queries.filter((q) => c.qrels[q.id]);
    const docs = c.corpus.map(docText);
    const model = await SpladeModel.load(foldModel);
    const tEnc = performance.now();
    const { index, stats } = await encodeIndex(model, docs, { maxLength: EVAL_DLEN });
    const encodeSeconds = (performance.now() - tEnc) / 1000;
    const sp = await spladeRun(model, index, stats, judged, K);
    const idf = await corpusWordPieceIdf(model, docs.map((d) => d.text));
    const idfQueries = judged.map((q) => idf.query(q.text));
    const spIdf = await spladeRun(model, index, stats, judged, K, idfQueries);
    const bm = bm25Run(docs, judged, K);
    // zero-shot: the pseudo-query models (no judged query of any collection), idf queries; with
    // several, the sum of their max-normalised runs (weights 1, not tuned)
    const zeroParts: Record<string, Run> = {};
    const zeroEff = { models: 0, encodeSeconds: 0, avgDocTerms: 0, flops: 0, indexBytes: 0, avgQueryTerms: 0 };
    const zeroMs = judged.map(() => 0);
    // SPLADE_LOO_ENSEMBLE=sum: the models' document vectors summed into one index (SpladeEnsemble's form)
    const perDoc: SparseVector[][] | null = ENSEMBLE === 'sum' ? docs.map(() => []) : null;
    let zm: SpladeModel | undefined;
    for (const [name, dir] of Object.entries(zeroShotModels)) {
      zm = await SpladeModel.load(dir);
      const tz = performance.now();
      const { index: zi, stats: zs } = await encodeIndex(zm, docs, { maxLength: EVAL_DLEN, onVector: perDoc ? (i, v) => perDoc[i].push(v) : undefined });
      zeroEff.encodeSeconds += (performance.now() - tz) / 1000;
      const zr = await spladeRun(zm, zi, zs, judged, K, idfQueries);
      zeroParts[name] = zr.run;
      zeroEff.models++;
      zeroEff.avgDocTerms += zr.efficiency.avgDocTerms ?? 0;
      zeroEff.flops += zr.efficiency.flops ?? 0;
      zeroEff.indexBytes += zr.efficiency.indexBytes ?? 0;
      zeroEff.avgQueryTerms = zr.efficiency.avgQueryTerms ?? 0; // the same idf queries for every model
      zr.latenciesMs.forEach((ms, i) => (zeroMs[i] += ms));
    }
    const partRuns = Object.values(zeroParts);
    let zero: Run;
    if (perDoc && partRuns.length > 1) {
      const { index: si, stats: ss } = await indexVectors(perDoc.map(sumVectors), docs.map((d) => d.id), zm!.vocabSize);
      const sr = await spladeRun(zm!, si, ss, judged, K, idfQueries); // idf queries: the model is not run
      zero = sr.run;
      Object.assign(zeroEff, { avgDocTerms: sr.efficiency.avgDocTerms, flops: sr.efficiency.flops, indexBytes: sr.efficiency.indexBytes });
      sr.latenciesMs.forEach((ms, i) => (zeroMs[i] = ms));
    } else {
      // the fusion timed query by query, as a server would answer one query
      judged.forEach((q, i) => {
        if (partRuns.length === 1) return;
        const t = performance.now();
        weightedFusion(partRuns.map((r) => ({ [q.id]: r[q.id] ?? {} })), partRuns.map(() => 1), 'max', K);
        zeroMs[i] += performance.now() - t;
      });
      zero = partRuns.length === 1 ? partRuns[0] : weightedFusion(partRuns, partRuns.map(() => 1), 'max', K);
    }
    writeFileSync(join(foldDir, 'runs.json'), JSON.stringify({ bm25: bm.run, splade: sp.run, spladeIdf: spIdf.run, spladeZero: zero }));
    rows.push({
      collection: held, queries: judged.length, documents: docs.length, trainQueries: judgedCount, encodeSeconds,
      bm25: evaluateRun(bm.run, c.qrels), splade: evaluateRun(sp.run, c.qrels), spladeIdf: evaluateRun(spIdf.run, c.qrels), spladeZero: evaluateRun(zero, c.qrels),
      spladeZeroParts: Object.fromEntries(Object.entries(zeroParts).map(([name, run]) => [name, evaluateRun(run, c.qrels)])),
      fusedSum: evaluateRun(fuseRuns([sp.run, bm.run], 'sum', K), c.qrels), fusedRrf: evaluateRun(fuseRuns([sp.run, bm.run], 'rrf', K), c.qrels),
      spladeEfficiency: sp.efficiency, spladeIdfEfficiency: spIdf.efficiency, bm25Efficiency: bm.efficiency,
      spladeZeroEfficiency: { ...zeroEff, latencyMs: latencySummary(zeroMs) },
    });
    const r = rows[rows.length - 1];
    console.error(`   ${held}: BM25 ${r.bm25['ndcg@10'].toFixed(4)}  SPLADE ${r.splade['ndcg@10'].toFixed(4)}  idf-q ${r.spladeIdf!['ndcg@10'].toFixed(4)}  zero-shot ${r.spladeZero!['ndcg@10'].toFixed(4)} (${Object.entries(r.spladeZeroParts!).map(([k, v]) => `${k} ${v['ndcg@10'].toFixed(4)}`).join(', ')})  fused(sum) ${r.fusedSum['ndcg@10'].toFixed(4)}  fused(rrf) ${r.fusedRrf['ndcg@10'].toFixed(4)}`);
  });
}

// 5. fusion weight and normalisation per held-out collection by nested leave-one-out: chosen on the
// other folds' held-out runs (this run's, or an earlier run's kept in the same work folder)
const runsOf = (n: string) => join(WORK, `fold-${n}`, 'runs.json');
const kept = NAMES.filter((n) => existsSync(runsOf(n)));
if (kept.length >= 2) {
  const saved = Object.fromEntries(kept.map((n) => [n, JSON.parse(readFileSync(runsOf(n), 'utf8')) as Record<string, Run>]));
  for (const [rowKey, runKey] of [['fusedChosen', 'splade'], ['fusedIdfChosen', 'spladeIdf'], ['fusedZeroChosen', 'spladeZero']] as const) {
    if (!kept.every((n) => saved[n][runKey])) continue;
    const choice = chooseFusionLeaveOneOut(kept.map((n) => ({ name: n, qrels: cols[n].qrels, bm25: saved[n].bm25, splade: saved[n][runKey] })),
      { weights: FUSION_WEIGHTS, norms: SCORE_NORMS, k: K });
    for (const row of rows) {
      const ch = choice[row.collection];
      if (!ch) continue;
      row[rowKey] = evaluateRun(weightedFusion([saved[row.collection].bm25, saved[row.collection][runKey]], [1, ch.weight], ch.norm, K), cols[row.collection].qrels);
      row.fusionChoice = { ...row.fusionChoice, [rowKey]: { weight: ch.weight, norm: ch.norm, chosenOn: ch.chosenOn } };
      console.error(`   ${row.collection}: ${rowKey} (${ch.norm}, w ${ch.weight}, chosen on ${ch.chosenOn.join(' ')}) ${row[rowKey]!['ndcg@10'].toFixed(4)}`);
    }
  }
}
clearInterval(sampler);
loads.push(loadavg()[0]);

const i = info();
const results: LooResults = {
  started, finished: new Date().toISOString(), totalSeconds: (performance.now() - t0) / 1000,
  machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), cpu kernels ${i.cpu}, ${i.threads} threads`,
  load: { mean: loads.reduce((a, b) => a + b, 0) / loads.length, min: Math.min(...loads), max: Math.max(...loads) },
  setup: { model: MODEL, batch: BATCH, queryMaxLength: QLEN, docMaxLength: DLEN, evalDocMaxLength: EVAL_DLEN, fusionWeights: FUSION_WEIGHTS, fusionNorms: SCORE_NORMS, mlmSteps: CHAINS.map((c) => (c.seed ? `${c.steps}s${c.seed}` : c.steps)), trainQueries: QUERY_WEIGHTS.queryWeights ?? 'encoder', pseudoSteps: PSEUDO_STEPS, foldSteps: FOLD_STEPS, pseudoTrainer: PSEUDO_STAGE_TRAINER, pseudoTrainQueries: PSEUDO_QUERY_WEIGHTS.queryWeights ?? 'encoder', ...(PSEUDO_TEACHER ? { teacher: 'bm25', teacherScale: TEACHER_SCALE } : {}), foldTrainer: FOLD_TRAINER, span: SPAN, text: TEXT_WORDS ? 'words' : 'raw', zeroShotEnsemble: ENSEMBLE,
    pseudoQueries: Object.fromEntries(NAMES.map((n) => [n, pseudo[n].queries.length])) },
  stages, rows,
};
mkdirSync(WORK, { recursive: true });
writeFileSync(join(WORK, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
if (ONLY.length === NAMES.length) {
  const tag = process.env.SPLADE_LOO_TAG ? `-${process.env.SPLADE_LOO_TAG}` : '';
  const runs = join(here, 'runs');
  mkdirSync(runs, { recursive: true });
  writeFileSync(join(runs, `results${tag}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(runs, `REPORT${tag}.md`), looReportMarkdown(results, { plot: `loo${tag}.svg` }));
  writeFileSync(join(runs, `loo${tag}.svg`), looPlotSvg(results));
}
console.error(`done in ${(results.totalSeconds / 60).toFixed(1)} min; ${join(WORK, 'results.json')}`);
