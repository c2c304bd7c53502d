// Qdrant: points with a named sparse vector, one point per line (JSONL):
//
//   {"id":7,"vector":{"splade":{"indices":[2,5],"values":[0.87,1.42]}},"payload":{"doc_id":"7"}}
//
// Each line is a point exactly as `PUT /collections/{name}/points` takes it in its "points" array
// (qdrant.tech/documentation/concepts/vectors, "Sparse Vectors"); a user sends batches of lines as
// {"points":[line,line,...]} (Qdrant refuses requests over 32 MB by default, so one body for a whole
// collection would not do). The collection needs the named sparse vector: the exporter prints
// {"sparse_vectors":{"splade":{}}} for `PUT /collections/{name}`. Sparse search in Qdrant is an
// exact dot product over float32 values, so its ranking is the one of the exported vectors.
//
// Point ids: Qdrant takes only unsigned 64-bit integers and UUIDs. A document id that is a decimal
// integer (no leading zeros, at most 2^53 - 1) becomes that number, a UUID stays as it is, and any
// other id becomes the name-based UUID v5 of the id in the URL namespace (RFC 4122; Python's
// uuid.uuid5(uuid.NAMESPACE_URL, id) gives the same), so re-exporting upserts the same points. The
// original id is always in the payload as "doc_id".
import { createHash } from 'node:crypto';

import { invalidArgument } from '../errors.js';
import { checkVocab, float32ToJson, integerId, writeRecords, type DocumentSource, type Exporter, type SparseDocument } from './common.js';

export const DEFAULT_QDRANT_VECTOR = 'splade';

export interface QdrantOptions {
  /** The named sparse vector. Default 'splade'. */
  vectorName?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// RFC 4122 appendix C: the URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/** RFC 4122 name-based UUID (version 5, SHA-1) of `name` in the URL namespace. */
export function uuid5(name: string): string {
  const h = createHash('sha1').update(URL_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The Qdrant point id of a document id (see the file comment). */
export function qdrantPointId(id: string): number | string {
  const n = integerId(id);
  if (n !== undefined) return n;
  return UUID.test(id) ? id : uuid5(id);
}

function checkVectorName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) invalidArgument('vectorName', 'a non-empty vector name', name);
  return name;
}

/** One point (without the newline). */
export function qdrantPointLine(doc: SparseDocument, vectorName: string = DEFAULT_QDRANT_VECTOR): string {
  const { indices, values } = doc.vector;
  const vals = Array.from(values, float32ToJson);
  return JSON.stringify({
    id: qdrantPointId(doc.id),
    vector: { [checkVectorName(vectorName)]: { indices: Array.from(indices), values: vals } },
    payload: { doc_id: doc.id },
  });
}

/** The body of `PUT /collections/{name}` for the named sparse vector. */
export function qdrantCollectionConfig(vectorName: string = DEFAULT_QDRANT_VECTOR): Record<string, unknown> {
  return { sparse_vectors: { [checkVectorName(vectorName)]: {} } };
}

/** Writes the points as JSONL (atomically). Returns how many it holds. */
export async function writeQdrantPoints(
  docs: DocumentSource,
  vocab: readonly string[],
  path: string,
  opts: QdrantOptions = {},
): Promise<{ documents: number }> {
  checkVocab(vocab);
  const name = checkVectorName(opts.vectorName ?? DEFAULT_QDRANT_VECTOR);
  return writeRecords(docs, vocab.length, path, (doc) => qdrantPointLine(doc, name));
}

export const qdrantExporter: Exporter = {
  name: 'qdrant',
  description: 'Qdrant points (JSONL) with a named sparse vector { indices, values }; prints the collection config',
  write: async (docs, vocab, path, opts) => {
    const vectorName = opts.field ?? DEFAULT_QDRANT_VECTOR;
    const { documents } = await writeQdrantPoints(docs, vocab, path, { vectorName });
    return { documents, print: JSON.stringify(qdrantCollectionConfig(vectorName), null, 2) };
  },
};
