// The bf16 GEMM on AVX512_BF16 without AMX (gemm_bf16.h): vdpbf16ps multiplies 2 bf16 pairs and adds
// them into an fp32 lane, 32 multiply-adds an instruction (twice an fp32 FMA's). It reads the AMX
// packing as it is: row p of a 16-column x 32-k tile is 16 columns x one k pair, one zmm, which is
// vdpbf16ps's B operand; A is rounded to bf16 rows and one pair per row is broadcast, in the register
// block of zmm_dot_tile.h (6 rows x 64 columns, 24 accumulators).
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../common/thread_pool.h"
#include "gelu.h"
#include "gemm_bf16.h"

#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")
#endif

#include "zmm_dot_tile.h"

namespace splade::bf16dp {
namespace {

constexpr size_t kTaskRows = 48, kTaskPanels = 8;

struct Dpbf16 {  // a functor, not a lambda: a lambda would not get the region's target
  __attribute__((always_inline)) __m512i operator()(__m512i c, __m512i a, __m512i b) const {
    return _mm512_castps_si512(_mm512_dpbf16_ps(_mm512_castsi512_ps(c), (__m512bh)a, (__m512bh)b));
  }
};

void block(float* acc, const uint16_t* A, size_t Kp, size_t rows, const uint16_t* W, size_t panels) {
  // a group is one k pair (4 bytes of a bf16 row), a panel's group 16 columns x one pair
  zmm_dot::block(acc, reinterpret_cast<const uint8_t*>(A), Kp * 2, rows, reinterpret_cast<const uint8_t*>(W), panels,
                 Dpbf16{});
}

// A (M,K) fp32 -> (M,Kp) bf16 rows, zero-padded (vcvtne2ps2bf16: round to nearest even, as bf16_round)
void round_rows(uint16_t* out, const float* A, size_t lda, size_t m0, size_t m1, size_t K, size_t Kp) {
  for (size_t m = m0; m < m1; ++m) {
    const float* a = A + m * lda;
    uint16_t* o = out + m * Kp;
    size_t k = 0;
    for (; k + 32 <= K; k += 32)
      _mm512_storeu_si512(o + k, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(a + k)));
    for (; k < K; ++k) o[k] = bf16_round(a[k]);
    std::fill(o + K, o + Kp, uint16_t{0});
  }
}

}  // namespace

void gemm(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep) {
  const size_t Kp = W.Kp, panels = W.Np / 16;
  thread_local std::vector<uint16_t> a16;
  if (a16.size() < M * Kp) a16.resize(M * Kp);
  uint16_t* a = a16.data();
  parallel_range(M, [&](size_t m0, size_t m1, int) { round_rows(a, A, lda, m0, m1, W.K, Kp); });
  const size_t mt = (M + kTaskRows - 1) / kTaskRows, nt = (panels + kTaskPanels - 1) / kTaskPanels;
  parallel_for(mt * nt, [&](size_t task, int) {
    thread_local std::vector<float> acc(kTaskRows * kTaskPanels * 16);
    const size_t m0 = (task % mt) * kTaskRows, p0 = (task / mt) * kTaskPanels;  // column-chunk major
    const size_t rows = std::min(kTaskRows, M - m0), np = std::min(kTaskPanels, panels - p0);
    block(acc.data(), a + m0 * Kp, Kp, rows, W.data.data() + p0 * Kp * 16, np);
    const size_t n0 = p0 * 16, cols = std::min(np * 16, W.N - n0);
    for (size_t r = 0; r < rows; ++r) {
      const size_t m = m0 + r;
      float* c = C + m * ldc + n0;
      const float* x = acc.data() + r * np * 16;
      for (size_t j = 0; j < cols; ++j) {
        float v = x[j];
        if (ep.bias) v += ep.bias[n0 + j];
        if (ep.residual) v += ep.residual[m * ep.ldr + n0 + j];
        c[j] = v;
      }
      if (ep.activation == Activation::gelu) avx2::gelu_forward_range(c, c, cols);
    }
  });
}

}  // namespace splade::bf16dp

#include "target_region_pop.h"
#endif
