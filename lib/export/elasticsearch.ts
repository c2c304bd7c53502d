// Elasticsearch: SPLADE vectors in a `sparse_vector` field (Elasticsearch >= 8.11, the field type
// of its own learned sparse models), searched with the `sparse_vector` query (>= 8.15), whose score
// is the dot product of the query vector with the document's: the same sum as rank_features with
// `linear` (opensearch.ts), which keeps working on OpenSearch and older Elasticsearch.
//
// The documents are the same bulk NDJSON as opensearch.ts writes (the field holds a token -> weight
// object either way); only the mapping and the query differ:
//   PUT /<index>  {"mappings":{"properties":{"splade":{"type":"sparse_vector"}}}}
//   POST /<index>/_search  {"size":10,"query":{"sparse_vector":{"field":"splade","query_vector":{"hello":0.5}}}}
//
// Dots: Elasticsearch 8.11 to 8.15 reject a '.' in a sparse_vector feature name ("[sparse_vector]
// fields do not support dots in feature names", elastic/elasticsearch#109118); 8.16 accepts them
// (#111981) but reads a dotted key in _source as an object path unless the parent object has
// subobjects: false. So tokens are escaped as for rank_features, '%' -> '%25' and '.' -> '%2E'
// (escapeFeatureName), and the query escapes its tokens the same way, so the two always meet.
// The engine keeps 9 significant bits of each value (about 0.4% relative error).
import type { SparseVector } from '../sparse.js';
import type { Exporter } from './common.js';
import { checkedQueryTerms, fieldMapping, writeOpenSearchBulk } from './opensearch.js';

export const DEFAULT_SPARSE_VECTOR_FIELD = 'splade';

/** The body for `PUT /<name>` with a sparse_vector field (dotted fields nest). */
export function elasticsearchMapping(name: string, field: string = DEFAULT_SPARSE_VECTOR_FIELD): Record<string, unknown> {
  return fieldMapping(name, field, 'sparse_vector');
}

/**
 * A search body scored by the dot product of `query` with the field: a `sparse_vector` query with
 * the escaped tokens as query_vector. `query` is a SparseVector (then `vocab` is required) or a
 * token -> weight record. An empty query matches nothing.
 */
export function elasticsearchQueryBody(
  query: SparseVector | Record<string, number>,
  field: string = DEFAULT_SPARSE_VECTOR_FIELD,
  k = 10,
  vocab?: readonly string[],
): Record<string, unknown> {
  const terms = checkedQueryTerms(query, field, k, vocab);
  if (terms.length === 0) return { size: k, query: { match_none: {} } };
  const queryVector: Record<string, number> = Object.create(null);
  for (const [name, w] of terms) queryVector[name] = w;
  return { size: k, query: { sparse_vector: { field, query_vector: queryVector } } };
}

export const elasticsearchExporter: Exporter = {
  name: 'elasticsearch',
  description: 'Elasticsearch bulk NDJSON for a sparse_vector field (tokens with . escaped); prints the mapping',
  write: async (docs, vocab, path, opts) => {
    const index = opts.indexName ?? 'splade', field = opts.field ?? DEFAULT_SPARSE_VECTOR_FIELD;
    const { documents } = await writeOpenSearchBulk(docs, vocab, path, { index, field });
    return { documents, print: JSON.stringify(elasticsearchMapping(index, field), null, 2) };
  },
};
