// The tensor-core block tile shared by gemm_bf16.cu and splade_pool.cu: a 128x128 tile of A B^T with
// A (rows m0.., K-contiguous) and B (rows n0.., K-contiguous) in bf16, fp32 accumulation.
// 256 threads = 8 warps as 2 (rows) x 4 (columns); each warp owns 64x32 of the tile as 4x2 WMMA 16x16x16
// accumulators. K advances 32 at a time through two shared-memory stages filled by cp.async (16 bytes
// per copy; rows past the matrix end are zero-filled), so the next slice loads while this one multiplies.
// Shared rows are padded by 8 bf16 (80 bytes) to spread ldmatrix accesses over the banks; every WMMA
// pointer stays 32-byte aligned (16 rows x 80 bytes, +32 bytes for the second k half).
// Requirements (checked by the launchers): K % 8 == 0, lda % 8 == 0, ldb % 8 == 0, A and B 16-byte aligned.
#pragma once
#include <cuda_bf16.h>
#include <mma.h>

#include <cstddef>

namespace splade::cuda::tc {

constexpr int BM = 128, BN = 128, BK = 32, LDS = BK + 8, kThreads = 256;
constexpr int kStageElems = (BM + BN) * LDS;                                // bf16 per stage
constexpr int kSmemBytes = 2 * kStageElems * static_cast<int>(sizeof(__nv_bfloat16));  // 40960
static_assert(kSmemBytes >= 8 * 256 * 4, "the epilogue reuses the stages as 8 warps x 16x16 floats");

using FragA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major>;
using FragB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::col_major>;
using FragC = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float>;

// 16 bytes global -> shared, asynchronous; pred false: the 16 bytes are zero-filled and src is not read.
__device__ __forceinline__ void cp_async16(void* smem, const void* src, bool pred) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = pred ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// rows [r0, r0 + 128) of X (ld ldx, rows < r_end exist) at columns [k0, k0 + 32) -> dst (128, LDS)
__device__ __forceinline__ void load_rows(__nv_bfloat16* dst, const __nv_bfloat16* X, size_t ldx, size_t r0,
                                          size_t r_end, size_t k0, size_t K) {
  for (int c = threadIdx.x; c < BM * (BK / 8); c += kThreads) {
    const int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
    const size_t gr = r0 + r, gk = k0 + kc;
    const bool ok = gr < r_end && gk < K;  // K % 8 == 0: a chunk is wholly inside or wholly outside
    cp_async16(dst + r * LDS + kc, ok ? X + gr * ldx + gk : X, ok);
  }
}

// acc[i][j] (this warp's 16x16 block i, j) = A[m0.., :] B[n0.., :]^T over the whole K. smem holds
// kSmemBytes, 128-byte aligned. Ends with a __syncthreads(): smem is free for the caller afterwards.
__device__ __forceinline__ void mma_block(FragC (&acc)[4][2], const __nv_bfloat16* A, size_t lda, size_t m0,
                                          size_t m_end, const __nv_bfloat16* B, size_t ldb, size_t n0, size_t n_end,
                                          size_t K, __nv_bfloat16* smem) {
  const int warp = threadIdx.x / 32, wm = warp & 1, wn = warp >> 1;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.0f);
  const size_t nk = (K + BK - 1) / BK;
  if (nk == 0) {
    __syncthreads();
    return;
  }
  load_rows(smem, A, lda, m0, m_end, 0, K);
  load_rows(smem + BM * LDS, B, ldb, n0, n_end, 0, K);
  cp_async_commit();
  for (size_t kt = 0; kt < nk; ++kt) {
    if (kt + 1 < nk) {  // the other stage was released by the __syncthreads() closing the last iteration
      __nv_bfloat16* next = smem + ((kt + 1) & 1) * kStageElems;
      load_rows(next, A, lda, m0, m_end, (kt + 1) * BK, K);
      load_rows(next + BM * LDS, B, ldb, n0, n_end, (kt + 1) * BK, K);
      cp_async_commit();
      cp_async_wait<1>();  // this iteration's stage has landed (for this thread's copies)
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // ... and for every thread's copies
    const __nv_bfloat16* sA = smem + (kt & 1) * kStageElems;
    const __nv_bfloat16* sB = sA + BM * LDS;
    for (int kk = 0; kk < BK; kk += 16) {
      FragA a[4];
      FragB b[2];
      for (int i = 0; i < 4; ++i) nvcuda::wmma::load_matrix_sync(a[i], sA + (wm * 64 + i * 16) * LDS + kk, LDS);
      for (int j = 0; j < 2; ++j) nvcuda::wmma::load_matrix_sync(b[j], sB + (wn * 32 + j * 16) * LDS + kk, LDS);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 2; ++j) nvcuda::wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // everyone is done with this stage before it is refilled
  }
}

// Stages each of this warp's accumulator blocks in scratch (16x16 floats, row-major; 32-byte aligned,
// private to the warp) and calls f(i, j) on it, blocks in order.
template <class F>
__device__ __forceinline__ void for_each_block(FragC (&acc)[4][2], float* scratch, F&& f) {
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      nvcuda::wmma::store_matrix_sync(scratch, acc[i][j], 16, nvcuda::wmma::mem_row_major);
      __syncwarp();
      f(i, j);
      __syncwarp();  // the next store overwrites scratch
    }
  }
}

}  // namespace splade::cuda::tc
