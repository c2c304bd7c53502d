/**
 * DESIGN.md's SparseVector: indices ascending, values > 0. Declared here structurally so the BM25
 * code does not depend on the encoder's module; any { indices, values } of these types fits.
 */
export type SparseVector = { indices: Uint32Array; values: Float32Array };
