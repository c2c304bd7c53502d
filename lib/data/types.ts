/*
 * The shapes the data readers produce and `evaluate` consumes. Run and Qrels are pytrec_eval's:
 * query id -> document id -> score (run) or graded relevance (qrels). Ids are always strings.
 */

/** query id -> document id -> retrieval score. */
export type Run = Record<string, Record<string, number>>;
/** query id -> document id -> graded relevance (integer; > 0 means relevant). */
export type Qrels = Record<string, Record<string, number>>;

/** One corpus document. `title` is '' where the collection has none (MS MARCO, NPL, MED). */
export interface CorpusDoc {
  id: string;
  title: string;
  text: string;
}

export interface Query {
  id: string;
  text: string;
}

/** One query's ranked list, as a searcher returns it (docIds[i] scored scores[i]). */
export interface RunEntry {
  queryId: string;
  docIds: readonly string[];
  scores: ArrayLike<number>;
}
