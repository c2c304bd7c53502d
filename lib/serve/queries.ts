/*
 * Text to query vectors for the server, and vectors to the terms the page draws. Two ways, as
 * `splade search` has them: 'model' runs the model's query side (its encoder, or its own query
 * weights where the model ships them), 'idf' is the inference-free bag of the query's word pieces
 * weighted by count x idf over the served corpus (lib/model/idf-query.ts; no encoder pass, so a
 * query costs a tokenisation).
 */
import { ErrorCode, SpladeError, expectOneOf } from '../errors.js';
import type { SparseEncoder } from '../model/ensemble.js';
import { WordPieceIdf, modelWordPieces, textForModel, type TextMode, type WordPieces } from '../model/idf-query.js';
import type { SparseVector } from '../sparse.js';

export type QueryWeights = 'model' | 'idf';
export const QUERY_WEIGHTS: readonly QueryWeights[] = ['model', 'idf'];

/** One term of a vector as the page shows it. */
export interface TermView {
  term: number;
  /** The vocabulary's token, when a model gives the vocabulary. */
  token: string | null;
  weight: number;
  /** Whether the token is one of the text's own word pieces (false: an expansion term); null without text or model. */
  inText: boolean | null;
}

export class QueryEncoder {
  readonly #vocab: string[];
  readonly #pieces: WordPieces;

  private constructor(readonly model: SparseEncoder, readonly weights: QueryWeights, readonly text: TextMode, readonly idf: WordPieceIdf | null) {
    this.#vocab = model.vocabulary();
    this.#pieces = modelWordPieces(model);
  }

  /**
   * For 'idf', corpusTexts are the texts the index was built from (their document frequencies weigh
   * the query pieces); for 'model' they are not read.
   */
  static create(model: SparseEncoder, weights: QueryWeights, text: TextMode, corpusTexts: () => Iterable<string>): QueryEncoder {
    expectOneOf('queryWeights', weights, QUERY_WEIGHTS);
    if (weights === 'model') return new QueryEncoder(model, weights, text, null);
    const idf = new WordPieceIdf(modelWordPieces(model));
    for (const t of corpusTexts()) idf.add(textForModel(t, text));
    if (idf.documents === 0) {
      throw new SpladeError("queryWeights 'idf' needs the corpus the index was built from (document texts); none was given", ErrorCode.invalidArgument);
    }
    return new QueryEncoder(model, weights, text, idf);
  }

  get vocabSize(): number {
    return this.#vocab.length;
  }

  token(term: number): string | null {
    return this.#vocab[term] ?? null;
  }

  /** The query's vector: synchronous for idf, an encoder pass for the model. */
  encode(text: string): SparseVector | Promise<SparseVector> {
    const t = textForModel(text, this.text);
    if (this.idf) return this.idf.query(t);
    return this.model.encode([t], { kind: 'query' }).then((v) => v[0]);
  }

  /** A document's text through the model's document side, as `splade encode` would encode it (the index's vector may differ if it was made otherwise). */
  async encodeDocument(text: string): Promise<SparseVector> {
    const [v] = await this.model.encode([textForModel(text, this.text)], { kind: 'document' });
    return v;
  }

  /** A query's terms (as terms()); an idf query is a bag of the text's own pieces, so all are in it, no second tokenisation needed. */
  queryTerms(v: SparseVector, text: string, top: number): TermView[] {
    if (!this.idf) return this.terms(v, text, top);
    return heaviest(v, top).map((k) => ({ term: v.indices[k], token: this.token(v.indices[k]), weight: v.values[k], inText: true }));
  }

  /** The heaviest `top` terms of v with their tokens, and whether each occurs in text (as the model sees it). */
  terms(v: SparseVector, text: string | undefined, top: number): TermView[] {
    const own = text === undefined ? null : new Set(Array.from(this.#pieces(textForModel(text, this.text))));
    return heaviest(v, top).map((k) => ({
      term: v.indices[k], token: this.token(v.indices[k]), weight: v.values[k], inText: own ? own.has(v.indices[k]) : null,
    }));
  }
}

/** Terms without a model: ids and weights only. */
export function bareTerms(v: SparseVector, top: number): TermView[] {
  return heaviest(v, top).map((k) => ({ term: v.indices[k], token: null, weight: v.values[k], inText: null }));
}

/** Positions of the `top` largest weights of v, heaviest first (ties: lower term first). */
function heaviest(v: SparseVector, top: number): number[] {
  return Array.from(v.indices.keys()).sort((a, b) => v.values[b] - v.values[a] || v.indices[a] - v.indices[b]).slice(0, top);
}
