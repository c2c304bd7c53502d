// splade: learned sparse retrieval. The pipeline, in the order a user meets it:
// load -> encode -> index -> search -> train -> mine -> evaluate.
export { SpladeError, ErrorCode } from './errors.js';
export { info, setCpu, setThreads, type NativeInfo, type CpuKind } from './info.js';
export { sgemm, sgemmAsync, fmaPeak, type SgemmOptions } from './kernels.js';
