// SGEMM for AVX-512 (F, BW, DQ, VL: Skylake-SP and later, Zen4): a 12x32 micro-kernel with 24 zmm
// accumulators, two B vectors and the A value broadcast from memory (folded into the FMA as {1to16}),
// 27 of the 32 registers. Packing and the epilogue reuse the 256-bit helpers (gemm_ymm.h): they are a
// small share of the time. Every header is included before the target pragma (the simdjson pattern).
#include "../common/cpu_features.h"
#if defined(SPLADE_X86)  // x86-64 only: other architectures never choose the AVX-512 kernels

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "gemm_isa.h"

#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#include "gemm_driver.h"
#include "gemm_ymm.h"

namespace splade::avx512 {
namespace {

struct Kernel {
  static constexpr size_t MR = 12, NR = 32;
  // KC 768 (all of K for BERT's 768-wide products): C is read and written once instead of once per K
  // block, which matters most where C is big (the MLM head's 512 x 30522 C is 62 MB, far out of cache):
  // on Sapphire Rapids (48 KiB L1D, 2 MiB L2), quiet machine, one thread, interleaved runs of
  // bench/gemm/tune_avx512.cpp: 512 x 30522 x 768 went from 158-160 to 171-185 GFLOP/s against KC 384,
  // 128 x 30522 x 768 from 138 to 145-154, the other shapes equal or up to 5% faster (KC 192 was 5-15%
  // below KC 384). The B micro-panel (96 KiB) streams from L2, the A micro-panel (36 KiB) stays in L1,
  // the A block (MC x KC = 432 KiB) in L2. MC 72 / 240 and NC 384 / 1536 measured within noise.
#ifndef SPLADE_AVX512_KC  // overridable only for tuning builds (bench/gemm/tune_avx512.cpp)
#define SPLADE_AVX512_KC 768
#define SPLADE_AVX512_MC 144
#define SPLADE_AVX512_NC 768
#endif
  static constexpr size_t KC = SPLADE_AVX512_KC, MC = SPLADE_AVX512_MC, NC = SPLADE_AVX512_NC;
  static constexpr bool kRowKernels = true;
  // The B micro-panel (kc x 32 = 96 KiB) does not fit L1 and streams from L2 on every call: prefetching
  // it 16 k (two 64-byte lines a k) ahead took the kernel with its packed operands in L2 from 82 to 88%
  // of the FMA probe (bench/gemm/tune_avx512.cpp's in-situ pattern, one thread, Sapphire Rapids).
#ifndef SPLADE_AVX512_PF
#define SPLADE_AVX512_PF 512
#endif
  static constexpr size_t kPrefetchB = SPLADE_AVX512_PF;

  // c (R x 32, ld ldc) = alpha * a.b + beta * c; a is a packed (kc, 12) panel of which the first R rows
  // are used, b a packed (kc, 32) panel. R < 12 serves the last rows of C.
  // kNext: also fetch part of the next B micro-panel into L2: its row next_b, then one row (two lines)
  // every `every` k (a power of two), kc / every rows in all. The driver asks for it on a pre-packed B's
  // first `every` calls over a panel, each call its share of the rows: such a B comes from memory (the
  // 94 MB MLM head is never in cache), the 16-k prefetch above is too short to hide DRAM latency, and
  // the whole panel (96 KiB) fetched in one call floods the core's outstanding misses: spread over 8
  // calls, 128 x 30522 x 768 went from 70-75% to 83-90% of the FMA probe, 512 x 30522 x 768 from 75% to
  // 81-89% (one thread, Sapphire Rapids, /tmp lab harness, interleaved runs).
  template <size_t R, bool kNext = false>
  __attribute__((noinline)) static void kernel_r(size_t kc, const float* __restrict a, const float* __restrict b, float* c,
                                                 size_t ldc, float alpha, float beta, const float* next_b = nullptr,
                                                 size_t every = 1) {
    const size_t every_mask = every - 1;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
    // The tile's C lines (a 128-byte row spans up to 3), fetched for writing into L2 while the K loop
    // runs: where C is far out of cache (the MLM head's 16-62 MB) the stores otherwise wait on a read
    // for ownership each; +5% on both head shapes, the others unchanged (tune_avx512.cpp, packed B).
    for (size_t i = 0; i < R; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_ET1);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_ET1);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 31), _MM_HINT_ET1);
    }
#define SPLADE_ROW(i, r)                                 \
  if constexpr (R > r) {                                 \
    const __m512 av = _mm512_set1_ps(a[r]);              \
    c##i##0 = _mm512_fmadd_ps(av, b0, c##i##0);          \
    c##i##1 = _mm512_fmadd_ps(av, b1, c##i##1);          \
  }
#pragma GCC unroll 2
    for (size_t k = 0; k < kc; ++k) {
#ifndef SPLADE_AVX512_NO_PF
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchB), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetchB + 16), _MM_HINT_T0);
#endif
      if constexpr (kNext) {
        if ((k & every_mask) == 0) {
          _mm_prefetch(reinterpret_cast<const char*>(next_b), _MM_HINT_T1);
          _mm_prefetch(reinterpret_cast<const char*>(next_b + 16), _MM_HINT_T1);
          next_b += NR;
        }
      }
      const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
      SPLADE_ROW(0, 0) SPLADE_ROW(1, 1) SPLADE_ROW(2, 2) SPLADE_ROW(3, 3) SPLADE_ROW(4, 4) SPLADE_ROW(5, 5)
      SPLADE_ROW(6, 6) SPLADE_ROW(7, 7) SPLADE_ROW(8, 8) SPLADE_ROW(9, 9) SPLADE_ROW(a, 10) SPLADE_ROW(b, 11)
      a += MR;
      b += NR;
    }
#undef SPLADE_ROW
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const bool read_c = beta != 0.0f;
#define SPLADE_STORE(i, r)                                                                        \
  if constexpr (R > r) {                                                                          \
    float* ci = c + (r) * ldc;                                                                    \
    __m512 v0 = _mm512_mul_ps(va, c##i##0), v1 = _mm512_mul_ps(va, c##i##1);                      \
    if (read_c) {                                                                                 \
      v0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), v0);                                          \
      v1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), v1);                                     \
    }                                                                                             \
    _mm512_storeu_ps(ci, v0);                                                                     \
    _mm512_storeu_ps(ci + 16, v1);                                                                \
  }
    SPLADE_STORE(0, 0) SPLADE_STORE(1, 1) SPLADE_STORE(2, 2) SPLADE_STORE(3, 3) SPLADE_STORE(4, 4)
    SPLADE_STORE(5, 5) SPLADE_STORE(6, 6) SPLADE_STORE(7, 7) SPLADE_STORE(8, 8) SPLADE_STORE(9, 9)
    SPLADE_STORE(a, 10) SPLADE_STORE(b, 11)
#undef SPLADE_STORE
  }

  static void kernel(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, float beta) {
    kernel_r<12>(kc, a, b, c, ldc, alpha, beta);
  }
  static constexpr bool kPrefetchNextB = true;
  static void kernel_next(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, float beta,
                          const float* next_b, size_t every) {
    kernel_r<12, true>(kc, a, b, c, ldc, alpha, beta, next_b, every);
  }

  // The first `rows` (1..11) rows of a full-width tile.
  static void kernel_rows(size_t rows, size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha,
                          float beta) {
    switch (rows) {
      case 1: return kernel_r<1>(kc, a, b, c, ldc, alpha, beta);
      case 2: return kernel_r<2>(kc, a, b, c, ldc, alpha, beta);
      case 3: return kernel_r<3>(kc, a, b, c, ldc, alpha, beta);
      case 4: return kernel_r<4>(kc, a, b, c, ldc, alpha, beta);
      case 5: return kernel_r<5>(kc, a, b, c, ldc, alpha, beta);
      case 6: return kernel_r<6>(kc, a, b, c, ldc, alpha, beta);
      case 7: return kernel_r<7>(kc, a, b, c, ldc, alpha, beta);
      case 8: return kernel_r<8>(kc, a, b, c, ldc, alpha, beta);
      case 9: return kernel_r<9>(kc, a, b, c, ldc, alpha, beta);
      case 10: return kernel_r<10>(kc, a, b, c, ldc, alpha, beta);
      default: return kernel_r<11>(kc, a, b, c, ldc, alpha, beta);
    }
  }

  static void pack_a(const GemmArgs& g, size_t m, size_t mr, size_t k0, size_t kc, float* dst) {
    if (g.ta == Trans::yes || mr != MR) return gemm_driver::pack_a_plain<Kernel>(g, m, mr, k0, kc, dst);
    // A is (M, K): transpose rows 0-7 and 8-11 (padded with zeros), 8 k at a time.
    const float* src = g.A + m * g.lda + k0;
    size_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8], s[8];
      for (size_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * g.lda + k);
      for (size_t i = 0; i < 4; ++i) s[i] = _mm256_loadu_ps(src + (8 + i) * g.lda + k);
      for (size_t i = 4; i < 8; ++i) s[i] = _mm256_setzero_ps();
      ymm::transpose8(r);
      ymm::transpose8(s);
      for (size_t j = 0; j < 8; ++j) {
        _mm256_storeu_ps(dst + (k + j) * MR, r[j]);
        _mm_storeu_ps(dst + (k + j) * MR + 8, _mm256_castps256_ps128(s[j]));
      }
    }
    for (; k < kc; ++k)
      for (size_t i = 0; i < MR; ++i) dst[k * MR + i] = src[i * g.lda + k];
  }

  static void pack_b(const GemmArgs& g, size_t n0, size_t nc, size_t k0, size_t kc, float* dst) {
    for (size_t jr = 0; jr < nc; jr += NR) pack_b_panel(g, n0 + jr, std::min(NR, nc - jr), k0, kc, dst + jr * kc);
  }

  static void pack_b_panel(const GemmArgs& g, size_t n, size_t nr, size_t k0, size_t kc, float* dst) {
    if (g.tb == Trans::no || nr != NR) return gemm_driver::pack_b_plain<Kernel>(g, n, nr, k0, kc, dst);
    // B is (N, K): transpose four groups of 8 rows. 16 k at a time, so each of the 32 rows is read a
    // whole cache line at once, and the line 4 ahead is prefetched: packing all of a 30522 x 768 weight
    // went from 0.50-0.56 to 0.38-0.50 ns an element (it is 10% of the MLM head's time at 512 tokens,
    // 30-40% at 128).
    const float* src = g.B + n * g.ldb + k0;
    size_t k = 0;
    for (; k + 16 <= kc; k += 16) {
      for (size_t h = 0; h < 4; ++h) {
        __m256 r[8], s[8];
        for (size_t j = 0; j < 8; ++j) {
          const float* row = src + (h * 8 + j) * g.ldb + k;
          _mm_prefetch(reinterpret_cast<const char*>(row + 64), _MM_HINT_T0);
          r[j] = _mm256_loadu_ps(row);
          s[j] = _mm256_loadu_ps(row + 8);
        }
        ymm::transpose8(r);
        ymm::transpose8(s);
        for (size_t j = 0; j < 8; ++j) {
          _mm256_storeu_ps(dst + (k + j) * NR + h * 8, r[j]);
          _mm256_storeu_ps(dst + (k + 8 + j) * NR + h * 8, s[j]);
        }
      }
    }
    for (; k + 8 <= kc; k += 8) {
      for (size_t h = 0; h < 4; ++h) {
        __m256 r[8];
        for (size_t j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (h * 8 + j) * g.ldb + k);
        ymm::transpose8(r);
        for (size_t j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (k + j) * NR + h * 8, r[j]);
      }
    }
    for (; k < kc; ++k)
      for (size_t j = 0; j < NR; ++j) dst[k * NR + j] = src[j * g.ldb + k];
  }

  static void epilogue(float* c, size_t ldc, size_t rows, size_t cols, const float* bias, const float* res,
                       size_t ldr, Activation act) {
    ymm::epilogue(c, ldc, rows, cols, bias, res, ldr, act);
  }
};

}  // namespace

void sgemm(const GemmArgs& g) { gemm_driver::Driver<Kernel>::run(g); }
size_t packed_b_floats(size_t K, size_t N) { return gemm_driver::Driver<Kernel>::packed_b_floats(K, N); }
void pack_b(const GemmArgs& g, float* dst) { gemm_driver::Driver<Kernel>::pack_b_all(g, dst); }

// Register-only FMA loop: 16 independent zmm chains (2 FMA pipes x 4-cycle latency, with room).
double fma_probe(size_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  }
  __m512 s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  return static_cast<double>(iters) * 16 * 16 * 2 + (out[0] == 12345.0f ? 1 : 0);  // flops; the test keeps s live
}

}  // namespace splade::avx512

#include "target_region_pop.h"

#endif  // SPLADE_X86
