// Seismic (TusKANNy/seismic, learned sparse retrieval): its JSONL collection format, one document a
// line, as its README ("Convert the Data") and Python API (SeismicIndex.build(jsonl)) read it:
//
//   {"id":7,"content":"","vector":{"hello":0.87,"world":1.42,"##s":0.03}}
//
// - id: the README asks for an integer; an id that is a decimal integer (no leading zeros, at most
//   2^53 - 1) is written as a number, any other as a string (newer Seismic releases read ids as
//   strings: get_seismic_string(), the 'U30' dtype of its Python examples).
// - content: the document text, optional for Seismic; the vectors carry no text, so it is "".
// - vector: token -> float weight, tokens as in the vocab (Seismic maps them to its own ids; a
//   vocab of more than 65,535 tokens needs its LV index variants). Its Python examples hold query
//   tokens in 30-character numpy strings, so a longer token would be cut there.
import { checkVocab, float32ToJson, integerId, TokenTable, writeRecords, type DocumentSource, type Exporter, type SparseDocument } from './common.js';

const tables = new WeakMap<readonly string[], TokenTable>();

function tokenTable(vocab: readonly string[]): TokenTable {
  let t = tables.get(vocab);
  if (!t) tables.set(vocab, (t = new TokenTable(vocab)));
  return t;
}

/** Seismic's id: a number for a decimal integer id, else the string. */
export function seismicId(id: string): number | string {
  return integerId(id) ?? id;
}

/** One line (without the newline). `doc` is checked by the caller (writeSeismicCollection checks each). */
export function seismicLine(doc: SparseDocument, vocab: readonly string[]): string {
  const table = tokenTable(vocab);
  const vector: Record<string, number> = Object.create(null); // a token may be '__proto__'
  const { indices, values } = doc.vector;
  for (let i = 0; i < indices.length; i++) vector[table.get(indices[i])] = float32ToJson(values[i]);
  return JSON.stringify({ id: seismicId(doc.id), content: '', vector });
}

/** Writes the JSONL collection (atomically). Returns how many documents it holds. */
export async function writeSeismicCollection(docs: DocumentSource, vocab: readonly string[], path: string): Promise<{ documents: number }> {
  checkVocab(vocab);
  return writeRecords(docs, vocab.length, path, (doc) => seismicLine(doc, vocab));
}

export const seismicExporter: Exporter = {
  name: 'seismic',
  description: 'Seismic JSONL {id, content, vector: {token: weight}}',
  write: async (docs, vocab, path) => writeSeismicCollection(docs, vocab, path),
};
