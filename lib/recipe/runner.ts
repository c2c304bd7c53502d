/*
 * Runs a recipe's stages in order inside a work directory. A stage whose output already exists is
 * not redone (a train stage with a checkpoint continues from it), so an interrupted recipe resumes
 * where it stopped. Each stage's wall time goes to <workdir>/recipe_log.jsonl.
 */
import { appendFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { findDataFile, readBeirCorpus } from '../data/beir.js';
import { writeFileAtomic } from '../data/atomic.js';
import { formatEfficiency, type Efficiency } from '../eval/efficiency.js';
import { SpladeModel } from '../model/splade-model.js';
import { InvertedIndex } from '../search/inverted-index.js';
import { mapTexts, readCollection, writeCollection, type Collection } from '../data/collections.js';
import { corpusWordPieceIdf, textForModel, type TextMode } from '../model/idf-query.js';
import { pseudoQueries, type PseudoQuerySource } from './pseudo-queries.js';
import { resolveIn, type Recipe, type Stage } from './recipe.js';
import { bm25Run, evaluateRun, initModel, mineStage, runMlmStage, spladeRun, trainStage, type MlmStage } from './stages.js';
import { fuseRuns } from '../eval/fusion.js';
import { encodeIndex, type ProgressFactory } from '../pipeline.js';
import { scoreNegatives } from '../train/teacher-scores.js';
import type { TrainJobConfig } from '../train/config.js';

export interface RunRecipeOptions {
  workdir: string;
  /** Run only these stages (by name); default all. */
  only?: string[];
  log?: (line: string) => void;
  /** Reports the train, mlm and score stages' progress (the CLI's bars); default none. */
  progress?: ProgressFactory;
}

/** What a stage left: the model it produced (init, mlm, train) or passed on. */
type Produced = Map<string, string>;

/** A file, or the named file inside a collection folder. */
function dataFile(p: string, name: string): string {
  return existsSync(p) && statSync(p).isDirectory() ? findDataFile(p, name) : p;
}


export async function runRecipe(recipe: Recipe, opts: RunRecipeOptions): Promise<void> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const work = opts.workdir;
  mkdirSync(work, { recursive: true });
  const produced: Produced = new Map();
  const path = (p: unknown) => resolveIn(work, p as string);
  const model = (p: unknown) => {
    const s = p as string;
    if (s.startsWith('@')) return produced.get(s.slice(1))!;
    const local = resolveIn(work, s);
    return existsSync(local) ? local : s; // otherwise a hub id
  };
  for (const s of recipe.stages) {
    if (opts.only && !opts.only.includes(s.name)) {
      producedWithoutRunning(s, produced, path, model);
      continue;
    }
    const t0 = performance.now();
    log(`== ${recipe.name}: stage ${s.name} (${s.stage})`);
    const note = await runStage(s, produced, path, model, { log, progress: opts.progress });
    const seconds = (performance.now() - t0) / 1000;
    log(`== ${s.name}: ${note} (${seconds.toFixed(1)} s)`);
    appendFileSync(join(work, 'recipe_log.jsonl'), `${JSON.stringify({ recipe: recipe.name, stage: s.name, kind: s.stage, note, seconds, at: new Date().toISOString() })}\n`);
  }
}

/** Records the model a stage would produce, for later @references when it is not run. */
function producedWithoutRunning(s: Stage, produced: Produced, path: (p: unknown) => string, model: (p: unknown) => string): void {
  if (s.stage === 'init') produced.set(s.name, path(s.output));
  else if (s.stage === 'train') produced.set(s.name, join(path(s.output), 'model'));
  else if (s.stage === 'mlm') produced.set(s.name, join(path(s.output), 'model'));
}

async function runStage(s: Stage, produced: Produced, path: (p: unknown) => string, model: (p: unknown) => string,
                        report: { log: (l: string) => void; progress?: ProgressFactory }): Promise<string> {
  const { log } = report;
  switch (s.stage) {
    case 'init': {
      const out = path(s.output);
      const done = existsSync(join(out, 'config.json'));
      initModel(out, { layers: s.layers as number | undefined, hidden: s.hidden as number | undefined, heads: s.heads as number | undefined, init: s.init as 'lexical' | 'random' | undefined, seed: s.seed as number | undefined });
      produced.set(s.name, out);
      return done ? `kept ${out}` : `wrote ${out}`;
    }
    case 'mlm': {
      const out = path(s.output), result = join(out, 'model');
      produced.set(s.name, result);
      if (existsSync(join(result, 'config.json')) && existsSync(join(out, 'checkpoint', 'trainer.json'))) return `kept ${result}`;
      await runMlmStage({ ...(s as unknown as MlmStage), model: model(s.model), corpus: dataFile(path(s.corpus), 'corpus.jsonl'), output: out }, report);
      return `wrote ${result}`;
    }
    case 'pseudo-queries': {
      const out = path(s.output);
      if (existsSync(join(out, 'qrels', 'test.tsv'))) return `kept ${out}`;
      const c = await readCollectionOrCorpus(path(s.corpus), 'test');
      const p = pseudoQueries(c.corpus, { source: s.source as PseudoQuerySource | undefined, minWords: s.minWords as number | undefined, maxWords: s.maxWords as number | undefined, minRestWords: s.minRestWords as number | undefined, span: s.span as boolean | undefined, seed: s.seed as number | undefined });
      await writeCollection(out, p);
      return `wrote ${out}: ${p.queries.length} pseudo-queries from ${c.corpus.length} documents`;
    }
    case 'text': {
      // a copy of a collection with every text as the model is to see it (e.g. only the words BM25 keeps)
      const out = path(s.output);
      const split = (s.split as string | undefined) ?? 'test';
      if (existsSync(join(out, 'corpus.jsonl'))) return `kept ${out}`;
      const c = await readCollectionOrCorpus(path(s.collection), split);
      const mode = (s.mode as TextMode | undefined) ?? 'words';
      await writeCollection(out, mapTexts(c, (t) => textForModel(t, mode)), split);
      return `wrote ${out}: ${c.corpus.length} documents, ${c.queries.length} queries, text ${mode}`;
    }
    case 'mine': {
      const out = path(s.output);
      if (existsSync(out)) return `kept ${out}`;
      const c = await readCollection(path(s.collection), (s.split as string | undefined) ?? 'test');
      const retrievers = (s.retrievers as Array<'bm25' | 'splade'> | undefined) ?? ['bm25'];
      await mineStage(c.corpus, c.queries, c.qrels, out, {
        retrievers, model: s.model === undefined ? undefined : model(s.model), depth: s.depth as number | undefined,
        ranks: s.ranks as [number, number] | undefined, count: s.count as number | undefined, fusion: s.fusion as 'rrf' | 'sum' | 'none' | undefined,
        seed: s.seed as number | undefined, perCollection: s.perCollection as boolean | undefined, maxLength: s.maxLength as number | undefined,
      });
      return `wrote ${out}`;
    }
    case 'score': {
      const out = path(s.output);
      if (existsSync(out)) return `kept ${out}`;
      const dir = path(s.collection);
      const count = await scoreNegatives({
        negatives: path(s.negatives), corpus: findDataFile(dir, 'corpus.jsonl'), queries: findDataFile(dir, 'queries.jsonl'), model: model(s.model), out,
        batchSize: s.batchSize as number | undefined, maxLength: s.maxLength as number | undefined, progress: report.progress,
      });
      log(`wrote ${out}: ${count} queries`);
      return `wrote ${out}`;
    }
    case 'train': {
      const out = path(s.output);
      const result = join(out, 'model');
      produced.set(s.name, result);
      if (existsSync(join(result, 'config.json')) && existsSync(join(out, 'checkpoint', 'trainer.json'))) return `kept ${result}`;
      // the job fills in the defaults of the keys the stage leaves out
      const { negativeSource, negativesPerQuery, batchSize, steps, queryMaxLength, docMaxLength, checkpointEvery, seed, trainer } = s as unknown as TrainJobConfig;
      await trainStage({
        objective: 'ranking', model: model(s.model), output: out, corpus: dataFile(path(s.corpus), 'corpus.jsonl'), queries: dataFile(path(s.queries), 'queries.jsonl'),
        negatives: path(s.negatives), negativeSource, negativesPerQuery, batchSize, steps, queryMaxLength, docMaxLength, checkpointEvery, seed, trainer,
      }, report);
      return `wrote ${result}`;
    }
    case 'index': {
      const out = path(s.output);
      if (existsSync(out)) return `kept ${out}`;
      const m = await SpladeModel.load(model(s.model));
      const c = await readCollectionCorpus(path(s.corpus));
      const docs = c.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text }));
      const { index, stats } = await encodeIndex(m, docs, { maxLength: s.maxLength as number | undefined });
      mkdirSync(join(out, '..'), { recursive: true });
      index.save(out);
      return `wrote ${out}: ${index.numDocs} documents, ${formatEfficiency({ avgDocTerms: stats.averageTerms, indexBytes: statSync(out).size })}`;
    }
    case 'evaluate': {
      const out = path(s.output);
      const k = (s.k as number | undefined) ?? 100;
      const c = await readCollection(path(s.collection), (s.split as string | undefined) ?? 'test');
      const judged = c.queries.filter((q) => c.qrels[q.id]);
      const m = await SpladeModel.load(model(s.model));
      const index = InvertedIndex.open(path(s.index));
      const docs = c.corpus.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text }));
      // inference-free queries: word pieces x idf over the collection's own documents
      const idf = s.queryWeights === 'idf' ? await corpusWordPieceIdf(m, docs.map((d) => d.text)) : undefined;
      const sp = await spladeRun(m, index, undefined, judged, k, idf && judged.map((q) => idf.query(q.text)));
      const rows: Array<{ run: string; metrics: Record<string, number>; efficiency?: Efficiency }> = [
        { run: `SPLADE (${String(s.model)}${idf ? ', idf queries' : ''})`, metrics: evaluateRun(sp.run, c.qrels), efficiency: sp.efficiency },
      ];
      if (s.bm25 !== false) {
        const bm = bm25Run(docs, judged, k);
        rows.push({ run: 'BM25 (k1 0.9, b 0.4)', metrics: evaluateRun(bm.run, c.qrels), efficiency: bm.efficiency });
        const fusion = (s.fusion as 'rrf' | 'sum' | 'none' | undefined) ?? 'rrf';
        if (fusion !== 'none') rows.push({ run: `SPLADE + BM25 (${fusion})`, metrics: evaluateRun(fuseRuns([sp.run, bm.run], fusion, k), c.qrels) });
      }
      mkdirSync(join(out, '..'), { recursive: true });
      await writeFileAtomic(out, [`${JSON.stringify({ collection: path(s.collection), queries: judged.length, rows }, null, 2)}\n`]);
      for (const r of rows) log(`   ${r.run}: ${Object.entries(r.metrics).map(([m, v]) => `${m} ${v.toFixed(4)}`).join(', ')}${r.efficiency ? `; ${formatEfficiency(r.efficiency)}` : ''}`);
      return `wrote ${out}`;
    }
  }
}

/** A BEIR collection (p its folder or its corpus.jsonl), or only the corpus when it has no queries and judgments. */
async function readCollectionOrCorpus(p: string, split: string): Promise<Collection> {
  const corpusFile = p.endsWith('.jsonl') || p.endsWith('.jsonl.gz');
  return readCollection(corpusFile ? join(p, '..') : p, split).catch(async () => ({ corpus: await readCollectionCorpus(p), queries: [], qrels: {} }));
}

async function readCollectionCorpus(p: string) {
  const file = p.endsWith('.jsonl') || p.endsWith('.jsonl.gz') ? p : findDataFile(p, 'corpus.jsonl');
  const docs = [];
  for await (const d of readBeirCorpus(file)) docs.push(d);
  return docs;
}
