// The tensor-core block tile shared by gemm_bf16.cu and splade_pool_bf16.cu: a 128x128 tile of
// op(A) op(B) in bf16 with fp32 accumulation, op(A) (M,K) and op(B) (K,N) as in gemm.h. Each operand is
// stored either K-contiguous (A (M,K) when TA is false, B (N,K) when TB is true: every nn.Linear forward)
// or M/N-contiguous (A (K,M), B (K,N): the backward products).
// 256 threads = 8 warps as 2 (rows) x 4 (columns); each warp owns 64x32 of the tile as 4x2 WMMA 16x16x16
// accumulators. K advances 32 at a time through two shared-memory stages filled by cp.async (16 bytes
// per copy; chunks past the matrix end are zero-filled), so the next slice loads while this one
// multiplies. A K-contiguous operand sits in shared memory as 128 rows of 32 (+8 padding) k values, an
// M/N-contiguous one as 32 rows of 128 (+8) values; the padding spreads the fragment loads over the
// banks and every WMMA pointer stays 32-byte aligned (16 x 80 bytes, 16 x 272 bytes, 32-byte steps).
// Requirements (checked by the launchers): K % 8 == 0; each leading dimension % 8 == 0; M % 8 == 0 when
// A is M-contiguous, N % 8 == 0 when B is N-contiguous; A and B 16-byte aligned.
#pragma once
#include <cuda_bf16.h>
#include <mma.h>

#include <cstddef>
#include <type_traits>

namespace splade::cuda::tc {

constexpr int BM = 128, BN = 128, BK = 32, LDS = BK + 8, LDT = BM + 8, kThreads = 256;
static_assert(BM == BN, "one M/N-contiguous tile layout serves A and B");
constexpr int kTileElems = BM * LDS > BK * LDT ? BM * LDS : BK * LDT;  // one operand's slice: 5120 bf16
constexpr int kStageElems = 2 * kTileElems;                             // A then B
constexpr int kSmemBytes = 2 * kStageElems * static_cast<int>(sizeof(__nv_bfloat16));  // 40960
static_assert(kSmemBytes >= 8 * 256 * 4, "the epilogue reuses the stages as 8 warps x 16x16 floats");

// fragments as each storage puts them in shared memory: K-contiguous A is row-major (m, k), M-contiguous
// A col-major; K-contiguous B is col-major (k, n), N-contiguous B row-major
template <bool TA>
using FragA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16,
                                     std::conditional_t<TA, nvcuda::wmma::col_major, nvcuda::wmma::row_major>>;
template <bool TB>
using FragB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16,
                                     std::conditional_t<TB, nvcuda::wmma::col_major, nvcuda::wmma::row_major>>;
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

// columns [c0, c0 + 128) (c < c_end exist; c_end % 8 == 0) of X stored (K, ld ldx), rows [k0, k0 + 32)
// -> dst (32, LDT)
__device__ __forceinline__ void load_cols(__nv_bfloat16* dst, const __nv_bfloat16* X, size_t ldx, size_t c0,
                                          size_t c_end, size_t k0, size_t K) {
  for (int c = threadIdx.x; c < BK * (BM / 8); c += kThreads) {
    const int r = c / (BM / 8), cc = (c % (BM / 8)) * 8;
    const size_t gk = k0 + r, gc = c0 + cc;
    const bool ok = gk < K && gc < c_end;
    cp_async16(dst + r * LDT + cc, ok ? X + gk * ldx + gc : X, ok);
  }
}

// One operand's slice k0 .. k0 + 31 for the tile's rows (A) or columns (B) r0 .. r0 + 127 (< r_end).
template <bool KContiguous>
__device__ __forceinline__ void load_operand(__nv_bfloat16* dst, const __nv_bfloat16* X, size_t ldx, size_t r0,
                                             size_t r_end, size_t k0, size_t K) {
  if (KContiguous) load_rows(dst, X, ldx, r0, r_end, k0, K);
  else load_cols(dst, X, ldx, r0, r_end, k0, K);
}

// acc[i][j] (this warp's 16x16 block i, j) = op(A)[m0.., :] op(B)[:, n0..] over the whole K. smem holds
// kSmemBytes, 128-byte aligned. Ends with a __syncthreads(): smem is free for the caller afterwards.
template <bool TA, bool TB>
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
  load_operand<!TA>(smem, A, lda, m0, m_end, 0, K);
  load_operand<TB>(smem + kTileElems, B, ldb, n0, n_end, 0, K);
  cp_async_commit();
  for (size_t kt = 0; kt < nk; ++kt) {
    if (kt + 1 < nk) {  // the other stage was released by the __syncthreads() closing the last iteration
      __nv_bfloat16* next = smem + ((kt + 1) & 1) * kStageElems;
      load_operand<!TA>(next, A, lda, m0, m_end, (kt + 1) * BK, K);
      load_operand<TB>(next + kTileElems, B, ldb, n0, n_end, (kt + 1) * BK, K);
      cp_async_commit();
      cp_async_wait<1>();  // this iteration's stage has landed (for this thread's copies)
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // ... and for every thread's copies
    const __nv_bfloat16* sA = smem + (kt & 1) * kStageElems;
    const __nv_bfloat16* sB = sA + kTileElems;
    for (int kk = 0; kk < BK; kk += 16) {
      FragA<TA> a[4];
      FragB<TB> b[2];
      for (int i = 0; i < 4; ++i) {
        const int m = wm * 64 + i * 16;  // K-contiguous: row m, column kk; M-contiguous: row kk, column m
        nvcuda::wmma::load_matrix_sync(a[i], TA ? sA + kk * LDT + m : sA + m * LDS + kk, TA ? LDT : LDS);
      }
      for (int j = 0; j < 2; ++j) {
        const int n = wn * 32 + j * 16;
        nvcuda::wmma::load_matrix_sync(b[j], TB ? sB + n * LDS + kk : sB + kk * LDT + n, TB ? LDS : LDT);
      }
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
