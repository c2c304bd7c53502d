// Milvus: rows with a SPARSE_FLOAT_VECTOR field, as the row-based JSON file that Milvus's bulk
// import reads (milvus.io/docs bulk_insert / import_data: a JSON object whose root key is "rows"),
// one row per line so that the rows can also be cut into batches for `insert` by line:
//
//   {"rows":[
//   {"id":"doc7","splade":{"2":0.87,"5":1.42}},
//   {"id":"doc8","splade":{"3":0.5}}
//   ]}
//
// A sparse vector is a { dimension index: value } object (milvus.io/docs/sparse_vector.md, "List of
// Dictionaries"; JSON keys are strings), indices the term ids (0-based, below 2^32 - 1), values
// float32 > 0. The primary key is a VarChar field "id" holding the document id (Milvus caps VarChar
// at 65,535 bytes). The exporter prints the body of the REST `POST /v2/vectordb/collections/create`
// that makes the matching collection, with a SPARSE_INVERTED_INDEX on inner product (the only
// metric sparse vectors have), so Milvus scores the exported vectors by their dot product.
import { invalidArgument } from '../errors.js';
import { checkPlainName, checkVocab, float32ToJson, writeRecords, type DocumentSource, type Exporter, type SparseDocument } from './common.js';

export const DEFAULT_MILVUS_FIELD = 'splade';
const VARCHAR_MAX_BYTES = 65535;

export interface MilvusOptions {
  /** The SPARSE_FLOAT_VECTOR field. Default 'splade'; not 'id' (the primary key). */
  field?: string;
}

function checkField(field: unknown): string {
  const f = checkPlainName('field', field, 255);
  if (f === 'id') invalidArgument('field', "a field name other than 'id' (the primary key)", field);
  return f;
}

/** A vector as Milvus's { "dimension": value } object, in term-id order. */
export function milvusSparseVector(doc: SparseDocument): Record<string, number> {
  const out: Record<string, number> = {};
  const { indices, values } = doc.vector;
  for (let i = 0; i < indices.length; i++) out[indices[i]] = float32ToJson(values[i]);
  return out;
}

/** One row (without the newline or separator). */
export function milvusRow(doc: SparseDocument, field: string = DEFAULT_MILVUS_FIELD, where = 'doc'): string {
  if (Buffer.byteLength(doc.id, 'utf8') > VARCHAR_MAX_BYTES) {
    invalidArgument(`${where}.id`, `an id of at most ${VARCHAR_MAX_BYTES} bytes (Milvus VarChar limit)`, doc.id);
  }
  return JSON.stringify({ id: doc.id, [field]: milvusSparseVector(doc) });
}

/** The REST body that creates the collection: VarChar primary key "id", the sparse field, an IP index. */
export function milvusCollectionSchema(collection: string, field: string = DEFAULT_MILVUS_FIELD, maxIdBytes = 512): Record<string, unknown> {
  checkPlainName('collection', collection, 255);
  checkField(field);
  return {
    collectionName: collection,
    schema: {
      autoId: false,
      fields: [
        { fieldName: 'id', dataType: 'VarChar', isPrimary: true, elementTypeParams: { max_length: maxIdBytes } },
        { fieldName: field, dataType: 'SparseFloatVector' },
      ],
    },
    indexParams: [{ fieldName: field, indexName: field, metricType: 'IP', indexType: 'SPARSE_INVERTED_INDEX' }],
  };
}

/** Writes the row-based JSON file (atomically). Returns the row count and the longest id in bytes. */
export async function writeMilvusRows(
  docs: DocumentSource,
  vocab: readonly string[],
  path: string,
  opts: MilvusOptions = {},
): Promise<{ documents: number; maxIdBytes: number }> {
  checkVocab(vocab);
  const field = checkField(opts.field ?? DEFAULT_MILVUS_FIELD);
  let maxIdBytes = 1;
  const { documents } = await writeRecords(
    docs,
    vocab.length,
    path,
    (doc, where) => {
      const row = milvusRow(doc, field, where);
      maxIdBytes = Math.max(maxIdBytes, Buffer.byteLength(doc.id, 'utf8'));
      return row;
    },
    { head: '{"rows":[\n', separator: () => ',\n', tail: (n) => (n > 0 ? '\n]}\n' : ']}\n') },
  );
  return { documents, maxIdBytes };
}

export const milvusExporter: Exporter = {
  name: 'milvus',
  description: 'Milvus rows ({"rows":[...]}, bulk-import JSON) with a SPARSE_FLOAT_VECTOR field; prints the schema',
  write: async (docs, vocab, path, opts) => {
    const field = opts.field ?? DEFAULT_MILVUS_FIELD, collection = opts.indexName ?? 'splade';
    checkPlainName('collection', collection, 255);
    const { documents, maxIdBytes } = await writeMilvusRows(docs, vocab, path, { field });
    return { documents, print: JSON.stringify(milvusCollectionSchema(collection, field, maxIdBytes), null, 2) };
  },
};
