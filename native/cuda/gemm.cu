// The fp32 GEMM on the GPU (sgemm_cuda) and the fp32 -> bf16 conversion; see gemm.h. The fp32 kernel is
// the in-GPU reference: 16x16 output tiles, one output per thread, op(A) and op(B) staged through shared
// memory, fp32 FMA accumulation in k order.
#include "gemm.h"

#include <algorithm>

#include "cuda_check.h"
#include "device_math.cuh"

namespace splade {
namespace {

// kernels

constexpr int kTile = 16;

// One 16x16 tile of C per block; thread (x, y) owns C[m0 + y, n0 + x].
__global__ void sgemm_tiled_kernel(GemmArgs g) {
  __shared__ float As[kTile][kTile + 1], Bs[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const size_t m0 = size_t{blockIdx.y} * kTile, n0 = size_t{blockIdx.x} * kTile;
  float acc = 0.0f;
  for (size_t k0 = 0; k0 < g.K; k0 += kTile) {
    const size_t am = m0 + ty, ak = k0 + tx;  // As[ty][tx] = op(A)[am, ak]
    float a = 0.0f;
    if (am < g.M && ak < g.K) a = g.ta == Trans::no ? g.A[am * g.lda + ak] : g.A[ak * g.lda + am];
    As[ty][tx] = a;
    const size_t bk = k0 + ty, bn = n0 + tx;  // Bs[ty][tx] = op(B)[bk, bn]
    float b = 0.0f;
    if (bk < g.K && bn < g.N) b = g.tb == Trans::no ? g.B[bk * g.ldb + bn] : g.B[bn * g.ldb + bk];
    Bs[ty][tx] = b;
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc = fmaf(As[ty][k], Bs[k][tx], acc);
    __syncthreads();
  }
  const size_t m = m0 + ty, n = n0 + tx;
  if (m >= g.M || n >= g.N) return;
  float* c = g.C + m * g.ldc + n;
  float v = g.alpha * acc;
  if (g.beta != 0.0f) v += g.beta * *c;  // beta == 0: C is write-only, as in BLAS
  if (g.epilogue.bias) v += g.epilogue.bias[n];
  if (g.epilogue.residual) v += g.epilogue.residual[m * g.epilogue.ldr + n];
  if (g.epilogue.activation == Activation::gelu) v = cuda::gelu_exact_dev(v);
  *c = v;
}

__global__ void column_sums_kernel(float* db, const float* dout, size_t M, size_t N) {
  const size_t c = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= N) return;
  float acc = 0.0f;
  for (size_t r = 0; r < M; ++r) acc += dout[r * N + c];
  db[c] += acc;
}

__global__ void f32_to_bf16_kernel(__nv_bfloat16* out, const float* inp, size_t n) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x)
    out[i] = __float2bfloat16_rn(inp[i]);
}

}  // namespace

// launchers

void sgemm_cuda(const GemmArgs& g, cudaStream_t stream) {
  sgemm_validate(g);
  if (g.M == 0 || g.N == 0) return;
  SPLADE_CHECK(g.M <= size_t{65535} * kTile, "sgemm_cuda: M is too large for one launch");
  const dim3 grid(cuda::ceil_div(g.N, kTile), cuda::ceil_div(g.M, kTile)), block(kTile, kTile);
  sgemm_tiled_kernel<<<grid, block, 0, stream>>>(g);
  CUDA_CHECK_LAUNCH();
}

void bias_backward_cuda(float* db, const float* dout, size_t M, size_t N, cudaStream_t stream) {
  if (M == 0 || N == 0) return;
  column_sums_kernel<<<cuda::ceil_div(N, 128), 128, 0, stream>>>(db, dout, M, N);
  CUDA_CHECK_LAUNCH();
}

void f32_to_bf16_cuda(__nv_bfloat16* out, const float* inp, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = std::min<unsigned>(cuda::ceil_div(n, 256), 65535u);
  f32_to_bf16_kernel<<<blocks, 256, 0, stream>>>(out, inp, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
