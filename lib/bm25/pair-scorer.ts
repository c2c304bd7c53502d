// BM25 of any (query, document) pair of a fixed document set (Bm25Index serves only a top k): the
// index's analysis, statistics and term weight, in float64 (the index keeps float32 weights).
import { ErrorCode, SpladeError, expectFinite } from '../errors.js';
import { wordAnalyzer, type TokenizeFn } from './analyzer.js';
import { Bm25Builder, bm25Idf, bm25LengthNorm, bm25Weight } from './index.js';

export class Bm25PairScorer {
  private readonly docs: Bm25Builder;
  private readonly docNo = new Map<string, number>();
  private readonly avgdl: number;
  private readonly k1: number;
  private readonly b: number;
  private readonly tokenize: TokenizeFn;

  constructor(docs: Iterable<{ id: string; text: string }>, opts: { k1?: number; b?: number; tokenize?: TokenizeFn } = {}) {
    this.k1 = expectFinite('k1', opts.k1 ?? 0.9);
    this.b = expectFinite('b', opts.b ?? 0.4);
    this.tokenize = opts.tokenize ?? wordAnalyzer();
    this.docs = new Bm25Builder(this.tokenize);
    for (const d of docs) {
      if (this.docNo.has(d.id)) throw new SpladeError(`Bm25PairScorer: document id ${JSON.stringify(d.id)} is given twice`, ErrorCode.invalidArgument);
      this.docNo.set(d.id, this.docNo.size);
      this.docs.add(d, this.docNo.size - 1);
    }
    this.avgdl = this.numDocs > 0 ? this.docs.totalLen / this.numDocs : 0;
  }

  get numDocs(): number {
    return this.docNo.size;
  }

  score(query: string, docId: string): number {
    const d = this.docNo.get(docId);
    if (d === undefined) throw new SpladeError(`Bm25PairScorer: no document ${JSON.stringify(docId)} among the ${this.numDocs} it was built on`, ErrorCode.invalidArgument);
    const { dict, df, docLen, docOffsets, terms, tfs } = this.docs;
    const norm = bm25LengthNorm(this.k1, this.b, docLen.a[d], this.avgdl);
    let s = 0;
    for (const tok of this.tokenize(query)) {
      const t = dict.get(tok);
      if (t === undefined) continue;
      // the document's terms are ascending: binary search
      let lo = docOffsets[d], hi = docOffsets[d + 1];
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (terms.a[mid] < t) lo = mid + 1; else hi = mid;
      }
      if (lo < docOffsets[d + 1] && terms.a[lo] === t) s += bm25Weight(bm25Idf(this.numDocs, df.a[t]), tfs.a[lo], norm);
    }
    return s;
  }
}
