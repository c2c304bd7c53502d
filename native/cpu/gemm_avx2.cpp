// SGEMM for AVX2 + FMA (Haswell and later, Zen): a 6x16 micro-kernel (12 ymm accumulators, two B
// vectors, one broadcast A value: 15 of the 16 registers), AVX transposes to pack the transposed
// operands, and a vectorised bias/residual/GELU epilogue. The blocking loops are gemm_driver.h.
// Every header is included before the target pragma (the simdjson pattern), so std code is never
// compiled with AVX2 and cannot leak into the generic path through the linker.
#include "../common/cpu_features.h"
#if defined(SPLADE_X86)  // x86-64 only: other architectures never choose the AVX2 kernels

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "gemm_isa.h"

#include "avx2_region_push.h"

#include "gemm_driver.h"
#include "gemm_ymm.h"

namespace splade::avx2 {
namespace {

struct Kernel {
  static constexpr size_t MR = 6, NR = 16;
  // Zen3 (L1D 32 KiB, L2 512 KiB per core, L3 32 MiB), as measured on one core rather than as the
  // textbook fit: KC = 768 (all of K for BERT's 768-wide products; a 48 KiB B micro-panel that streams
  // from L2) beat KC = 256 (a 16 KiB micro-panel in L1) by 1-3% on every BERT shape, from fewer passes
  // over C and less per-block overhead; MC = 72 keeps the A block (216 KiB) in L2 (MC = 120 was even);
  // NC = 768 (a 2.3 MiB B block) beat NC = 3072 by 20-25% at 128 x 30522 x 768.
  static constexpr size_t KC = 768, MC = 72, NC = 768;
  static constexpr bool kPrefetchNextB = false;  // no kernel_next
  static constexpr bool kRowKernels = true;

  // c (R x 16, ld ldc) = alpha * a.b + beta * c; a is a packed (kc, 6) panel of which the first R rows
  // are used, b a packed (kc, 16) panel. R < 6 serves the last rows of C (M = 128 is 21 x 6 + 2), so
  // they cost R/6 of a tile rather than a whole one. Out of line: one call per tile costs nothing.
  template <size_t R>
  __attribute__((noinline)) static void kernel_r(size_t kc, const float* __restrict a, const float* __restrict b, float* c,
                                                 size_t ldc, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#define SPLADE_ROW(i)                                    \
  if constexpr (R > i) {                                 \
    const __m256 av = _mm256_broadcast_ss(a + i);        \
    c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);          \
    c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);          \
  }
#pragma GCC unroll 8  // measured 1.5-2% faster than 4 (e.g. 512 x 3072 x 768: 88.1 against 86.2), 16 no better
    for (size_t k = 0; k < kc; ++k) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
      SPLADE_ROW(0) SPLADE_ROW(1) SPLADE_ROW(2) SPLADE_ROW(3) SPLADE_ROW(4) SPLADE_ROW(5)
      a += 6;
      b += 16;
    }
#undef SPLADE_ROW
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const bool read_c = beta != 0.0f;
#define SPLADE_STORE(i)                                                                           \
  if constexpr (R > i) {                                                                          \
    float* ci = c + i * ldc;                                                                      \
    __m256 v0 = _mm256_mul_ps(va, c##i##0), v1 = _mm256_mul_ps(va, c##i##1);                      \
    if (read_c) {                                                                                 \
      v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), v0);                                          \
      v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), v1);                                      \
    }                                                                                             \
    _mm256_storeu_ps(ci, v0);                                                                     \
    _mm256_storeu_ps(ci + 8, v1);                                                                 \
  }
    SPLADE_STORE(0) SPLADE_STORE(1) SPLADE_STORE(2) SPLADE_STORE(3) SPLADE_STORE(4) SPLADE_STORE(5)
#undef SPLADE_STORE
  }

  static void kernel(size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha, float beta) {
    kernel_r<6>(kc, a, b, c, ldc, alpha, beta);
  }

  // The first `rows` (1..5) rows of a full-width tile.
  static void kernel_rows(size_t rows, size_t kc, const float* a, const float* b, float* c, size_t ldc, float alpha,
                          float beta) {
    switch (rows) {
      case 1: return kernel_r<1>(kc, a, b, c, ldc, alpha, beta);
      case 2: return kernel_r<2>(kc, a, b, c, ldc, alpha, beta);
      case 3: return kernel_r<3>(kc, a, b, c, ldc, alpha, beta);
      case 4: return kernel_r<4>(kc, a, b, c, ldc, alpha, beta);
      default: return kernel_r<5>(kc, a, b, c, ldc, alpha, beta);
    }
  }

  // The packers stay out of line too (called once per panel or block): profiles then show the packing
  // cost apart from the kernel's, which is what the blocking was tuned on.
  __attribute__((noinline)) static void pack_a(const GemmArgs& g, size_t m, size_t mr, size_t k0, size_t kc, float* dst) {
    if (g.ta == Trans::yes || mr != MR) return gemm_driver::pack_a_plain<Kernel>(g, m, mr, k0, kc, dst);
    // A is (M, K): transpose 6 rows, 8 k at a time. Each (k, 0..7) store is 8 floats wide but the
    // panel row is 6, so the 2 extra lanes are overwritten by the next store (or land in the scratch
    // slack after the last panel).
    const float* src = g.A + m * g.lda + k0;
    size_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8];
      for (size_t i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(src + i * g.lda + k);
      r[6] = r[7] = _mm256_setzero_ps();
      ymm::transpose8(r);
      for (size_t j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (k + j) * MR, r[j]);
    }
    for (; k < kc; ++k)
      for (size_t i = 0; i < MR; ++i) dst[k * MR + i] = src[i * g.lda + k];
  }

  // The B block (kc x nc from k0, n0) as nc/16 panels of (kc, 16).
  __attribute__((noinline)) static void pack_b(const GemmArgs& g, size_t n0, size_t nc, size_t k0, size_t kc, float* dst) {
    const size_t full = nc / NR * NR;
    if (g.tb == Trans::no) {
      // B is (K, N): copy 8 rows at a time across all panels, so the reads are 8 sequential streams
      // (panel by panel, each k would touch a new page: ldb is often a multiple of 4 KiB).
      for (size_t k = 0; k < kc; k += 8) {
        const size_t kn = std::min<size_t>(8, kc - k);
        const float* src = g.B + (k0 + k) * g.ldb + n0;
        for (size_t jr = 0; jr < full; jr += NR) {
          float* d = dst + jr * kc + k * NR;
          for (size_t q = 0; q < kn; ++q) {
            _mm256_storeu_ps(d + q * NR, _mm256_loadu_ps(src + q * g.ldb + jr));
            _mm256_storeu_ps(d + q * NR + 8, _mm256_loadu_ps(src + q * g.ldb + jr + 8));
          }
        }
      }
    } else {
      // B is (N, K): per panel, transpose two groups of 8 rows, 8 k at a time.
      for (size_t jr = 0; jr < full; jr += NR) {
        const float* src = g.B + (n0 + jr) * g.ldb + k0;
        float* d = dst + jr * kc;
        size_t k = 0;
        for (; k + 8 <= kc; k += 8) {
          for (size_t h = 0; h < 2; ++h) {
            __m256 r[8];
            for (size_t j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(src + (h * 8 + j) * g.ldb + k);
            ymm::transpose8(r);
            for (size_t j = 0; j < 8; ++j) _mm256_storeu_ps(d + (k + j) * NR + h * 8, r[j]);
          }
        }
        for (; k < kc; ++k)
          for (size_t j = 0; j < NR; ++j) d[k * NR + j] = src[j * g.ldb + k];
      }
    }
    if (full < nc) gemm_driver::pack_b_plain<Kernel>(g, n0 + full, nc - full, k0, kc, dst + full * kc);
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

// Register-only FMA loop: 12 independent chains cover Zen3's 2 FMA pipes x 4-cycle latency (and more).
double fma_probe(size_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  }
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return static_cast<double>(iters) * 12 * 8 * 2 + (out[0] == 12345.0f ? 1 : 0);  // flops; the test keeps s live
}

}  // namespace splade::avx2

#include "target_region_pop.h"

#endif  // SPLADE_X86
