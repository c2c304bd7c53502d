/*
 * BM25 as the distillation teacher (no cross-encoder exists here): the teacher scores that
 * MarginMSE / KL training reads from a negatives file ("scores": { docid: score }, as `splade score`
 * writes them), computed as BM25 of each (query, document) pair of the records.
 *
 * Why BM25 can teach: with inference-free queries (word pieces x idf) a SPLADE document weight can
 * take the place of BM25's saturated, length-normalised term frequency, so a document side that
 * matches BM25's margins ranks at least as BM25 does on the terms it shares with the query; the
 * contrastive loss on the pseudo-queries' own positives then adds what BM25 misses.
 *
 * Scores are Bm25Index's (Lucene 8 BM25 without the constant k1 + 1, the 'words' analyzer):
 *   score(q, d) = sum over query terms t (with repeats) of idf(t) * tf / (tf + k1 (1 - b + b dl / avgdl))
 * computed pair by pair by Bm25PairScorer (Bm25Index only serves a top k), and equal to
 * Bm25Index's search scores; the test checks that. With perCollection the statistics (N, df, avgdl)
 * are those of each `<name>/` id prefix's documents, as mining within each corpus uses.
 */
import type { CorpusDoc, Query } from '../data/types.js';
import { Bm25PairScorer } from '../bm25/pair-scorer.js';
import { ErrorCode, SpladeError, expectFinite } from '../errors.js';
import type { NegativesRecord } from '../mine.js';
import { collectionPrefix, groupByCollection } from '../data/collections.js';

/** A negatives record with teacher scores for its positives and negatives. */
export type ScoredRecord = NegativesRecord & { scores: { [docid: string]: number } };

/**
 * The records with BM25 teacher scores (times `scale`) for every positive and negative they name.
 * scale: the scores are matched by the student's scores in MarginMSE, so they must be on its scale
 * (for idf queries scaled so the rarest piece weighs 1, scale = 1 / that piece's idf).
 */
export function bm25TeacherScores(corpus: CorpusDoc[], queries: Query[], records: NegativesRecord[],
                                  opts: { perCollection?: boolean; scale?: number; k1?: number; b?: number } = {}): ScoredRecord[] {
  const scale = expectFinite('scale', opts.scale ?? 1);
  if (!(scale > 0)) throw new SpladeError(`Expected a positive scale but received ${scale}`, ErrorCode.invalidArgument);
  const groups = groupByCollection(corpus, opts.perCollection ?? false);
  const scorers = new Map([...groups].map(([key, docs]) => [key, new Bm25PairScorer(docs.map((d) => ({ id: d.id, text: d.title ? `${d.title} ${d.text}` : d.text })), opts)]));
  const text = new Map(queries.map((q) => [q.id, q.text]));
  return records.map((r) => {
    const q = text.get(r.qid);
    if (q === undefined) throw new SpladeError(`bm25TeacherScores: no query ${JSON.stringify(r.qid)} (named in the negatives)`, ErrorCode.invalidArgument);
    const scorer = scorers.get(opts.perCollection ? collectionPrefix(r.qid) : '');
    if (!scorer) throw new SpladeError(`bm25TeacherScores: no document of query ${JSON.stringify(r.qid)}'s collection`, ErrorCode.invalidArgument);
    const scores: { [docid: string]: number } = {};
    for (const d of [...r.pos, ...Object.values(r.neg).flat()]) scores[d] ??= scorer.score(q, d) * scale;
    return { ...r, scores };
  });
}
