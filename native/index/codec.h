// Block codec: fixed-width bit packing of up to kMaxBlockSize 32-bit values, little-endian bit
// order (value i occupies bits [i*bits, (i+1)*bits) of the byte stream). Decoding is branch-free:
// one unaligned 64-bit load, shift and mask per value, unrolled by 8 so that every shift is a
// constant (8 values of `bits` bits span exactly `bits` bytes). Decoders may read up to 8 bytes past
// the packed bytes; callers guarantee that padding (see kPostingsPadding in format.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace splade::index {

inline size_t packed_bytes(uint32_t n, uint32_t bits) { return (static_cast<size_t>(n) * bits + 7) / 8; }

// Bits needed to hold v (0 for v == 0).
inline uint32_t bits_for(uint32_t v) { return v == 0 ? 0 : 32 - static_cast<uint32_t>(__builtin_clz(v)); }

// Appends the packed values (each < 2^bits) to out.
void pack(const uint32_t* values, uint32_t n, uint32_t bits, std::vector<uint8_t>& out);

// out[0..n) = the values; bits in [0, 32].
using UnpackFn = void (*)(const uint8_t* in, uint32_t n, uint32_t* out);
extern const UnpackFn kUnpack[33];
inline void unpack(const uint8_t* in, uint32_t n, uint32_t bits, uint32_t* out) { kUnpack[bits](in, n, out); }

// Gaps to documents in place: docs[i] = docs[i-1] + gaps[i] + 1, starting from `prev` (the previous
// block's last document, or kEndDoc before a list's first block, so that the first gap is the doc).
// Unsigned arithmetic: kEndDoc + gap + 1 wraps to gap.
inline void undelta_ref(uint32_t* docs, uint32_t n, uint32_t prev) {
  for (uint32_t i = 0; i < n; ++i) docs[i] = prev = prev + docs[i] + 1;
}

#if defined(__aarch64__)
// NEON: the prefix sum of 4 gaps in two shifted adds (log2 4 steps), plus the running document
// broadcast from the last lane; the tail as the reference does it.
inline void undelta(uint32_t* docs, uint32_t n, uint32_t prev) {
  const uint32x4_t zero = vdupq_n_u32(0), one = vdupq_n_u32(1);
  uint32x4_t carry = vdupq_n_u32(prev);
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32x4_t v = vaddq_u32(vld1q_u32(docs + i), one);
    v = vaddq_u32(v, vextq_u32(zero, v, 3));  // + (0, v0, v1, v2)
    v = vaddq_u32(v, vextq_u32(zero, v, 2));  // + (0, 0, v0, v0 + v1)
    v = vaddq_u32(v, carry);
    vst1q_u32(docs + i, v);
    carry = vdupq_laneq_u32(v, 3);
  }
  undelta_ref(docs + i, n - i, vgetq_lane_u32(carry, 0));
}
#else
inline void undelta(uint32_t* docs, uint32_t n, uint32_t prev) { undelta_ref(docs, n, prev); }
#endif

}  // namespace splade::index
