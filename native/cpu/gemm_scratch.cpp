// Per-thread packing buffers for the SGEMM. They grow on demand and are kept for the thread's
// lifetime, so steady-state calls allocate nothing. Compiled without any ISA pragma on purpose: the
// std code instantiated here must run on every CPU.
#include <cstdlib>
#include <new>

#include "gemm_isa.h"

namespace splade {
namespace {

struct Buffer {
  float* data = nullptr;
  size_t capacity = 0;
  ~Buffer() { std::free(data); }
};

constexpr int kSlots = 3;
// Trailing slack so vector packers may write a few floats past the last panel.
constexpr size_t kSlackFloats = 64;

}  // namespace

float* gemm_scratch(int slot, size_t floats) {
  thread_local Buffer buffers[kSlots];
  Buffer& b = buffers[slot];
  if (b.capacity < floats) {
    std::free(b.data);
    b.data = nullptr;
    b.capacity = 0;
    const size_t bytes = ((floats + kSlackFloats) * sizeof(float) + 63) / 64 * 64;
    b.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.data) throw std::bad_alloc();
    b.capacity = floats;
  }
  return b.data;
}

}  // namespace splade
