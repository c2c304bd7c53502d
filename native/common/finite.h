// Finite-value scan for weights read from checkpoint files (a NaN or infinite weight makes every vector
// NaN or silently empty, and safetensors has no checksum to catch the damage).
#pragma once
#include <cstddef>

namespace splade {

// The index of the first NaN or infinite value of x[0, n), or n when all are finite. Reads memory at
// its bandwidth: the exponent bits of each block are OR-combined without a branch per element.
size_t first_non_finite(const float* x, size_t n);

}  // namespace splade
