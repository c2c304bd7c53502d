// OpenSearch / Elasticsearch: SPLADE vectors in a `rank_features` field, scored by a bool of
// `rank_feature` queries with the linear function, which sums query weight * document weight over
// the shared terms: the sparse dot product.
//
// Bulk NDJSON (POST /_bulk, Content-Type application/x-ndjson), two lines per document:
//   {"index":{"_index":"msmarco","_id":"doc7"}}
//   {"splade":{"hello":0.87,"world":1.42,"%2E":0.05}}
// The file ends with a newline, as _bulk requires. Split big files into requests of a few MB at
// even line counts (each document is two lines); openSearchBulkLines streams the lines for that.
//
// What the engines impose, and what this module does about it:
// - Feature names are keys in the source and the part after the last '.' in a rank_feature query's
//   field ("splade.hello"), so a '.' in a token would either be expanded into an object path or
//   split the query's field at the wrong place (ES rejects it: "do not support dots in feature
//   names"). Tokens are escaped: '%' -> '%25', '.' -> '%2E' (reversible, collision-free;
//   unescapeFeatureName undoes it). bert-base-uncased has three such tokens: '.', '...', '##.'.
// - Keys can't be empty: an empty vocab token is refused.
// - Values must be positive normal floats (Lucene FeatureField): SparseVector values are > 0
//   already; a subnormal float32 (< 2^-126) is refused. Values are written as the shortest decimal
//   that reads back as the same float32.
// - The engine keeps 9 significant bits of each indexed value (about 0.4% relative error), so its
//   scores equal the dot product only to that precision.
// - `linear` exists in Elasticsearch >= 7.12 and OpenSearch; a bool query has a clause limit
//   (indices.query.bool.max_clause_count, 1024 by default in OpenSearch and older Elasticsearch):
//   SPLADE queries usually stay far below it; prune with topK at encode time if not.
// - Document _id is limited to 512 bytes; longer ids are refused.
import { ErrorCode, SpladeError, expectInteger, expectString, invalidArgument } from '../errors.js';
import type { SparseVector } from '../sparse.js';
import {
  checkDocument,
  checkVector,
  checkVocab,
  float32ToJson,
  TokenTable,
  writeAtomically,
  type DocumentSource,
  type Exporter,
} from './common.js';

export const DEFAULT_RANK_FEATURES_FIELD = 'splade';
const FLOAT32_MIN_NORMAL = 2 ** -126;

export interface OpenSearchBulkOptions {
  /** Target index (goes into each action line). */
  index: string;
  /** The rank_features field; a dotted path ('ml.tokens') nests objects. Default 'splade'. */
  field?: string;
}

/** Escapes a token for use as a rank_features key: '%' -> '%25', '.' -> '%2E'. */
export function escapeFeatureName(token: string): string {
  return token.replace(/%/g, '%25').replace(/\./g, '%2E');
}

/** Undoes escapeFeatureName. */
export function unescapeFeatureName(name: string): string {
  return name.replace(/%(25|2E)/g, (m) => (m === '%25' ? '%' : '.'));
}

const tables = new WeakMap<readonly string[], TokenTable>();
const escapedCache = new WeakMap<TokenTable, Map<number, string>>();

function featureName(vocab: readonly string[], t: number): string {
  let table = tables.get(vocab);
  if (!table) {
    table = new TokenTable(vocab);
    tables.set(vocab, table);
    escapedCache.set(table, new Map());
  }
  const cache = escapedCache.get(table)!;
  let name = cache.get(t);
  if (name === undefined) {
    name = escapeFeatureName(table.get(t));
    cache.set(t, name);
  }
  return name;
}

/** A vector as a rank_features object: escaped token -> float weight, in term-id order. */
export function rankFeatures(vector: SparseVector, vocab: readonly string[], where = 'vector'): Record<string, number> {
  checkVocab(vocab);
  checkVector(vector, where, vocab.length);
  return features(vector, vocab, where);
}

function features(vector: SparseVector, vocab: readonly string[], where: string): Record<string, number> {
  const out: Record<string, number> = Object.create(null); // a token may be '__proto__'
  const { indices, values } = vector;
  for (let i = 0; i < indices.length; i++) {
    const v = values[i];
    if (v < FLOAT32_MIN_NORMAL) {
      throw new SpladeError(
        `Expected a positive normal float (>= 2^-126, as rank_features requires) for ${where}.values[${i}] but received ${v}`,
        ErrorCode.outOfRange,
      );
    }
    out[featureName(vocab, indices[i])] = float32ToJson(v);
  }
  return out;
}

function checkField(field: unknown): string[] {
  const f = expectString('field', field);
  const parts = f.split('.');
  if (parts.some((p) => p.length === 0)) invalidArgument('field', 'a field name or dotted path without empty parts', field);
  return parts;
}

/** Nests `value` under a dotted path: 'a.b' -> { a: { b: value } }. */
function nest(parts: string[], value: unknown): Record<string, unknown> {
  let out: Record<string, unknown> = { [parts[parts.length - 1]]: value };
  for (let i = parts.length - 2; i >= 0; i--) out = { [parts[i]]: out };
  return out;
}

/** Index names as Elasticsearch and OpenSearch accept them. */
function checkIndexName(name: unknown, what = 'index'): string {
  const s = expectString(what, name);
  const ok =
    s.length > 0 &&
    Buffer.byteLength(s, 'utf8') <= 255 &&
    s === s.toLowerCase() &&
    !/[\\/*?"<>| ,#:]/.test(s) &&
    !/^[-_+]/.test(s) &&
    s !== '.' &&
    s !== '..';
  if (!ok) {
    invalidArgument(what, 'a valid index name (lowercase; none of \\ / * ? " < > | space , # :; not starting with - _ +; at most 255 bytes)', name);
  }
  return s;
}

/**
 * The body for `PUT /<name>` that creates the index with a rank_features field:
 * {"mappings":{"properties":{"<field>":{"type":"rank_features"}}}} (dotted fields nest).
 */
export function mapping(name: string, field: string = DEFAULT_RANK_FEATURES_FIELD): Record<string, unknown> {
  return fieldMapping(name, field, 'rank_features');
}

/** The index-creation body with `field` (dotted paths nest) of the given type. */
export function fieldMapping(name: string, field: string, type: 'rank_features' | 'sparse_vector'): Record<string, unknown> {
  checkIndexName(name, 'name');
  const parts = checkField(field);
  let props: Record<string, unknown> = { [parts[parts.length - 1]]: { type } };
  for (let i = parts.length - 2; i >= 0; i--) props = { [parts[i]]: { properties: props } };
  return { mappings: { properties: props } };
}

/** The bulk lines (action, source, action, source, ...), without newlines, streamed. */
export async function* openSearchBulkLines(
  docs: DocumentSource,
  vocab: readonly string[],
  opts: OpenSearchBulkOptions,
): AsyncGenerator<string, void, undefined> {
  checkVocab(vocab);
  if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object { index, field? }', opts);
  const index = checkIndexName(opts.index, 'opts.index');
  const parts = checkField(opts.field ?? DEFAULT_RANK_FEATURES_FIELD);
  let n = 0;
  for await (const raw of docs) {
    const where = `docs[${n}]`;
    const doc = checkDocument(raw, where, vocab.length);
    if (Buffer.byteLength(doc.id, 'utf8') > 512) invalidArgument(`${where}.id`, 'an id of at most 512 bytes (_id limit)', doc.id);
    yield JSON.stringify({ index: { _index: index, _id: doc.id } });
    yield JSON.stringify(nest(parts, features(doc.vector, vocab, `${where}.vector`)));
    n++;
  }
}

/** Writes a bulk NDJSON file (atomically). Returns how many documents it holds. */
export async function writeOpenSearchBulk(
  docs: DocumentSource,
  vocab: readonly string[],
  path: string,
  opts: OpenSearchBulkOptions,
): Promise<{ documents: number }> {
  // Validate options before creating the temp file.
  checkVocab(vocab);
  if (opts === null || typeof opts !== 'object') invalidArgument('opts', 'an object { index, field? }', opts);
  checkIndexName(opts.index, 'opts.index');
  checkField(opts.field ?? DEFAULT_RANK_FEATURES_FIELD);
  return writeAtomically(path, async (file) => {
    let lines = 0;
    for await (const line of openSearchBulkLines(docs, vocab, opts)) {
      await file.write(line + '\n');
      lines++;
    }
    return { documents: lines / 2 };
  });
}

/**
 * A search body whose score is the sparse dot product of `query` with each document's field:
 * {"size":k,"query":{"bool":{"should":[{"rank_feature":{"field":"<field>.<token>","linear":{},"boost":w}},...]}}}.
 * `query` is a SparseVector (then `vocab` is required) or a token -> weight record (raw tokens;
 * they are escaped here). Weights must be finite and > 0. An empty query matches nothing
 * (match_none) rather than everything, which is what an empty bool would do.
 */
export function queryBody(
  query: SparseVector | Record<string, number>,
  field: string = DEFAULT_RANK_FEATURES_FIELD,
  k = 10,
  vocab?: readonly string[],
): Record<string, unknown> {
  const terms = checkedQueryTerms(query, field, k, vocab);
  if (terms.length === 0) return { size: k, query: { match_none: {} } };
  return {
    size: k,
    query: {
      bool: {
        should: terms.map(([name, w]) => ({ rank_feature: { field: `${field}.${name}`, linear: {}, boost: w } })),
      },
    },
  };
}

/** Checks a query body's field and k, and gives the query's terms (queryTerms). */
export function checkedQueryTerms(
  query: SparseVector | Record<string, number>,
  field: string,
  k: number,
  vocab: readonly string[] | undefined,
): [string, number][] {
  checkField(field);
  expectInteger('k', k, 1);
  return queryTerms(query, vocab);
}

/**
 * A query's (escaped feature name, weight) pairs: from a SparseVector (then `vocab` is required) or
 * a token -> weight record (raw tokens, escaped here; weights finite and > 0).
 */
export function queryTerms(query: SparseVector | Record<string, number>, vocab?: readonly string[]): [string, number][] {
  const terms: [string, number][] = [];
  if (query !== null && typeof query === 'object' && 'indices' in query && 'values' in query && ArrayBuffer.isView(query.indices)) {
    if (vocab === undefined) invalidArgument('vocab', 'the vocab (term id -> token) for a SparseVector query', vocab);
    checkVocab(vocab);
    const v = checkVector(query, 'query', vocab.length);
    for (let i = 0; i < v.indices.length; i++) terms.push([featureName(vocab, v.indices[i]), float32ToJson(v.values[i])]);
  } else if (query !== null && typeof query === 'object' && !Array.isArray(query)) {
    for (const [tok, w] of Object.entries(query as Record<string, number>)) {
      if (tok.length === 0) invalidArgument('query', 'non-empty tokens', tok);
      if (typeof w !== 'number' || !(w > 0) || w === Infinity) invalidArgument(`query[${JSON.stringify(tok)}]`, 'a finite weight > 0', w);
      terms.push([escapeFeatureName(tok), w]);
    }
  } else {
    invalidArgument('query', 'a SparseVector or a token -> weight object', query);
  }
  return terms;
}

export const openSearchExporter: Exporter = {
  name: 'opensearch',
  description: 'OpenSearch / Elasticsearch bulk NDJSON for a rank_features field; prints the mapping',
  write: async (docs, vocab, path, opts) => {
    const index = opts.indexName ?? 'splade', field = opts.field ?? DEFAULT_RANK_FEATURES_FIELD;
    const { documents } = await writeOpenSearchBulk(docs, vocab, path, { index, field });
    return { documents, print: JSON.stringify(mapping(index, field), null, 2) };
  },
};
