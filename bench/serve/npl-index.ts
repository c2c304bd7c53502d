// The collection `splade serve` is benchmarked on: NPL (11,426 documents, 93 queries) with vectors
// the package makes without pretrained weights. Documents are BM25's document side over
// bert-base-uncased word pieces, w(t, d) = tf / (tf + k1 (1 - b + b dl / avgdl)) with k1 0.9, b 0.4
// (lib/bm25's bm25LengthNorm and bm25Weight with idf 1), and queries are the package's
// inference-free idf queries (lib/model/idf-query.ts: count x idf over the corpus, what
// `splade serve --query-weights idf` makes), so a query's dot product with a document is BM25 over
// word pieces. The tokenizer comes with the package's own 2-layer lexical-init model (lib/recipe's
// initModel; its weights are never run here). Cached under bench/.cache/serve (git-ignored).
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bm25LengthNorm, bm25Weight } from '../../lib/bm25/index.js';
import { vectorLine } from '../../lib/data/vectors.js';
import { InvertedIndex, SpladeModel } from '../../lib/index.js';
import { modelWordPieces } from '../../lib/model/idf-query.js';
import { readTexts } from '../../lib/pipeline.js';
import { initModel } from '../../lib/recipe/stages.js';
import type { SparseVector } from '../../lib/sparse.js';

export const SERVE_CACHE = join(dirname(fileURLToPath(import.meta.url)), '..', '.cache', 'serve');
const K1 = 0.9;
const B = 0.4;

export interface NplServeFiles {
  model: string;
  corpus: string;
  queries: string;
  vectors: string;
  index: string;
}

/** Makes (once) the model directory, the document vectors and the index; returns their paths. */
export async function nplServeFiles(data: string): Promise<NplServeFiles> {
  const files = {
    model: join(SERVE_CACHE, 'model'), corpus: join(data, 'npl', 'corpus.jsonl'), queries: join(data, 'npl', 'queries.jsonl'),
    vectors: join(SERVE_CACHE, 'npl.bm25-wordpiece.jsonl'), index: join(SERVE_CACHE, 'npl.bm25-wordpiece.idx'),
  };
  mkdirSync(SERVE_CACHE, { recursive: true });
  initModel(files.model, { layers: 2, hidden: 128, heads: 2, init: 'lexical' });
  if (existsSync(files.index) && existsSync(files.vectors)) return files;

  const pieces = modelWordPieces(await SpladeModel.load(files.model));
  const docs: { id: string; tf: Map<number, number>; length: number }[] = [];
  for await (const d of readTexts(files.corpus, 'document')) {
    const ids = pieces(d.text);
    const tf = new Map<number, number>();
    for (const t of Array.from(ids)) tf.set(t, (tf.get(t) ?? 0) + 1);
    docs.push({ id: d.id, tf, length: ids.length });
  }
  const avgdl = docs.reduce((s, d) => s + d.length, 0) / docs.length;
  const vectors: SparseVector[] = docs.map((d) => {
    const norm = bm25LengthNorm(K1, B, d.length, avgdl);
    const indices = Uint32Array.from([...d.tf.keys()].sort((a, b) => a - b));
    return { indices, values: Float32Array.from(indices, (t) => bm25Weight(1, d.tf.get(t)!, norm)) };
  });
  writeFileSync(`${files.vectors}.partial`, docs.map((d, i) => vectorLine(d.id, vectors[i])).join(''));
  renameSync(`${files.vectors}.partial`, files.vectors);
  const index = InvertedIndex.build(vectors, { docIds: docs.map((d) => d.id), vocabSize: 30522 });
  index.save(files.index);
  index.dispose();
  return files;
}
