/*
 * Sparse vectors on disk: JSONL, one `{"id": "...", "indices": [...], "values": [...]}` a line
 * (indices ascending, values > 0), plain or gzipped. What `splade encode` writes and `splade index`,
 * `splade search` and `splade export` read. Streaming both ways.
 */
import type { SparseVector } from '../sparse.js';
import { corruptLine, readLines } from './lines.js';

export interface IdVector {
  id: string;
  vector: SparseVector;
}

/** Parses and checks one record: a bad record is an Error naming the file and line. */
function parseRecord(path: string, lineNo: number, text: string): IdVector {
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    throw corruptLine(path, lineNo, 'not valid JSON', text);
  }
  const r = rec as { id?: unknown; indices?: unknown; values?: unknown };
  if (typeof r.id !== 'string' && typeof r.id !== 'number') throw corruptLine(path, lineNo, 'no string "id"', text);
  if (!Array.isArray(r.indices) || !Array.isArray(r.values) || r.indices.length !== r.values.length) {
    throw corruptLine(path, lineNo, '"indices" and "values" must be arrays of the same length', text);
  }
  const indices = Uint32Array.from(r.indices as number[]);
  const values = Float32Array.from(r.values as number[]);
  for (let i = 0; i < indices.length; i++) {
    const t = (r.indices as unknown[])[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0xffffffff) throw corruptLine(path, lineNo, `indices[${i}] is not a term id`, text);
    if (i > 0 && indices[i] <= indices[i - 1]) throw corruptLine(path, lineNo, 'indices are not strictly ascending', text);
    if (!(values[i] > 0) || !Number.isFinite(values[i])) throw corruptLine(path, lineNo, `values[${i}] is not a finite positive number`, text);
  }
  return { id: String(r.id), vector: { indices, values } };
}

export async function* readVectors(path: string): AsyncGenerator<IdVector> {
  for await (const { lineNo, text } of readLines(path)) {
    if (text.trim() === '') continue;
    yield parseRecord(path, lineNo, text);
  }
}

export function vectorLine(id: string, v: SparseVector): string {
  // Float32 values printed with the shortest text that reads back to the same float32.
  const values = Array.from(v.values, (x) => Number(Math.fround(x).toPrecision(9)));
  return `${JSON.stringify({ id, indices: Array.from(v.indices), values })}\n`;
}
