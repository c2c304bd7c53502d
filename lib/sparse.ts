export type SparseVector = { indices: Uint32Array; values: Float32Array };
