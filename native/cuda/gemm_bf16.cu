// The tensor-core GEMM (gemm_bf16_cuda, see gemm.h): tc::mma_block computes a 128x128 tile (one kernel
// per pair of operand layouts), then each warp stages its 16x16 accumulators through shared memory (the
// pipeline stages, free by then) and applies the epilogue element by element: bias, residual, GELU in
// fp32, then the fp32 and/or bf16 stores.
#include "cuda_check.h"
#include "device_math.cuh"
#include "gemm.h"
#include "tc_tile.cuh"

namespace splade {
namespace {

// kernels

template <bool TA, bool TB>
__global__ void __launch_bounds__(cuda::tc::kThreads, 2) gemm_bf16_kernel(GemmBf16Args g) {
  using namespace cuda::tc;
  __shared__ __align__(128) unsigned char smem_raw[kSmemBytes];
  __nv_bfloat16* smem = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  const size_t m0 = size_t{blockIdx.y} * BM, n0 = size_t{blockIdx.x} * BN;
  FragC acc[4][2];
  mma_block<TA, TB>(acc, g.A, g.lda, m0, g.M, g.B, g.ldb, n0, g.N, g.K, smem);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wm = warp & 1, wn = warp >> 1;
  float* scratch = reinterpret_cast<float*>(smem_raw) + warp * 256;  // this warp's 16x16 floats
  const Epilogue& e = g.epilogue;
  for_each_block(acc, scratch, [&](int i, int j) {
    for (int q = lane; q < 256; q += 32) {
      const size_t m = m0 + wm * 64 + i * 16 + q / 16, n = n0 + wn * 32 + j * 16 + q % 16;
      if (m >= g.M || n >= g.N) continue;
      float v = scratch[q];
      if (e.bias) v += e.bias[n];
      if (e.residual) v += e.residual[m * e.ldr + n];
      if (e.activation == Activation::gelu) v = cuda::gelu_exact_dev(v);
      if (g.C) g.C[m * g.ldc + n] = v;
      if (g.Cb) g.Cb[m * g.ldc + n] = __float2bfloat16_rn(v);
    }
  });
}

}  // namespace

// launchers

void gemm_bf16_cuda(const GemmBf16Args& g, cudaStream_t stream) {
  using namespace cuda::tc;
  if (g.M == 0 || g.N == 0) return;
  SPLADE_CHECK(g.C != nullptr || g.Cb != nullptr, "gemm_bf16_cuda: no output");
  SPLADE_CHECK(g.ldc >= g.N, "gemm_bf16_cuda: ldc is smaller than N");
  SPLADE_CHECK(g.A != nullptr && g.B != nullptr, "gemm_bf16_cuda: A or B is null");
  const bool ta = g.ta == Trans::yes, tb = g.tb == Trans::yes;
  SPLADE_CHECK(g.lda >= (ta ? g.M : g.K) && g.ldb >= (tb ? g.K : g.N), "gemm_bf16_cuda: lda or ldb too small");
  SPLADE_CHECK(g.K % 8 == 0 && g.lda % 8 == 0 && g.ldb % 8 == 0, "gemm_bf16_cuda: K, lda, ldb must be multiples of 8");
  SPLADE_CHECK((!ta || g.M % 8 == 0) && (tb || g.N % 8 == 0),
               "gemm_bf16_cuda: M (A transposed) or N (B not transposed) must be a multiple of 8");
  SPLADE_CHECK(reinterpret_cast<uintptr_t>(g.A) % 16 == 0 && reinterpret_cast<uintptr_t>(g.B) % 16 == 0,
               "gemm_bf16_cuda: A and B must be 16-byte aligned");
  SPLADE_CHECK(!g.epilogue.residual || g.epilogue.ldr >= g.N, "gemm_bf16_cuda: ldr is smaller than N");
  SPLADE_CHECK(g.M <= size_t{65535} * BM, "gemm_bf16_cuda: M is too large for one launch");
  const dim3 grid(cuda::ceil_div(g.N, BN), cuda::ceil_div(g.M, BM));
  if (!ta && tb) gemm_bf16_kernel<false, true><<<grid, kThreads, 0, stream>>>(g);
  else if (!ta) gemm_bf16_kernel<false, false><<<grid, kThreads, 0, stream>>>(g);
  else if (tb) gemm_bf16_kernel<true, true><<<grid, kThreads, 0, stream>>>(g);
  else gemm_bf16_kernel<true, false><<<grid, kThreads, 0, stream>>>(g);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
