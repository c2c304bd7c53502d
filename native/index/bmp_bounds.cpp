#include "bmp_bounds.h"

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's false alarm inside _mm512_cvtepu8_epi32
#pragma GCC diagnostic ignored "-Wuninitialized"        // and inside _mm512_reduce_or_epi64
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

uint64_t bmp_group_mask_ref(const uint8_t* entries, uint32_t blocks, uint32_t* more) {
  uint64_t m = 0;
  uint32_t classed = 0;
  for (uint32_t k = 0; k < blocks; ++k) {
    m |= uint64_t{1} << (entries[k] & 63u);
    classed += entries[k] >= 0xC0;
  }
  *more = classed;
  return m;
}

#ifdef SPLADE_BMP_X86
namespace {

// The group's bytes in a 64-byte buffer padded with copies of its last byte: a repeated block sets
// no new bit, so every lane can be shifted in whole vectors (the class-3 count uses only the first
// `blocks` lanes).
__attribute__((target("avx2,popcnt"))) uint64_t bmp_group_mask_avx2(const uint8_t* entries, uint32_t blocks, uint32_t* more) {
  alignas(32) uint8_t buf[64];
  std::memset(buf, entries[blocks - 1], sizeof buf);
  std::memcpy(buf, entries, blocks);
  const __m256i c0 = _mm256_set1_epi8(static_cast<char>(0xC0));
  const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(buf));
  const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(buf + 32));
  const uint64_t classed = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(lo, c0), c0))) |
                           uint64_t{static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(hi, c0), c0)))} << 32;
  *more = static_cast<uint32_t>(__builtin_popcountll(blocks == 64 ? classed : classed & ((uint64_t{1} << blocks) - 1)));
  const __m256i ones = _mm256_set1_epi64x(1), low6 = _mm256_set1_epi64x(63);
  __m256i acc = _mm256_setzero_si256();
  for (uint32_t k = 0; k < blocks; k += 8) {
    const __m128i eight = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(buf + k));
    const __m256i a = _mm256_and_si256(_mm256_cvtepu8_epi64(eight), low6);
    const __m256i b = _mm256_and_si256(_mm256_cvtepu8_epi64(_mm_srli_si128(eight, 4)), low6);
    acc = _mm256_or_si256(acc, _mm256_or_si256(_mm256_sllv_epi64(ones, a), _mm256_sllv_epi64(ones, b)));
  }
  const __m128i r = _mm_or_si128(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  return static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_or_si128(r, _mm_unpackhi_epi64(r, r))));
}

// Masked byte load (never past the group), 8 lanes a shift; lanes past `blocks` are masked off.
__attribute__((target("avx512f,avx512bw,avx512vl,popcnt,bmi2"))) uint64_t bmp_group_mask_avx512(const uint8_t* entries, uint32_t blocks,
                                                                                                 uint32_t* more) {
  const __mmask64 live = _bzhi_u64(~uint64_t{0}, blocks);
  const __m512i bytes = _mm512_maskz_loadu_epi8(live, entries);
  *more = static_cast<uint32_t>(__builtin_popcountll(_mm512_mask_cmpge_epu8_mask(live, bytes, _mm512_set1_epi8(static_cast<char>(0xC0)))));
  const __m512i idx = _mm512_and_si512(bytes, _mm512_set1_epi8(63));
  const __m512i ones = _mm512_set1_epi64(1);
  __m512i acc = _mm512_setzero_si512();
  alignas(64) uint8_t buf[64];
  _mm512_store_si512(buf, idx);
  for (uint32_t c = 0; c * 8 < blocks; ++c) {
    const __m512i lanes = _mm512_cvtepu8_epi64(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(buf + 8 * c)));
    acc = _mm512_or_si512(acc, _mm512_maskz_sllv_epi64(static_cast<__mmask8>(live >> (8 * c)), ones, lanes));
  }
  return static_cast<uint64_t>(_mm512_reduce_or_epi64(acc));
}

// 8 blocks at a time: the group's next popcount(m8) maxima placed at the set bits' bytes by pdep. The
// group's maxima are first copied whole into a zeroed buffer, so each chunk is one fixed 8-byte load
// (a variable-length copy a chunk cost a third of bmp's time with AVX2 on 8.8M documents).
__attribute__((target("avx2,bmi2,popcnt"))) void bmp_group_bounds_avx2(float* bound, uint64_t mask, const uint8_t* max, float w) {
  const __m256 vw = _mm256_set1_ps(w);
  uint8_t buf[64 + 8] = {};
  std::memcpy(buf, max, static_cast<size_t>(__builtin_popcountll(mask)));  // never past the group's last byte
  const uint8_t* q = buf;
  for (unsigned c = 0; c < 8 && mask; ++c, mask >>= 8) {
    const uint64_t m8 = mask & 0xFF;
    if (m8 == 0) continue;
    uint64_t packed;
    std::memcpy(&packed, q, 8);  // pdep takes only its low popcount(m8) bytes
    q += __builtin_popcountll(m8);
    const uint64_t lanes = _pdep_u64(m8, 0x0101010101010101ULL) * 0xFF;
    const __m128i bytes = _mm_cvtsi64_si128(static_cast<long long>(_pdep_u64(packed, lanes)));
    __m256 prod = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), vw);
    __asm__("" : "+x"(prod));  // keeps the product and the sum two roundings (no FMA contraction)
    _mm256_storeu_ps(bound + 8 * c, _mm256_add_ps(_mm256_loadu_ps(bound + 8 * c), prod));
  }
}

// All 64 blocks at once: vpexpandb reads exactly popcount(mask) bytes.
__attribute__((target("avx512f,avx512bw,avx512vbmi2,bmi2,popcnt"))) void bmp_group_bounds_avx512(float* bound, uint64_t mask,
                                                                                        const uint8_t* max, float w) {
  // A masked load and the register form of vpexpandb: the memory form is microcoded and several
  // times slower on Intel cores.
  const __mmask64 packed = _bzhi_u64(~uint64_t{0}, static_cast<unsigned>(__builtin_popcountll(mask)));
  const __m512i bytes = _mm512_maskz_expand_epi8(mask, _mm512_maskz_loadu_epi8(packed, max));
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
  if (isa == Isa::avx512 && has_vbmi2() && has_bmi2()) return bmp_group_bounds_avx512;
  if ((isa == Isa::avx512 || isa == Isa::avx2) && has_bmi2()) return bmp_group_bounds_avx2;
#endif
  (void)isa;
  return bmp_group_bounds_ref;
}

BmpGroupMaskFn bmp_group_mask_kernel(Isa isa) {
#ifdef SPLADE_BMP_X86
  if (isa == Isa::avx512 && has_bmi2()) return bmp_group_mask_avx512;
  if (isa == Isa::avx512 || isa == Isa::avx2) return bmp_group_mask_avx2;
#endif
  (void)isa;
  return bmp_group_mask_ref;
}

}  // namespace splade::index
