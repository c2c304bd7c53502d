// The dropout masks of cpu/dropout.h on the device: the same splitmix64 arithmetic (64-bit integer
// operations, exact on both sides), so a GPU kernel draws the very factors the CPU does for (seed, site,
// index) and the GPU training step with dropout can be checked against the CPU's.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "../cpu/dropout.h"

namespace splade::cuda {

__device__ __forceinline__ uint64_t mix64_dev(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// DropoutMask::factor, row_key and factor_in_row
__device__ __forceinline__ float drop_factor(const DropoutMask& m, uint64_t i) {
  return static_cast<uint32_t>(mix64_dev(m.key ^ i) >> 32) >= m.threshold ? m.scale : 0.0f;
}
__device__ __forceinline__ uint64_t drop_row_key(const DropoutMask& m, uint64_t row) {
  return mix64_dev(m.key + row * 0x632be59bd9b4e019ull);
}
__device__ __forceinline__ float drop_factor_in_row(const DropoutMask& m, uint64_t rk, uint64_t j) {
  return static_cast<uint32_t>(mix64_dev(rk ^ j) >> 32) >= m.threshold ? m.scale : 0.0f;
}

}  // namespace splade::cuda
