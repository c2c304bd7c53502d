// The options shared by the commands that turn text into vectors (encode, search --model): which
// text the model sees (--text) and how queries are weighted (--query-weights: the query encoder,
// inference-free idf bags over the searched corpus, the form the leave-one-out benchmark measures, or
// the model's own query weights: an OpenSearch idf.json, a SparseEncoder's SparseStaticEmbedding).
import { SpladeError } from '../errors.js';
import type { SparseEncoder } from '../model/ensemble.js';
import { SpladeModel } from '../model/splade-model.js';
import type { SparseVector } from '../sparse.js';
import { readTexts, type IdText } from '../pipeline.js';
import { TEXT_MODES, corpusWordPieceIdf, textForModel, type TextMode } from '../model/idf-query.js';

export const textFlags = { text: { type: 'string' }, 'query-weights': { type: 'string' }, corpus: { type: 'string' } } as const;
export const TEXT_FLAGS_HELP = `  --text raw|words        what the model sees (default raw); words: only the words BM25 keeps
                          (lower-cased; no stop words, digits, punctuation or one-letter
                          words). Index and queries must be encoded the same way
  --query-weights encoder|idf|model
                          queries through the query encoder; idf: inference-free, each query
                          the bag of its word pieces weighted by count x idf over --corpus (no
                          encoder pass); model: the model's own query weights (an OpenSearch
                          idf.json, a SparseEncoder's SparseStaticEmbedding). Default: the
                          model's own weights where it has them, else the query encoder
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

/** Inference-free query vectors, made without the encoder. */
export interface QueryVectors { query(text: string): SparseVector }

/**
 * The query vectors of --query-weights idf (the corpus's idf table) or model (the model's own
 * weights), or null for model.encode() (with encoderQueryWeights(v) as its queryWeights option).
 */
export async function queryIdf(v: Record<string, unknown>, model: SparseEncoder, mode: TextMode): Promise<QueryVectors | null> {
  const weights = v['query-weights'];
  if (weights !== undefined && weights !== 'encoder' && weights !== 'idf' && weights !== 'model') {
    throw new SpladeError(`--query-weights must be encoder, idf or model, got ${JSON.stringify(weights)}`);
  }
  if (weights !== 'idf' && v.corpus !== undefined) throw new SpladeError('--corpus is only used with --query-weights idf');
  if (weights === 'model') {
    if (!(model instanceof SpladeModel) || !model.hasQueryWeights) {
      throw new SpladeError('--query-weights model needs a model with query weights of its own (an idf.json, or a SparseEncoder whose query route is a SparseStaticEmbedding)');
    }
    return { query: (text) => model.queryWeightsVector(text)! };
  }
  if (weights !== 'idf') return null;
  if (typeof v.corpus !== 'string') throw new SpladeError('--query-weights idf needs --corpus FILE: the corpus the index was built from (its idf weighs the query pieces)');
  const texts = (async function* () {
    for await (const d of readModelTexts(v.corpus as string, 'document', mode)) yield d.text;
  })();
  const idf = await corpusWordPieceIdf(model, texts);
  if (idf.documents === 0) throw new SpladeError(`--corpus ${v.corpus} has no documents: idf weights need the corpus the index was built from`);
  return idf;
}

/** encode()'s queryWeights option for --query-weights: false (the query encoder) for 'encoder', else the model's choice. */
export function encoderQueryWeights(v: Record<string, unknown>): false | undefined {
  return v['query-weights'] === 'encoder' ? false : undefined;
}
