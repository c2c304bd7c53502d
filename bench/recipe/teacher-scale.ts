// The scale that puts BM25 teacher margins on a student's: the RMS of (positive - negative) score
// margins over a sample of pseudo-query records (every 40th), for BM25 (the teacher, raw scores) and
// for each model given, with its query encoder and with inference-free idf queries (word pieces x idf
// over the corpus, scaled to a largest weight of 1 as `splade train` scales them). MarginMSE matches
// margins, so the teacher scale is about student RMS / teacher RMS. No judgment is read.
//
//   npx tsx bench/recipe/teacher-scale.ts <work>/pseudo <work>/mlm/model [<model> ...]
import { join } from 'node:path';
import { readFileSync } from 'node:fs';

import { SpladeModel } from '../../lib/index.js';
import { bm25Idf } from '../../lib/bm25/index.js';
import type { NegativesRecord } from '../../lib/mine.js';
import { bm25TeacherScores } from '../../lib/recipe/bm25-teacher.js';
import { readCollection } from '../../lib/data/collections.js';
import { corpusWordPieceIdf } from '../../lib/model/idf-query.js';
import type { SparseVector } from '../../lib/sparse.js';

const [pseudoDir, ...models] = process.argv.slice(2);
if (!pseudoDir || models.length === 0) throw new Error('usage: teacher-scale.ts <pseudo dir> <model> [<model> ...]');
const c = await readCollection(pseudoDir);
const records = readFileSync(join(pseudoDir, 'negatives.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as NegativesRecord).filter((r) => r.pos.length > 0 && (r.neg.bm25 ?? []).length > 0).filter((_, i) => i % 40 === 0);
const scored = bm25TeacherScores(c.corpus, c.queries, records, { perCollection: true });
const query = new Map(c.queries.map((q) => [q.id, q.text]));
const doc = new Map(c.corpus.map((d) => [d.id, d.title ? `${d.title} ${d.text}` : d.text]));
const rms = (x: number[]) => Math.sqrt(x.reduce((a, b) => a + b * b, 0) / x.length);
const dot = (a: SparseVector, b: SparseVector) => {
  const m = new Map<number, number>();
  b.indices.forEach((t, i) => m.set(t, b.values[i]));
  return a.indices.reduce((s, t, i) => s + a.values[i] * (m.get(t) ?? 0), 0);
};
const teacher = rms(scored.map((r) => r.scores[r.pos[0]] - r.scores[r.neg.bm25[0]]));
console.log(`${records.length} records; BM25 margin RMS ${teacher.toFixed(2)}`);
for (const dir of models) {
  const m = await SpladeModel.load(dir);
  const idf = await corpusWordPieceIdf(m, c.corpus.map((d) => d.text));
  const top = bm25Idf(c.corpus.length, 1);
  const texts = records.map((r) => query.get(r.qid)!);
  const enc = await m.encode(texts, { kind: 'query', maxLength: 32 });
  const bag = texts.map((t) => { const v = idf.query(t); return { indices: v.indices, values: v.values.map((x) => x / top) }; });
  const pos = await m.encode(records.map((r) => doc.get(r.pos[0])!), { kind: 'document', maxLength: 128 });
  const neg = await m.encode(records.map((r) => doc.get(r.neg.bm25[0])!), { kind: 'document', maxLength: 128 });
  const margins = (qs: SparseVector[]) => rms(qs.map((q, i) => dot(q, pos[i]) - dot(q, neg[i])));
  const e = margins(enc), b = margins(bag);
  console.log(`${dir}: encoder queries RMS ${e.toFixed(2)} (scale ${(e / teacher).toFixed(2)}), idf queries RMS ${b.toFixed(2)} (scale ${(b / teacher).toFixed(2)})`);
}
