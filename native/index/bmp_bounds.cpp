#include "bmp_bounds.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's false alarm inside _mm512_cvtepu8_epi32
#endif
#include <immintrin.h>
#define SPLADE_BMP_X86 1
#endif

namespace splade::index {

void bmp_group_bounds_ref(float* bound, uint64_t mask, const uint8_t* max, float w) {
  for (; mask; mask &= mask - 1, ++max) {
    const unsigned blk = static_cast<unsigned>(__builtin_ctzll(mask));
    bound[blk] += w * static_cast<float>(*max);
  }
}

#ifdef SPLADE_BMP_X86
namespace {

// 8 blocks at a time: the group's next popcount(m8) maxima placed at the set bits' bytes by pdep.
__attribute__((target("avx2,bmi2"))) void bmp_group_bounds_avx2(float* bound, uint64_t mask, const uint8_t* max, float w) {
  const __m256 vw = _mm256_set1_ps(w);
  for (unsigned c = 0; c < 8 && mask; ++c, mask >>= 8) {
    const uint64_t m8 = mask & 0xFF;
    if (m8 == 0) continue;
    const unsigned k = static_cast<unsigned>(__builtin_popcountll(m8));
    uint64_t packed = 0;
    std::memcpy(&packed, max, k);  // never past the group's last byte
    max += k;
    const uint64_t lanes = _pdep_u64(m8, 0x0101010101010101ULL) * 0xFF;
    const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(_pdep_u64(packed, lanes)));
    __m256 prod = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), vw);
    __asm__("" : "+x"(prod));  // keeps the product and the sum two roundings (no FMA contraction)
    _mm256_storeu_ps(bound + 8 * c, _mm256_add_ps(_mm256_loadu_ps(bound + 8 * c), prod));
  }
}

// All 64 blocks at once: vpexpandb reads exactly popcount(mask) bytes.
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) void bmp_group_bounds_avx512(float* bound, uint64_t mask,
                                                                                        const uint8_t* max, float w) {
  const __m512i bytes = _mm512_maskz_expandloadu_epi8(mask, max);
  const __m512 vw = _mm512_set1_ps(w);
  const __m128i q[4] = {_mm512_extracti32x4_epi32(bytes, 0), _mm512_extracti32x4_epi32(bytes, 1),
                        _mm512_extracti32x4_epi32(bytes, 2), _mm512_extracti32x4_epi32(bytes, 3)};
  for (unsigned c = 0; c < 4; ++c) {
    if (((mask >> (16 * c)) & 0xFFFF) == 0) continue;
    __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q[c])), vw);
    __asm__("" : "+v"(prod));  // no FMA contraction, as above
    _mm512_storeu_ps(bound + 16 * c, _mm512_add_ps(_mm512_loadu_ps(bound + 16 * c), prod));
  }
}

bool has_vbmi2() {
  static const bool yes = __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("avx512bw");
  return yes;
}
bool has_bmi2() {
  static const bool yes = __builtin_cpu_supports("bmi2");
  return yes;
}

}  // namespace
#endif

BmpGroupBoundsFn bmp_group_bounds_kernel(Isa isa) {
#ifdef SPLADE_BMP_X86
  if (isa == Isa::avx512 && has_vbmi2()) return bmp_group_bounds_avx512;
  if ((isa == Isa::avx512 || isa == Isa::avx2) && has_bmi2()) return bmp_group_bounds_avx2;
#endif
  (void)isa;
  return bmp_group_bounds_ref;
}

}  // namespace splade::index
