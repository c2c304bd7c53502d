// The options shared by the commands that turn text into vectors (encode, search --model): which
// text the model sees (--text) and how queries are weighted (--query-weights: the query encoder, or
// inference-free idf bags over the searched corpus, the form the leave-one-out benchmark measures).
import { SpladeError } from '../errors.js';
import type { SparseEncoder } from '../model/ensemble.js';
import { readTexts, type IdText } from '../pipeline.js';
import { TEXT_MODES, corpusWordPieceIdf, textForModel, type TextMode, type WordPieceIdf } from '../model/idf-query.js';

export const textFlags = { text: { type: 'string' }, 'query-weights': { type: 'string' }, corpus: { type: 'string' } } as const;
export const TEXT_FLAGS_HELP = `  --text raw|words        what the model sees (default raw); words: only the words BM25 keeps
                          (lower-cased; no stop words, digits, punctuation or one-letter
                          words). Index and queries must be encoded the same way
  --query-weights encoder|idf
                          queries through the query encoder (default), or inference-free: each
                          query the bag of its word pieces weighted by count x idf over --corpus
                          (no encoder pass)
  --corpus FILE           with --query-weights idf: the corpus the index was built from`;

export function textMode(v: Record<string, unknown>): TextMode {
  const mode = (v.text ?? 'raw') as TextMode;
  if (!TEXT_MODES.includes(mode)) throw new SpladeError(`--text must be one of ${TEXT_MODES.join(', ')}, got ${JSON.stringify(v.text)}`);
  return mode;
}

/** The texts of a file as the model is to see them. */
export async function* readModelTexts(path: string, kind: 'query' | 'document', mode: TextMode): AsyncGenerator<IdText> {
  for await (const t of readTexts(path, kind)) yield { id: t.id, text: textForModel(t.text, mode) };
}

/** The idf table for --query-weights idf, or null for the query encoder. */
export async function queryIdf(v: Record<string, unknown>, model: SparseEncoder, mode: TextMode): Promise<WordPieceIdf | null> {
  const weights = v['query-weights'] ?? 'encoder';
  if (weights !== 'encoder' && weights !== 'idf') throw new SpladeError(`--query-weights must be encoder or idf, got ${JSON.stringify(weights)}`);
  if (weights === 'encoder') {
    if (v.corpus !== undefined) throw new SpladeError('--corpus is only used with --query-weights idf');
    return null;
  }
  if (typeof v.corpus !== 'string') throw new SpladeError('--query-weights idf needs --corpus FILE: the corpus the index was built from (its idf weighs the query pieces)');
  const texts = (async function* () {
    for await (const d of readModelTexts(v.corpus as string, 'document', mode)) yield d.text;
  })();
  const idf = await corpusWordPieceIdf(model, texts);
  if (idf.documents === 0) throw new SpladeError(`--corpus ${v.corpus} has no documents: idf weights need the corpus the index was built from`);
  return idf;
}
