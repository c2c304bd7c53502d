/*
 * Why a document scored what it did: each term it shares with the query and that term's part of the
 * score, computed the way the index computes it (lib/search/inverted-index.ts, native/index/search.h):
 * the document's weight v is stored as the impact level
 *   level = clamp(nearbyint(v * L / scale), 1, L),  L = 2^impactBits - 1
 * the query weight w becomes the float w * unit with unit = float(scale / L), a term adds the float
 * (w * unit) * level, and the score is the float32 sum of those in ascending term order. Given the
 * vector the index was built from, `score` is bitwise the score search returns.
 */
import type { SparseVector } from '../sparse.js';

export interface TermContribution {
  /** Term id (vocabulary index). */
  term: number;
  queryWeight: number;
  /** The document's weight as given to the index. */
  documentWeight: number;
  /** The same weight as the index holds it (its impact level x unit). */
  indexWeight: number;
  /** This term's part of the score. */
  contribution: number;
}

export interface Explanation {
  score: number;
  /** Shared terms, largest contribution first. */
  terms: TermContribution[];
}

/** The quantisation an index applied: its scale and impact bits (InvertedIndex's getters). */
export interface ImpactScale {
  scale: number;
  impactBits: number;
}

export function explainScore(query: SparseVector, doc: SparseVector, ix: ImpactScale): Explanation {
  const levels = 2 ** ix.impactBits - 1;
  const scale = Math.fround(ix.scale);
  const unit = Math.fround(scale / levels);
  const toLevel = levels / scale;
  const terms: TermContribution[] = [];
  let score = 0;
  // merge of the two ascending index lists: shared terms in ascending order, the index's sum order
  for (let i = 0, j = 0; i < query.indices.length && j < doc.indices.length;) {
    const a = query.indices[i], b = doc.indices[j];
    if (a < b) i++;
    else if (b < a) j++;
    else {
      const level = Math.min(Math.max(roundHalfEven(doc.values[j] * toLevel), 1), levels);
      const contribution = Math.fround(Math.fround(query.values[i] * unit) * level);
      score = Math.fround(score + contribution);
      terms.push({ term: a, queryWeight: query.values[i], documentWeight: doc.values[j], indexWeight: Math.fround(level * unit), contribution });
      i++;
      j++;
    }
  }
  terms.sort((x, y) => y.contribution - x.contribution || x.term - y.term);
  return { score, terms };
}

/** C's nearbyint in the default rounding mode: ties to even (Math.round rounds them up). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
