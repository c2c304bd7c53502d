// How close two encodings of the same text are: the reduced-precision tests compare each mode with fp32.
import type { SparseVector } from '../../lib/index.js';

export function dense(v: SparseVector, V: number): Float64Array {
  const d = new Float64Array(V);
  v.indices.forEach((j, k) => (d[j] = v.values[k]));
  return d;
}

/** Cosine of the two vectors and their largest weight difference. */
export function agreement(a: SparseVector, b: SparseVector, V: number): { cosine: number; maxDiff: number } {
  const x = dense(a, V), y = dense(b, V);
  let xy = 0, xx = 0, yy = 0, maxDiff = 0;
  for (let j = 0; j < V; j++) (xy += x[j] * y[j]), (xx += x[j] * x[j]), (yy += y[j] * y[j]), (maxDiff = Math.max(maxDiff, Math.abs(x[j] - y[j])));
  return { cosine: xy / Math.sqrt(xx * yy), maxDiff };
}
