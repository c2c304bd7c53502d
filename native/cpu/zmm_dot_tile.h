// The register block the AVX-512 dot-product kernels share (gemm_i8_avx512.cpp: vpdpbusd, 4 u8 x s8 a
// lane; gemm_bf16_avx512.cpp: vdpbf16ps, 2 bf16 x bf16 a lane): both read A as rows of 4-byte groups,
// one group broadcast per row, and W as panels of 16 columns whose 64 bytes per group are the
// instruction's other operand. MR rows x NP panels of accumulators; mac(c, a, b) is the instruction.
// Include it inside the kernel file's `#pragma GCC target` region (the intrinsics need the target).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "row_blocks.h"

namespace splade::zmm_dot {

// out (MR x NP*16 lanes, ld in lanes) = sum over the row_bytes/4 groups; A rows row_bytes apart, W
// panels panel_bytes apart, 64 bytes per group.
template <int MR, int NP, class Mac>
inline void tile(void* out, size_t ld, const uint8_t* A, size_t row_bytes, const uint8_t* W, size_t panel_bytes, Mac mac) {
  __m512i c[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) c[i][j] = _mm512_setzero_si512();
  for (size_t k = 0; k < row_bytes; k += 4) {
    __m512i b[NP];
    for (int j = 0; j < NP; ++j) b[j] = _mm512_loadu_si512(W + j * panel_bytes + k * 16);
    for (int i = 0; i < MR; ++i) {
      int32_t a4;
      std::memcpy(&a4, A + i * row_bytes + k, 4);
      const __m512i a = _mm512_set1_epi32(a4);
      for (int j = 0; j < NP; ++j) c[i][j] = mac(c[i][j], a, b[j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) _mm512_storeu_si512(static_cast<uint32_t*>(out) + i * ld + j * 16, c[i][j]);
}

// rows x panels of the product into out (rows x panels*16 lanes): 6-row blocks, 4 panels at a time.
template <class Mac>
inline void block(void* out, const uint8_t* A, size_t row_bytes, size_t rows, const uint8_t* W, size_t panels, Mac mac) {
  const size_t ld = panels * 16, pb = row_bytes * 16;
  auto strip = [&](auto np, size_t p) {
    for_row_blocks<6>(rows, [&](auto mr, size_t r) {
      tile<mr, np>(static_cast<uint32_t*>(out) + r * ld + p * 16, ld, A + r * row_bytes, row_bytes, W + p * pb, pb, mac);
    });
  };
  size_t p = 0;
  for (; p + 4 <= panels; p += 4) strip(std::integral_constant<int, 4>{}, p);
  for (; p + 2 <= panels; p += 2) strip(std::integral_constant<int, 2>{}, p);
  for (; p < panels; ++p) strip(std::integral_constant<int, 1>{}, p);
}

}  // namespace splade::zmm_dot
