/*
 * The pipeline as functions over streams, shared by the CLI commands, the recipes and the demo:
 * texts -> (encode) -> vectors -> (index) -> InvertedIndex -> (search) -> run -> (evaluate).
 * Each step streams, so a corpus never has to fit in memory, and reports its efficiency figures.
 */
import type { Bm25Index } from './bm25/index.js';
import { readBeirCorpus, readBeirQueries } from './data/beir.js';
import { ErrorCode, SpladeError } from './errors.js';
import { readMsMarcoCollection, readMsMarcoQueries } from './data/msmarco.js';
import type { Run } from './data/types.js';
import { TermStats, flops, latencySummary, type Efficiency } from './eval/efficiency.js';
import type { SparseEncoder } from './model/ensemble.js';
import { InvertedIndex, type SearchOptions } from './search/inverted-index.js';
import type { SparseVector } from './sparse.js';

/** How library work reports progress without drawing it: the caller (the CLI) makes one reporter a task. */
export type ProgressFactory = (task: { label: string; total?: number; unit: string }) => { detail: string; tick(): void; finish(): void };

export interface IdText {
  id: string;
  text: string;
}

/** Texts from a BEIR corpus/queries JSONL or an MS MARCO TSV (plain or gzipped), streamed. */
export async function* readTexts(path: string, kind: 'query' | 'document'): AsyncGenerator<IdText> {
  const tsv = /\.tsv(\.gz)?$/.test(path);
  if (kind === 'document') {
    // BEIR's convention for SPLADE and BM25 alike: title and text joined by a space.
    for await (const d of tsv ? readMsMarcoCollection(path) : readBeirCorpus(path)) yield { id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text };
  } else {
    yield* tsv ? readMsMarcoQueries(path) : readBeirQueries(path);
  }
}

/** The texts of the given ids from a corpus or queries file; an id it lacks is an error naming `namedIn`. */
export async function readTextsById(path: string, kind: 'query' | 'document', ids: Set<string>, namedIn: string): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  for await (const t of readTexts(path, kind)) if (ids.has(t.id)) texts.set(t.id, t.text);
  for (const id of ids) if (!texts.has(id)) throw new SpladeError(`${path}: no ${kind} ${JSON.stringify(id)} (named in ${namedIn})`, ErrorCode.invalidArgument);
  return texts;
}

/** Encodes a stream of texts in chunks (the model buckets each chunk by length). */
export async function* encodeStream(model: SparseEncoder, texts: AsyncIterable<IdText>, opts: { kind: 'query' | 'document'; batchSize?: number; chunk?: number; maxLength?: number; topK?: number; threshold?: number; queryWeights?: boolean; onBatch?: (n: number) => void }): AsyncGenerator<{ id: string; vector: SparseVector }> {
  const chunk = opts.chunk ?? 256;
  let pending: IdText[] = [];
  const flush = async function* () {
    const vectors = await model.encode(pending.map((t) => t.text), { kind: opts.kind, batchSize: opts.batchSize, maxLength: opts.maxLength, topK: opts.topK, threshold: opts.threshold, queryWeights: opts.queryWeights });
    opts.onBatch?.(pending.length);
    for (let i = 0; i < pending.length; i++) yield { id: pending[i].id, vector: vectors[i] };
    pending = [];
  };
  for await (const t of texts) {
    pending.push(t);
    if (pending.length >= chunk) yield* flush();
  }
  if (pending.length) yield* flush();
}

/** Searches every query; returns the run and the per-query latencies. */
export function searchAll(index: InvertedIndex, queries: { id: string; vector: SparseVector }[], opts: SearchOptions): { run: Run; latenciesMs: number[]; postingsScored: number } {
  const run: Run = {};
  const latenciesMs: number[] = [];
  let postingsScored = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const r = index.search(q.vector, opts);
    latenciesMs.push(performance.now() - t0);
    postingsScored += r.postingsScored;
    const scores: Record<string, number> = {};
    const ids = r.docIds ?? Array.from(r.ids, String);
    ids.forEach((d, i) => (scores[d] = r.scores[i]));
    run[q.id] = scores;
  }
  return { run, latenciesMs, postingsScored };
}

/** Searches a BM25 index with every query's text; returns the run and the per-query latencies. */
export function bm25SearchAll(index: Bm25Index, queries: IdText[], k: number): { run: Run; latenciesMs: number[] } {
  const run: Run = {};
  const latenciesMs: number[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const r = index.search(q.text, { k });
    latenciesMs.push(performance.now() - t0);
    run[q.id] = Object.fromEntries(r.docIds.map((d, j) => [d, r.scores[j]]));
  }
  return { run, latenciesMs };
}

/** Efficiency of a sparse retrieval run: terms per document and query, FLOPS, size, latency. */
export function sparseEfficiency(index: InvertedIndex, docStats: TermStats | undefined, queries: SparseVector[], latenciesMs: number[]): Efficiency {
  const q = new TermStats();
  for (const v of queries) q.add(v);
  return {
    avgDocTerms: docStats ? docStats.averageTerms : index.numPostings / Math.max(1, index.numDocs),
    avgQueryTerms: q.averageTerms,
    flops: flops(q, index.documentFrequencies(), index.numDocs),
    indexBytes: index.sizeBytes,
    latencyMs: latencySummary(latenciesMs),
  };
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
