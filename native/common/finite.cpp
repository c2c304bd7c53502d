#include "finite.h"

#include <cstdint>
#include <cstring>

namespace splade {

size_t first_non_finite(const float* x, size_t n) {
  constexpr uint32_t kExp = 0x7f800000u;  // all exponent bits set: infinity or NaN
  constexpr size_t kBlock = 4096;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = b + kBlock < n ? b + kBlock : n;
    // Branch-free over the block (vectorised by the compiler); exact position only if it flags.
    uint32_t flagged = 0;
    for (size_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, x + i, sizeof u);
      flagged |= (u & kExp) == kExp;
    }
    if (!flagged) continue;
    for (size_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, x + i, sizeof u);
      if ((u & kExp) == kExp) return i;
    }
  }
  return n;
}

}  // namespace splade
