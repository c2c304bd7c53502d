/*
 * The stages recipes are made of, as plain functions over files (so a recipe can stop and resume
 * between them, and the benchmark harness can call them directly): initialise a model, make
 * pseudo-queries, mine negatives, train (the `splade train` job), encode + index a corpus, search
 * and evaluate, fuse runs. Each stage writes its outputs atomically; a stage whose output exists
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
import { TermStats, latencySummary, type Efficiency } from '../eval/efficiency.js';
import { evaluate } from '../eval/evaluate.js';
import { invalidArgument } from '../errors.js';
import { bm25Retriever, mineNegatives, spladeRetriever, type NegativesRecord, type Retriever } from '../mine.js';
import { initCheckpoint } from '../model/init.js';
import { SpladeModel } from '../model/splade-model.js';
import type { SparseEncoder } from '../model/ensemble.js';
import { encodeStream, searchAll, sparseEfficiency } from '../pipeline.js';
import { InvertedIndex } from '../search/inverted-index.js';
import type { SparseVector } from '../sparse.js';
import type { TrainJobConfig } from '../train/config.js';
import { trainJob, type TrainJobOptions } from '../train/job.js';
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
 * Encodes documents with the model and indexes them; the term statistics come along for FLOPS.
 * maxLength: tokens per document (default: the model's default for documents).
 */
export async function encodeIndex(model: SparseEncoder, docs: Array<{ id: string; text: string }>, opts: { maxLength?: number; onBatch?: (n: number) => void; onVector?: (i: number, v: SparseVector) => void } = {}): Promise<{ index: InvertedIndex; stats: TermStats }> {
  const encoded = (async function* () {
    let i = 0;
    for await (const { vector } of encodeStream(model, (async function* () { yield* docs; })(), { kind: 'document', maxLength: opts.maxLength, onBatch: opts.onBatch })) {
      opts.onVector?.(i++, vector);
      yield vector;
    }
  })();
  return indexVectors(encoded, docs.map((d) => d.id), model.vocabSize);
}

/** An index of vectors given in document order, with their term statistics (for FLOPS). */
export async function indexVectors(vectors: AsyncIterable<SparseVector> | Iterable<SparseVector>, docIds: string[], vocabSize: number): Promise<{ index: InvertedIndex; stats: TermStats }> {
  const stats = new TermStats();
  const counted = (async function* () {
    for await (const v of vectors) {
      stats.add(v);
      yield v;
    }
  })();
  const index = await InvertedIndex.buildAsync(counted, { docIds, vocabSize });
  return { index, stats };
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
  const index = Bm25Index.build(docs, { backend: 'native' });
  const run: Run = {};
  const ms: number[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const r = index.search(q.text, { k });
    ms.push(performance.now() - t0);
    run[q.id] = Object.fromEntries(r.docIds.map((d, j) => [d, r.scores[j]]));
  }
  return { run, efficiency: { latencyMs: latencySummary(ms) } };
}

export const REPORT_METRICS = ['ndcg@10', 'mrr@10', 'recall@100'];

export function evaluateRun(run: Run, qrels: Qrels): Record<string, number> {
  return evaluate(run, qrels, REPORT_METRICS).mean;
}

/** Runs a training job (relative paths against the working directory); returns its model's directory. */
export async function trainStage(config: TrainJobConfig, opts: Pick<TrainJobOptions, 'progress' | 'log'> = {}): Promise<string> {
  return (await trainJob(config, opts)).model;
}
