// The int8 block kernels on 256-bit vectors (gemm_i8.h). A 16-column panel's group of 4 k is two ymm
// (columns 0-7, 8-15). AVX-VNNI: vpdpbusd (VEX) as on AVX-512, 6 rows x 1 panel = 12 accumulators.
// AVX2: vpmaddubsw (u8 x s8 pairs into saturating int16: never saturates, activations are 7-bit),
// vpmaddwd with ones (pairs of int16 into int32), vpaddd; 4 rows x 1 panel, the temporaries and the
// ones vector need the remaining registers. AVX2 on 7-bit weights (gemm_i8.h): two groups of 4 k summed
// in int16 (|sum| <= 2 * 2 * 127 * 63 = 32004) before the vpmaddwd, 6 rows x 1 panel, the panel's bytes
// read as vpmaddubsw's memory operand (it stays in L1), which frees the registers for 6 rows.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "gemm_i8.h"
#include "row_blocks.h"

namespace splade::i8 {
namespace {

// Panel by panel (its Kp x 16 bytes stay in L1 while the rows stream), rows in blocks of at most MR.
template <int MR, class Tile>
void panel_blocks(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels, Tile tile) {
  for (size_t p = 0; p < panels; ++p)
    for_row_blocks<MR>(rows, [&](auto mr, size_t r) {
      tile(mr, acc + r * panels * 16 + p * 16, panels * 16, Aq + r * Kp, Kp, Wp + p * Kp * 16);
    });
}

#define SPLADE_I8_TILE_LOOP(MAC)                                                              \
  __m256i c[MR][2];                                                                           \
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();                    \
  for (size_t k = 0; k < Kp; k += 4) {                                                        \
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + k * 16));      \
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(W + k * 16 + 32)); \
    for (int i = 0; i < MR; ++i) {                                                            \
      int32_t a4;                                                                             \
      std::memcpy(&a4, A + i * Kp + k, 4);                                                    \
      const __m256i a = _mm256_set1_epi32(a4);                                                \
      c[i][0] = MAC(c[i][0], a, b0);                                                          \
      c[i][1] = MAC(c[i][1], a, b1);                                                          \
    }                                                                                         \
  }                                                                                           \
  for (int i = 0; i < MR; ++i) {                                                              \
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * ld), c[i][0]);                   \
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * ld + 8), c[i][1]);               \
  }

#include "avx2_region_push.h"


__attribute__((always_inline)) inline __m256i mac_avx2(__m256i c, __m256i a, __m256i b) {
  const __m256i pairs = _mm256_maddubs_epi16(a, b);  // a u8 (0..127), b s8: no saturation
  return _mm256_add_epi32(c, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

template <int MR>
void tile_avx2(int32_t* acc, size_t ld, const uint8_t* A, size_t Kp, const int8_t* W) {
  SPLADE_I8_TILE_LOOP(mac_avx2)
}

__attribute__((always_inline)) inline __m256i bcast4(const uint8_t* p) {
  int32_t a4;
  std::memcpy(&a4, p, 4);
  return _mm256_set1_epi32(a4);
}

template <int MR>
void tile_avx2_pairs(int32_t* acc, size_t ld, const uint8_t* A, size_t Kp, const int8_t* W) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c[MR][2];
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
  size_t k = 0;
  for (; k + 8 <= Kp; k += 8) {
    const __m256i* w = reinterpret_cast<const __m256i*>(W + k * 16);  // groups k and k + 4: 2 x 64 bytes
    for (int i = 0; i < MR; ++i) {
      const __m256i a0 = bcast4(A + i * Kp + k), a1 = bcast4(A + i * Kp + k + 4);
      const __m256i lo = _mm256_add_epi16(_mm256_maddubs_epi16(a0, _mm256_loadu_si256(w)),
                                          _mm256_maddubs_epi16(a1, _mm256_loadu_si256(w + 2)));
      const __m256i hi = _mm256_add_epi16(_mm256_maddubs_epi16(a0, _mm256_loadu_si256(w + 1)),
                                          _mm256_maddubs_epi16(a1, _mm256_loadu_si256(w + 3)));
      c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(lo, ones));
      c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(hi, ones));
    }
  }
  if (k < Kp) {  // Kp / 4 odd: the last group alone
    const __m256i* w = reinterpret_cast<const __m256i*>(W + k * 16);
    for (int i = 0; i < MR; ++i) {
      const __m256i a = bcast4(A + i * Kp + k);
      c[i][0] = mac_avx2(c[i][0], a, _mm256_loadu_si256(w));
      c[i][1] = mac_avx2(c[i][1], a, _mm256_loadu_si256(w + 1));
    }
  }
  for (int i = 0; i < MR; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * ld), c[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + i * ld + 8), c[i][1]);
  }
}

#include "target_region_pop.h"

#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx2,fma,avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,avxvnni")
#endif

template <int MR>
void tile_vnni(int32_t* acc, size_t ld, const uint8_t* A, size_t Kp, const int8_t* W) {
  SPLADE_I8_TILE_LOOP(_mm256_dpbusd_avx_epi32)
}

#include "target_region_pop.h"

#undef SPLADE_I8_TILE_LOOP

}  // namespace

#include "avx2_region_push.h"

void quantize_row_avx2(uint8_t* q, float* scale, int32_t* zp, const float* x, size_t K, size_t Kp) {
  __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 8 <= K; k += 8) {
    const __m256 v = _mm256_loadu_ps(x + k);
    lo8 = _mm256_min_ps(lo8, v), hi8 = _mm256_max_ps(hi8, v);
  }
  alignas(32) float l[8], h[8];
  _mm256_store_ps(l, lo8), _mm256_store_ps(h, hi8);
  float lo = 0, hi = 0;
  for (int i = 0; i < 8; ++i) lo = std::min(lo, l[i]), hi = std::max(hi, h[i]);
  for (; k < K; ++k) lo = std::min(lo, x[k]), hi = std::max(hi, x[k]);
  float s;
  int32_t z;
  quant_params(lo, hi, &s, &z);
  const __m256 sv = _mm256_set1_ps(s), zv = _mm256_set1_ps(static_cast<float>(z));
  const __m256 zero = _mm256_setzero_ps(), top = _mm256_set1_ps(127.0f);
  auto codes = [&](size_t at) {  // 8 codes as int32: clamp(rint(x / s) + z, 0, 127), as quant_one
    const __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + at), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_cvtps_epi32(_mm256_min_ps(top, _mm256_max_ps(zero, _mm256_add_ps(r, zv))));
  };
  k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m256i w01 = _mm256_packs_epi32(codes(k), codes(k + 8)), w23 = _mm256_packs_epi32(codes(k + 16), codes(k + 24));
    const __m256i b = _mm256_packus_epi16(w01, w23);  // lane-interleaved: dwords 0 4 1 5 2 6 3 7
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k), _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  }
  for (; k < K; ++k) q[k] = quant_one(x[k], s, z);
  std::memset(q + K, 0, Kp - K);
  *scale = s, *zp = z;
}

#include "target_region_pop.h"

void block_avx2(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels) {
  panel_blocks<4>(acc, Aq, Kp, rows, Wp, panels,
                  [](auto mr, int32_t* o, size_t ld, const uint8_t* A, size_t kp, const int8_t* W) { tile_avx2<mr>(o, ld, A, kp, W); });
}

void block_avx2_pairs(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels) {
  panel_blocks<6>(acc, Aq, Kp, rows, Wp, panels, [](auto mr, int32_t* o, size_t ld, const uint8_t* A, size_t kp, const int8_t* W) {
    tile_avx2_pairs<mr>(o, ld, A, kp, W);
  });
}

void block_avx_vnni(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels) {
  panel_blocks<6>(acc, Aq, Kp, rows, Wp, panels,
                  [](auto mr, int32_t* o, size_t ld, const uint8_t* A, size_t kp, const int8_t* W) { tile_vnni<mr>(o, ld, A, kp, W); });
}

}  // namespace splade::i8
#endif
