// splade: learned sparse retrieval. The pipeline, in the order a user meets it:
// load -> encode -> index -> search -> train -> mine -> evaluate.
export { SpladeError, ErrorCode } from './errors.js';
export { info, setCpu, setThreads, type NativeInfo, type CpuKind } from './info.js';
export type { SparseVector } from './sparse.js';
export {
  SpladeModel,
  type EncodeOptions,
  type EncodeKind,
  type LoadOptions,
  type Pooling,
} from './model/splade-model.js';
