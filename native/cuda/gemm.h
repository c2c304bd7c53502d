// GEMM on the GPU, with the CPU GEMM's fused epilogues (bias, residual, exact-erf GELU; gemm.h in cpu/).
// Every pointer is device memory; every launcher is asynchronous on `stream`.
//   sgemm_cuda       the in-GPU fp32 reference: GemmArgs exactly as the CPU sgemm takes them (all four
//                    transposes, alpha, beta, leading dimensions, epilogue); plain shared-memory tiles.
//   gemm_bf16_cuda   the fast path on tensor cores: bf16 inputs, fp32 accumulation (WMMA 16x16x16),
//                    128x128x32 block tiles double-buffered in shared memory by cp.async (tc_tile.cuh).
//                    C = op(A) op(B) with the transposes of GemmArgs; the default NT is every nn.Linear
//                    forward (C = A W^T), NN and TN its input and weight gradients. K and the leading
//                    dimensions multiples of 8, M too when ta == yes, N when tb == no; A, B 16-byte
//                    aligned (checked: SpladeError). Writes C in fp32, or in bf16, or both.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "../cpu/gemm.h"

namespace splade {

void sgemm_cuda(const GemmArgs& args, cudaStream_t stream);

struct GemmBf16Args {
  Trans ta = Trans::no, tb = Trans::yes;
  size_t M = 0, N = 0, K = 0;
  const __nv_bfloat16* A = nullptr;  // (M, lda >= K), or (K, lda >= M) when ta == yes
  size_t lda = 0;
  const __nv_bfloat16* B = nullptr;  // (N, ldb >= K) when tb == yes (a weight as nn.Linear stores it), or (K, ldb >= N)
  size_t ldb = 0;
  float* C = nullptr;                // (M, ldc) fp32 or null
  __nv_bfloat16* Cb = nullptr;       // (M, ldc) bf16 or null (at least one of C, Cb)
  size_t ldc = 0;
  Epilogue epilogue;                 // bias (N) / residual (M, ldr) fp32, applied before the bf16 rounding
};
// C = epilogue(op(A) op(B))
void gemm_bf16_cuda(const GemmBf16Args& args, cudaStream_t stream);

// db (N) += column sums of dout (M, N, ld N), rows in order (deterministic): a Linear's bias gradient
void bias_backward_cuda(float* db, const float* dout, size_t M, size_t N, cudaStream_t stream);

// out (n) = round-to-nearest-even bf16 of inp (n)
void f32_to_bf16_cuda(__nv_bfloat16* out, const float* inp, size_t n, cudaStream_t stream);

}  // namespace splade
