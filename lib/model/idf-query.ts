/*
 * Inference-free queries for a SPLADE document index: a query is the bag of its own word pieces,
 * each weighted by its count times its idf over the corpus being searched (BM25's idf,
 * log(1 + (N - df + 0.5) / (df + 0.5))), with no encoder pass. The small self-trained query
 * encoder learns little weighting beyond stop words, and on long statement-like queries (CACM,
 * LISA) this bag ranks better with the same document vectors; the corpus text is all it needs.
 */
import { wordAnalyzer } from '../bm25/analyzer.js';
import { bm25Idf } from '../bm25/index.js';
import { invalidArgument } from '../errors.js';
import type { SparseVector } from '../sparse.js';

/** Word-piece ids of a text, without special tokens. */
export type WordPieces = (text: string) => ArrayLike<number>;

/** Document frequency of every word piece over the texts, and their count. */
export class WordPieceIdf {
  private readonly df = new Map<number, number>();
  private n = 0;

  constructor(private readonly pieces: WordPieces) {
    if (typeof pieces !== 'function') invalidArgument('pieces', 'a function text -> word-piece ids', pieces);
  }

  /** Documents added so far. */
  get documents(): number {
    return this.n;
  }

  add(text: string): void {
    this.n++;
    for (const t of new Set(Array.from(this.pieces(text)))) this.df.set(t, (this.df.get(t) ?? 0) + 1);
  }

  /** BM25's idf of a piece; 0 for a piece no document has (it cannot match anything). */
  idf(piece: number): number {
    const df = this.df.get(piece) ?? 0;
    return df === 0 ? 0 : bm25Idf(this.n, df);
  }

  /** The query as a sparse vector: count x idf per distinct piece, pieces no document has dropped. */
  query(text: string): SparseVector {
    const tf = new Map<number, number>();
    for (const t of Array.from(this.pieces(text))) tf.set(t, (tf.get(t) ?? 0) + 1);
    const ids = [...tf.keys()].filter((t) => this.idf(t) > 0).sort((a, b) => a - b);
    return { indices: Uint32Array.from(ids), values: Float32Array.from(ids, (t) => tf.get(t)! * this.idf(t)) };
  }
}

const bm25Terms = wordAnalyzer();

/**
 * A query's text as the BM25 baseline sees it: lower-cased, split at every non-letter, one-letter
 * words and Lucene's English stop words dropped ('words' analyzer, no stemming), joined by spaces.
 * Its word pieces are then the idf query with the same filter as BM25's query side: the plain bag
 * also weighs stop words, punctuation and single letters by their (small) idf, and a stop word's
 * document weight counts once per query occurrence, most for the long statements of CACM and LISA.
 */
export function bm25QueryText(text: string): string {
  return bm25Terms(text).join(' ');
}

/**
 * How texts reach the model: 'raw' as they are; 'words': only the words BM25 keeps (bm25QueryText),
 * so a 128-token window holds more content words; a text with no such word (a title of stop words)
 * stays as it was, since an empty text has nothing to encode. Index and queries must use the same.
 */
export type TextMode = 'raw' | 'words';
export const TEXT_MODES: readonly TextMode[] = ['raw', 'words'];

export function textForModel(text: string, mode: TextMode): string {
  if (mode === 'raw') return text;
  if (mode === 'words') return bm25QueryText(text) || text;
  return invalidArgument('text mode', `one of ${TEXT_MODES.join(', ')}`, mode);
}

/** The idf table of a corpus for a model's word pieces (the texts as the index was encoded from them). */
export async function corpusWordPieceIdf(model: Parameters<typeof modelWordPieces>[0], texts: Iterable<string> | AsyncIterable<string>): Promise<WordPieceIdf> {
  const idf = new WordPieceIdf(modelWordPieces(model));
  for await (const t of texts) idf.add(t);
  return idf;
}

/** The word pieces of a model's tokenizer, special tokens ([CLS], [SEP]) stripped. */
export function modelWordPieces(model: { tokenize(text: string, o: { kind: 'document'; maxLength: number }): Int32Array }): WordPieces {
  return (text) => {
    const ids = model.tokenize(text, { kind: 'document', maxLength: 1 << 20 });
    return ids.subarray(1, ids.length - 1); // [CLS] ... [SEP], cut at the model's max_position_embeddings
  };
}
