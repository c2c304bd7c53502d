// Sparse vectors: what the encoder produces and the index consumes.
import { invalidArgument } from './errors.js';

/** A sparse vocabulary-sized vector: term ids strictly ascending, values finite and > 0. */
export type SparseVector = { indices: Uint32Array; values: Float32Array };

/**
 * Checks that v is a SparseVector (typed arrays of equal length, indices strictly ascending, values
 * finite and > 0) and throws ERR_SPLADE_INVALID_ARGUMENT naming `name` and the offending position.
 */
export function checkSparseVector(name: string, v: unknown): SparseVector {
  checkSparseShape(name, v);
  const { indices, values } = v as SparseVector;
  for (let i = 0; i < indices.length; i++) {
    if (i > 0 && indices[i] <= indices[i - 1]) {
      invalidArgument(`${name}.indices[${i}]`, `an index above ${indices[i - 1]} (indices strictly ascending, no duplicates)`, indices[i]);
    }
    const x = values[i];
    if (!(x > 0) || !Number.isFinite(x)) invalidArgument(`${name}.values[${i}]`, 'a finite number > 0', x);
  }
  return v as SparseVector;
}

/** Only the types and lengths (O(1)): for hot paths whose contents are checked natively. */
export function checkSparseShape(name: string, v: unknown): asserts v is SparseVector {
  if (typeof v !== 'object' || v === null) invalidArgument(name, 'a SparseVector { indices, values }', v);
  const { indices, values } = v as Partial<SparseVector>;
  if (!(indices instanceof Uint32Array)) invalidArgument(`${name}.indices`, 'a Uint32Array', indices);
  if (!(values instanceof Float32Array)) invalidArgument(`${name}.values`, 'a Float32Array', values);
  if (indices.length !== values.length) {
    invalidArgument(`${name}.values`, `a Float32Array of length ${indices.length} (as indices)`, values);
  }
}

/** The term-by-term sum of vectors (an ensemble's vector), indices ascending. */
export function sumVectors(vs: SparseVector[]): SparseVector {
  const sum = new Map<number, number>();
  for (const v of vs) v.indices.forEach((t, j) => sum.set(t, (sum.get(t) ?? 0) + v.values[j]));
  const indices = Uint32Array.from([...sum.keys()].sort((a, b) => a - b));
  return { indices, values: Float32Array.from(indices, (t) => sum.get(t)!) };
}
