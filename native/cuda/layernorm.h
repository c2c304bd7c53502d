// LayerNorm on the GPU: layernorm.h (cpu/) with device pointers and a stream. Forward: one warp per row,
// fp32 two-pass statistics (mean, then the centred variance); out_bf16 (N,C), when given, also receives
// the output rounded to bf16 for the next tensor-core GEMM (out may then be null). Backward: one warp per
// row for dinp; dweight/dbias reduced per column in a fixed order (no atomics: deterministic).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace splade {

// out (N,C) or null; mean, rstd (N) or null; inp (N,C); weight, bias (C); out may alias inp
void layernorm_forward_cuda(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                            const float* bias, size_t N, size_t C, float eps, cudaStream_t stream,
                            __nv_bfloat16* out_bf16 = nullptr);
// accumulates (+=): dinp (N,C), dweight (C), dbias (C); dout (N,C); inp (N,C); mean, rstd (N)
void layernorm_backward_cuda(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                             const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                             cudaStream_t stream);

}  // namespace splade
