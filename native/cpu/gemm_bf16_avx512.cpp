// The bf16 GEMM on AVX512_BF16 without AMX (gemm_bf16.h): vdpbf16ps multiplies 2 bf16 pairs and adds
// them into an fp32 lane, 32 multiply-adds an instruction (twice an fp32 FMA's). It reads the AMX
// packing as it is: row p of a 16-column x 32-k tile is 16 columns x one k pair, one zmm, which is
// vdpbf16ps's B operand; A is rounded to bf16 rows and one pair per row is broadcast. A register block
// of 6 rows x 4 panels (64 columns) holds 24 accumulators.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../common/thread_pool.h"
#include "gelu.h"
#include "gemm_bf16.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")

#include "row_blocks.h"

namespace splade::bf16dp {
namespace {

constexpr size_t kTaskRows = 48, kTaskPanels = 8;

template <int MR, int NP>
inline void tile(float* acc, size_t ld, const uint16_t* A, size_t Kp, const uint16_t* W, size_t panel_elems) {
  __m512 c[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) c[i][j] = _mm512_setzero_ps();
  for (size_t k = 0; k < Kp; k += 2) {
    __m512bh b[NP];
    for (int j = 0; j < NP; ++j) b[j] = (__m512bh)_mm512_loadu_si512(W + j * panel_elems + k * 16);
    for (int i = 0; i < MR; ++i) {
      int32_t a2;
      std::memcpy(&a2, A + i * Kp + k, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(a2);
      for (int j = 0; j < NP; ++j) c[i][j] = _mm512_dpbf16_ps(c[i][j], a, b[j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) _mm512_storeu_ps(acc + i * ld + j * 16, c[i][j]);
}

template <int NP>
void rows_of(float* acc, size_t ld, const uint16_t* A, size_t Kp, size_t rows, const uint16_t* W, size_t pe) {
  for_row_blocks<6>(rows, [&](auto mr, size_t r) { tile<mr, NP>(acc + r * ld, ld, A + r * Kp, Kp, W, pe); });
}

void block(float* acc, const uint16_t* A, size_t Kp, size_t rows, const uint16_t* W, size_t panels) {
  const size_t ld = panels * 16, pe = Kp * 16;
  size_t p = 0;
  for (; p + 4 <= panels; p += 4) rows_of<4>(acc + p * 16, ld, A, Kp, rows, W + p * pe, pe);
  for (; p + 2 <= panels; p += 2) rows_of<2>(acc + p * 16, ld, A, Kp, rows, W + p * pe, pe);
  for (; p < panels; ++p) rows_of<1>(acc + p * 16, ld, A, Kp, rows, W + p * pe, pe);
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

#pragma GCC pop_options
#endif
