/*
 * The stages recipes are made of, as plain functions over files (so a recipe can stop and resume
 * between them, and the benchmark harness can call them directly): initialise a model, make
 * pseudo-queries, mine negatives, BM25 teacher scores, train and masked-LM adaptation (training
 * jobs), search and evaluate. Each stage writes its outputs atomically; a stage whose output exists
 * is done.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

import { Bm25Index } from '../bm25/index.js';
import { writeFileAtomic } from '../data/atomic.js';
import { readNegatives } from '../data/negatives.js';
import type { CorpusDoc, Qrels, Query, Run } from '../data/types.js';
import { latencySummary, type Efficiency, type TermStats } from '../eval/efficiency.js';
import { evaluate } from '../eval/evaluate.js';
import { ErrorCode, SpladeError, invalidArgument } from '../errors.js';
import { bm25Retriever, mineNegatives, spladeRetriever, type NegativesRecord, type Retriever } from '../mine.js';
import { initCheckpoint } from '../model/init.js';
import { SpladeModel } from '../model/splade-model.js';
import type { SparseEncoder } from '../model/ensemble.js';
import { bm25SearchAll, encodeIndex, searchAll, sparseEfficiency } from '../pipeline.js';
import type { InvertedIndex } from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import type { TrainJobConfig } from '../train/config.js';
import { trainJob, type TrainJobOptions } from '../train/job.js';
import type { TrainerOptions } from '../train/types.js';
import { bm25TeacherScores } from './bm25-teacher.js';
import { collectionPrefix, groupByCollection } from '../data/collections.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A self-initialised BERT masked-LM checkpoint with the bundled bert-base-uncased vocabulary. */
export function initModel(dir: string, opts: { layers?: number; hidden?: number; heads?: number; init?: 'lexical' | 'random'; seed?: number } = {}): void {
  if (existsSync(join(dir, 'config.json'))) return;
  const tmp = join(tmpdir(), `splade-tokenizer-${process.pid}.json`);
  writeFileSync(tmp, gunzipSync(readFileSync(join(root, 'data', 'bert-base-uncased', 'tokenizer.json.gz'))));
  try {
    const part = `${dir}.partial`;
    rmSync(part, { recursive: true, force: true });
    initCheckpoint(part, { tokenizer: tmp, vocabSize: 30522, layers: opts.layers ?? 2, hidden: opts.hidden ?? 128, heads: opts.heads ?? 2, init: opts.init ?? 'lexical', seed: opts.seed });
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(part, dir);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export interface MineStageOptions {
  /** Retrievers: 'bm25' and / or 'splade' (needs model). */
  retrievers: Array<'bm25' | 'splade'>;
  model?: string;
  depth?: number; ranks?: [number, number]; count?: number; fusion?: 'rrf' | 'sum' | 'none'; seed?: number;
  /** Tokens per document when the SPLADE retriever encodes the corpus (default: the model's); as the model was trained. */
  maxLength?: number;
  /** Mine each id prefix (`<name>/`) against its own collection's documents only (merged collections). */
  perCollection?: boolean;
}

/** Negatives for the judged queries (the JSONL `splade train` reads), written to out. */
export async function mineStage(corpus: CorpusDoc[], queries: Query[], qrels: Qrels, out: string, o: MineStageOptions): Promise<void> {
  const groups = groupByCollection(corpus, o.perCollection ?? false);
  const model = o.retrievers.includes('splade') ? await SpladeModel.load(o.model ?? '') : undefined;
  const lines: string[] = [];
  for (const [key, docs] of groups) {
    const retrievers: Record<string, Retriever> = {};
    const texts = docs.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text }));
    if (o.retrievers.includes('bm25')) retrievers.bm25 = bm25Retriever(Bm25Index.build(texts, { backend: 'native' }));
    if (model) retrievers.splade = spladeRetriever(model, (await encodeIndex(model, texts, { maxLength: o.maxLength })).index);
    const qs = queries.filter((q) => !o.perCollection || collectionPrefix(q.id) === key);
    for await (const r of mineNegatives(qs, qrels, retrievers, { depth: o.depth, ranks: o.ranks, count: o.count, fusion: o.fusion, seed: o.seed })) {
      lines.push(`${JSON.stringify(r)}\n`);
    }
  }
  mkdirSync(dirname(out), { recursive: true });
  await writeFileAtomic(out, lines);
}

/**
 * The negatives file `input` again, with BM25 teacher scores (times scale) for every document each
 * record names, written to out: the teacher file of MarginMSE / KL training (see bm25-teacher.ts).
 */
export async function bm25TeacherStage(corpus: CorpusDoc[], queries: Query[], input: string, out: string, o: { perCollection?: boolean; scale?: number }): Promise<void> {
  const records: NegativesRecord[] = [];
  for await (const { record } of readNegatives(input)) records.push(record);
  const scored = bm25TeacherScores(corpus, queries, records, o);
  mkdirSync(dirname(out), { recursive: true });
  await writeFileAtomic(out, scored.map((r) => `${JSON.stringify(r)}\n`));
}

/**
 * A SPLADE run over an index: the run, its efficiency figures, and the query vectors (the model's
 * query encoder, or queryVectors as given, one per query: e.g. inference-free idf queries).
 */
export async function spladeRun(model: SparseEncoder, index: InvertedIndex, stats: TermStats | undefined, queries: Query[], k: number, queryVectors?: SparseVector[]): Promise<{ run: Run; efficiency: Efficiency; vectors: SparseVector[]; latenciesMs: number[] }> {
  if (queryVectors !== undefined && queryVectors.length !== queries.length) invalidArgument('queryVectors', `${queries.length} vectors (one per query)`, queryVectors);
  const vectors = queryVectors ?? await model.encode(queries.map((q) => q.text), { kind: 'query' });
  const res = searchAll(index, queries.map((q, i) => ({ id: q.id, vector: vectors[i] })), { k, algorithm: 'maxscore' });
  return { run: res.run, efficiency: sparseEfficiency(index, stats, vectors, res.latenciesMs), vectors, latenciesMs: res.latenciesMs };
}

/** A BM25 run (k1 0.9, b 0.4, the BEIR baseline's parameters) and its latency. */
export function bm25Run(docs: Array<{ id: string; text: string }>, queries: Query[], k: number): { run: Run; efficiency: Efficiency } {
  const { run, latenciesMs } = bm25SearchAll(Bm25Index.build(docs, { backend: 'native' }), queries, k);
  return { run, efficiency: { latencyMs: latencySummary(latenciesMs) } };
}

export const REPORT_METRICS = ['ndcg@10', 'mrr@10', 'recall@100'];

export function evaluateRun(run: Run, qrels: Qrels): Record<string, number> {
  return evaluate(run, qrels, REPORT_METRICS).mean;
}

/** Runs a training job (relative paths against the working directory); returns its model's directory. */
export async function trainStage(config: TrainJobConfig, opts: Pick<TrainJobOptions, 'progress' | 'log'> = {}): Promise<string> {
  return trainJob(config, opts);
}

/**
 * Masked-LM adaptation (a recipe's { "stage": "mlm" }): a training job with objective 'mlm' on the
 * stage's corpus (BERT's masking, the trainer's seeded RNG), resumable like every train job.
 */
export interface MlmStage {
  model: string; corpus: string; output: string; steps: number;
  batchSize?: number; maxLength?: number; maskProbability?: number; seed?: number; trainer?: TrainerOptions;
}

/** BERT's masking rate, the one the Trainer's MLM objective applies. */
export const MLM_MASK_PROBABILITY = 0.15;

/** Runs masked-LM adaptation (resuming from <output>/checkpoint); returns the adapted model's directory. */
export async function runMlmStage(stage: MlmStage, opts: Pick<TrainJobOptions, 'progress' | 'log'> = {}): Promise<string> {
  if (stage.maskProbability !== undefined && stage.maskProbability !== MLM_MASK_PROBABILITY) {
    throw new SpladeError(`mlm stage (${stage.output}): "maskProbability" must be ${MLM_MASK_PROBABILITY} (BERT's rate, the one the Trainer masks with), got ${stage.maskProbability}`,
      ErrorCode.unsupported);
  }
  const { model, output, corpus, steps, batchSize, maxLength: docMaxLength, seed, trainer } = stage;
  return trainStage({ objective: 'mlm', model, output, corpus, steps, batchSize, docMaxLength, seed, trainer }, opts);
}
