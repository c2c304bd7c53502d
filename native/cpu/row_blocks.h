// Register-blocked kernels walk their rows in blocks of MR (a compile-time count, so the accumulators
// stay in registers) and finish with one smaller block. for_row_blocks<MR>(rows, f) calls
// f(std::integral_constant<int, m>{}, r) for each block of m rows starting at row r (f, a lambda of the
// kernel's file, carries the kernel's target; this loop needs none).
#pragma once
#include <cstddef>
#include <type_traits>

namespace splade {

template <int MR, class F>
inline void for_row_blocks(size_t rows, F&& f) {
  size_t r = 0;
  for (; r + MR <= rows; r += MR) f(std::integral_constant<int, MR>{}, r);
  const size_t left = rows - r;
  if constexpr (MR > 1) {
    if (left == MR - 1) return f(std::integral_constant<int, MR - 1>{}, r);
    if (left > 0) for_row_blocks<MR - 1>(left, [&](auto m, size_t q) { f(m, r + q); });
  }
}

}  // namespace splade
