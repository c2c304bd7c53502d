// splade: learned sparse retrieval. The pipeline, in the order a user meets it:
// load -> encode -> index -> search -> train -> mine -> evaluate.
export { SpladeError, ErrorCode } from './errors.js';
export { info, setCpu, setThreads, type NativeInfo, type CpuKind } from './info.js';
export { InvertedIndex } from './search/inverted-index.js';
export type { BuildOptions, SearchAlgorithm, SearchOptions, SearchBatchOptions, SearchResult } from './search/inverted-index.js';
export type { SparseVector } from './sparse.js';
export { checkSparseVector } from './sparse.js';
