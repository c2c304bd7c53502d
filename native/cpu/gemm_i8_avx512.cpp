// The int8 block kernel on AVX-512 VNNI (gemm_i8.h): vpdpbusd multiplies 4 u8 activations by 4 s8
// weights and adds the 4 products into an int32 lane, 64 multiply-adds an instruction. A register
// block of 6 rows x 4 panels (64 columns) holds 24 accumulators; each group of 4 k loads 4 weight
// vectors and broadcasts one int32 (4 activation bytes) per row.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstring>

#include "gemm_i8.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")

#include "row_blocks.h"

namespace splade::i8 {
namespace {

template <int MR, int NP>
inline void tile(int32_t* acc, size_t ld, const uint8_t* A, size_t Kp, const int8_t* W, size_t panel_bytes) {
  __m512i c[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) c[i][j] = _mm512_setzero_si512();
  for (size_t k = 0; k < Kp; k += 4) {
    __m512i b[NP];
    for (int j = 0; j < NP; ++j) b[j] = _mm512_loadu_si512(W + j * panel_bytes + k * 16);
    for (int i = 0; i < MR; ++i) {
      int32_t a4;
      std::memcpy(&a4, A + i * Kp + k, 4);
      const __m512i a = _mm512_set1_epi32(a4);
      for (int j = 0; j < NP; ++j) c[i][j] = _mm512_dpbusd_epi32(c[i][j], a, b[j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) _mm512_storeu_si512(acc + i * ld + j * 16, c[i][j]);
}

template <int NP>
void rows_of(int32_t* acc, size_t ld, const uint8_t* A, size_t Kp, size_t rows, const int8_t* W, size_t panel_bytes) {
  for_row_blocks<6>(rows, [&](auto mr, size_t r) { tile<mr, NP>(acc + r * ld, ld, A + r * Kp, Kp, W, panel_bytes); });
}

}  // namespace

void block_avx512_vnni(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels) {
  const size_t ld = panels * 16, pb = Kp * 16;
  size_t p = 0;
  for (; p + 4 <= panels; p += 4) rows_of<4>(acc + p * 16, ld, Aq, Kp, rows, Wp + p * pb, pb);
  for (; p + 2 <= panels; p += 2) rows_of<2>(acc + p * 16, ld, Aq, Kp, rows, Wp + p * pb, pb);
  for (; p < panels; ++p) rows_of<1>(acc + p * 16, ld, Aq, Kp, rows, Wp + p * pb, pb);
}

}  // namespace splade::i8

#pragma GCC pop_options
#endif
