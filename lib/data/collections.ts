/*
 * BEIR-layout collections read, merged and written, for recipes that train on several collections at
 * once (leave-one-out over the bundled collections, a pseudo-query set per corpus). Merging prefixes
 * every query and document id with `<name>/`, since classic collections all number from 1.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { loadBeir } from './beir.js';
import { writeFileAtomic } from './atomic.js';
import type { CorpusDoc, Qrels, Query } from './types.js';

/** A collection held in memory (the bundled ones are at most a few MB). */
export interface Collection {
  corpus: CorpusDoc[];
  queries: Query[];
  qrels: Qrels;
}

export async function readCollection(dir: string, split = 'test'): Promise<Collection> {
  const data = await loadBeir(dir, split);
  const corpus: CorpusDoc[] = [];
  for await (const d of data.corpus()) corpus.push(d);
  return { corpus, queries: data.queries, qrels: data.qrels };
}

/** The `<name>/` prefix mergeCollections gave an id ('' for an id without one). */
export function collectionPrefix(id: string): string {
  return id.includes('/') ? id.slice(0, id.indexOf('/') + 1) : '';
}

/** Documents grouped by their collection prefix (perCollection), or all in one group under ''. */
export function groupByCollection(corpus: CorpusDoc[], perCollection: boolean): Map<string, CorpusDoc[]> {
  const groups = new Map<string, CorpusDoc[]>();
  for (const d of corpus) {
    const key = perCollection ? collectionPrefix(d.id) : '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(d);
  }
  return groups;
}

/** The collections as one, every id prefixed with `<name>/`; queries without judgments are left out. */
export function mergeCollections(parts: Record<string, Collection>): Collection {
  const out: Collection = { corpus: [], queries: [], qrels: Object.create(null) as Qrels };
  for (const [name, c] of Object.entries(parts)) {
    for (const d of c.corpus) out.corpus.push({ ...d, id: `${name}/${d.id}` });
    for (const q of c.queries) {
      const judged = c.qrels[q.id];
      if (!judged) continue;
      out.queries.push({ id: `${name}/${q.id}`, text: q.text });
      out.qrels[`${name}/${q.id}`] = Object.fromEntries(Object.entries(judged).map(([d, r]) => [`${name}/${d}`, r]));
    }
  }
  return out;
}

/**
 * The collection with every text (titles, document texts, queries) mapped by fn, e.g. to the
 * words BM25 keeps (bm25QueryText); ids and judgments as they were.
 */
export function mapTexts(c: Collection, fn: (text: string) => string): Collection {
  return {
    corpus: c.corpus.map((d) => ({ ...d, title: d.title ? fn(d.title) : d.title, text: fn(d.text) })),
    queries: c.queries.map((q) => ({ ...q, text: fn(q.text) })),
    qrels: c.qrels,
  };
}

/** Writes dir/corpus.jsonl, dir/queries.jsonl and dir/qrels/<split>.tsv (each atomically). */
export async function writeCollection(dir: string, c: Collection, split = 'test'): Promise<void> {
  mkdirSync(join(dir, 'qrels'), { recursive: true });
  await writeFileAtomic(join(dir, 'corpus.jsonl'), c.corpus.map((d) => `${JSON.stringify({ _id: d.id, title: d.title, text: d.text })}\n`));
  await writeFileAtomic(join(dir, 'queries.jsonl'), c.queries.map((q) => `${JSON.stringify({ _id: q.id, text: q.text })}\n`));
  const rows = ['query-id\tcorpus-id\tscore\n'];
  for (const [q, docs] of Object.entries(c.qrels)) for (const [d, r] of Object.entries(docs)) rows.push(`${q}\t${d}\t${r}\n`);
  await writeFileAtomic(join(dir, 'qrels', `${split}.tsv`), rows);
}
