// `real`: the vectors that the package's own trained model gives on the five shared classic
// collections (cranfield, cacm, med, npl, lisa; /work/shared/data, BEIR layout), concatenated in
// that order with document ids prefixed "<collection>/", and their real queries through the query
// encoder. Small: 23,062 documents and 447 queries; the only collection here whose vectors a model
// made, so the one that says whether the synthetic ones are fair.
//
// The vectors are cached under bench/.cache/real/vectors (git-ignored) by bench/search/real-vectors.ts,
// which says how the model is trained; this file only reads them (`splade encode`'s JSONL).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { SparseVector } from '../../lib/index.js';
import { readVectors } from '../../lib/data/vectors.js';
import type { BenchCollection } from './collection.js';

export const REAL_COLLECTIONS = ['cranfield', 'cacm', 'med', 'npl', 'lisa'] as const;
export const REAL_VOCAB = 30522;
/** Where bench/search/real-vectors.ts keeps the model and the vectors (git-ignored). */
export const REAL_CACHE = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'real');
export const REAL_VECTORS = join(REAL_CACHE, 'vectors');

export const realVectorFile = (dir: string, collection: string, kind: 'docs' | 'queries') => join(dir, `${collection}.${kind}.jsonl`);

async function* readAll(dir: string, kind: 'docs' | 'queries'): AsyncGenerator<{ id: string; vector: SparseVector }> {
  for (const c of REAL_COLLECTIONS) {
    for await (const { id, vector } of readVectors(realVectorFile(dir, c, kind))) yield { id: `${c}/${id}`, vector };
  }
}

/** Opens the cached vectors in dir (one pass to learn the document ids; vectors are streamed later). */
export async function realCollection(dir: string): Promise<BenchCollection> {
  const missing = REAL_COLLECTIONS.flatMap((c) => (['docs', 'queries'] as const).map((k) => realVectorFile(dir, c, k))).filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new Error(`the real collection's vectors are missing (${missing.join(', ')}); make them with: nice -n 10 npx tsx bench/search/real-vectors.ts`);
  }
  const ids: string[] = [];
  for await (const { id } of readAll(dir, 'docs')) ids.push(id);
  const allQueries: SparseVector[] = [];
  for await (const { vector } of readAll(dir, 'queries')) allQueries.push(vector);
  return {
    name: 'real',
    vocabSize: REAL_VOCAB,
    maxDocs: ids.length,
    description: `the package's zero-shot model (words-only masked-LM + pseudo-query recipe, one chain, 2x128 BERT) on cranfield, cacm, med, npl and lisa: ${ids.length} documents, ${allQueries.length} queries through the query encoder`,
    documents: (count) => (async function* () {
      let n = 0;
      for await (const { vector } of readAll(dir, 'docs')) {
        if (n++ >= count) return;
        yield vector;
      }
    })(),
    documentIds: (count) => ids.slice(0, count),
    // fewer than all: evenly spread over the five collections' queries
    queries: (count) => count >= allQueries.length ? allQueries : Array.from({ length: count }, (_, i) => allQueries[Math.floor((i * allQueries.length) / count)]),
  };
}
