// Masked-LM head on the GPU (see mlm_head.h). Per block of R labelled rows: tm (R,C) <- t's rows;
// logits (R,V) = tm E^T + bias; per row (one thread block): max, sum of exp in double, lse, the row's
// loss lse - x[y], then x <- exp(x - lse) / M and x[y] -= 1 / M (the CPU fast path's order); dbias +=
// column sums; dtm (R,C) = dlogits E, added to dt's rows; dE += dlogits^T tm.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cuda_check.h"
#include "device_math.cuh"
#include "gemm.h"
#include "mlm_head.h"

namespace splade {
namespace {

// kernels

constexpr int kThreads = 256;
constexpr size_t kRowBlock = 1024;  // labelled rows per block: 1024 x V logits (125 MB at V = 30522)

// out (R,C) = t[rows[r]] (C each)
__global__ void gather_rows_kernel(float* out, const float* t, const int32_t* rows, size_t R, size_t C) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < R * C; i += size_t{gridDim.x} * blockDim.x)
    out[i] = t[size_t(rows[i / C]) * C + i % C];
}

// dt[rows[r]] += d (R,C); the rows are distinct, so no two threads write one element
__global__ void scatter_add_rows_kernel(float* dt, const float* d, const int32_t* rows, size_t R, size_t C) {
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < R * C; i += size_t{gridDim.x} * blockDim.x)
    dt[size_t(rows[i / C]) * C + i % C] += d[i];
}

// block-wide reductions in a fixed tree (deterministic); every thread gets the result
template <class T, class Op>
__device__ T block_reduce(T v, T* sh, Op op) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) sh[threadIdx.x] = op(sh[threadIdx.x], sh[threadIdx.x + w]);
    __syncthreads();
  }
  const T r = sh[0];
  __syncthreads();  // sh is reused by the next reduction
  return r;
}

// one block per row r of x (R,V): row_loss[r] = lse - x[y], then x = softmax(x) / M - onehot(y) / M
__global__ void __launch_bounds__(kThreads) softmax_xent_kernel(float* x, double* row_loss, const int32_t* labels,
                                                                size_t V, float inv_m) {
  __shared__ float shf[kThreads];
  __shared__ double shd[kThreads];
  float* row = x + size_t{blockIdx.x} * V;
  const int32_t y = labels[blockIdx.x];
  float mx = -INFINITY;
  for (size_t j = threadIdx.x; j < V; j += kThreads) mx = fmaxf(mx, row[j]);
  mx = block_reduce(mx, shf, [](float a, float b) { return fmaxf(a, b); });
  double sum = 0.0;
  for (size_t j = threadIdx.x; j < V; j += kThreads) sum += exp(static_cast<double>(row[j] - mx));
  sum = block_reduce(sum, shd, [](double a, double b) { return a + b; });
  const double lse = mx + log(sum);
  if (threadIdx.x == 0) row_loss[blockIdx.x] = lse - row[y];
  __syncthreads();  // row[y] read before the row is overwritten
  const float l = static_cast<float>(lse);
  for (size_t j = threadIdx.x; j < V; j += kThreads) row[j] = expf(row[j] - l) * inv_m;
  __syncthreads();
  if (threadIdx.x == 0) row[y] -= inv_m;
}

unsigned grid_for(size_t n) { return std::min<unsigned>(cuda::ceil_div(n, kThreads), 65535u); }

// C (M,N) (+)= op(A) op(B) with an optional bias (N)
void gemm(cudaStream_t st, Trans ta, Trans tb, size_t M, size_t N, size_t K, const float* A, size_t lda, const float* B,
          size_t ldb, float beta, float* C, size_t ldc, const float* bias = nullptr) {
  GemmArgs g;
  g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.A = A; g.lda = lda; g.B = B; g.ldb = ldb;
  g.beta = beta; g.C = C; g.ldc = ldc; g.epilogue.bias = bias;
  sgemm_cuda(g, st);
}

// device memory from the stream's pool (cudaMallocAsync), given back on the stream when it goes
class AsyncBuffer {
 public:
  AsyncBuffer(size_t bytes, cudaStream_t st) : st_(st) { CUDA_CHECK(cudaMallocAsync(&p_, bytes ? bytes : 1, st)); }
  AsyncBuffer(const AsyncBuffer&) = delete;
  AsyncBuffer& operator=(const AsyncBuffer&) = delete;
  ~AsyncBuffer() { cudaFreeAsync(p_, st_); }
  template <class T> T* get() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
  cudaStream_t st_;
};

}  // namespace

// launchers

double mlm_head_forward_backward_cuda(float* dt, float* dE, float* dbias, const float* t, const float* E,
                                      const float* bias, const int32_t* rows, const int32_t* row_labels, size_t M,
                                      size_t N, size_t C, size_t V, cudaStream_t st) {
  if (M == 0) return 0.0;
  SPLADE_CHECK(dt && dE && dbias && t && E && bias && rows && row_labels && C > 0 && V > 0,
               "mlm_head_forward_backward_cuda: bad arguments");
  for (size_t r = 0; r < M; ++r)
    SPLADE_CHECK(rows[r] >= 0 && size_t(rows[r]) < N && row_labels[r] >= 0 && size_t(row_labels[r]) < V,
                 "mlm_head_forward_backward_cuda: a row or label out of range");
  const size_t R = std::min(M, kRowBlock);
  const AsyncBuffer b_rows(M * 4, st), b_labels(M * 4, st), b_tm(R * C * 4, st), b_dtm(R * C * 4, st),
      b_logits(R * V * 4, st), b_loss(R * sizeof(double), st);
  int32_t *d_rows = b_rows.get<int32_t>(), *d_labels = b_labels.get<int32_t>();
  float *tm = b_tm.get<float>(), *dtm = b_dtm.get<float>(), *logits = b_logits.get<float>();
  double* d_loss = b_loss.get<double>();
  std::vector<double> row_loss(R);
  double loss = 0.0;
  CUDA_CHECK(cudaMemcpyAsync(d_rows, rows, M * 4, cudaMemcpyHostToDevice, st));
  CUDA_CHECK(cudaMemcpyAsync(d_labels, row_labels, M * 4, cudaMemcpyHostToDevice, st));
  const float inv_m = 1.0f / static_cast<float>(M);
  for (size_t r0 = 0; r0 < M; r0 += R) {
    const size_t rn = std::min(R, M - r0);
    gather_rows_kernel<<<grid_for(rn * C), kThreads, 0, st>>>(tm, t, d_rows + r0, rn, C);
    CUDA_CHECK_LAUNCH();
    gemm(st, Trans::no, Trans::yes, rn, V, C, tm, C, E, C, 0.0f, logits, V, bias);  // logits = tm E^T + bias
    softmax_xent_kernel<<<static_cast<unsigned>(rn), kThreads, 0, st>>>(logits, d_loss, d_labels + r0, V, inv_m);
    CUDA_CHECK_LAUNCH();
    bias_backward_cuda(dbias, logits, rn, V, st);
    gemm(st, Trans::no, Trans::no, rn, C, V, logits, V, E, C, 0.0f, dtm, C);      // dtm = dlogits E
    scatter_add_rows_kernel<<<grid_for(rn * C), kThreads, 0, st>>>(dt, dtm, d_rows + r0, rn, C);
    CUDA_CHECK_LAUNCH();
    gemm(st, Trans::yes, Trans::no, V, C, rn, logits, V, tm, C, 1.0f, dE, C);     // dE += dlogits^T tm
    CUDA_CHECK(cudaMemcpyAsync(row_loss.data(), d_loss, rn * sizeof(double), cudaMemcpyDeviceToHost, st));
    CUDA_CHECK(cudaStreamSynchronize(st));  // the rows' losses
    for (size_t r = 0; r < rn; ++r) loss += row_loss[r];
  }
  return loss / static_cast<double>(M);
}

}  // namespace splade
