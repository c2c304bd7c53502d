// Internal: the per-ISA entry points of the SGEMM (one translation unit each, compiled under its own
// `#pragma GCC target` on x86-64; gemm_neon.cpp on arm64), and the helpers they share. Only the
// architecture's own ISAs are compiled in (cpu_features.h), so only those are declared. Callers outside native/cpu use gemm.h.
#pragma once
#include <cstddef>

#include "gemm.h"

namespace splade {

// Each computes an already validated GemmArgs on the shared thread pool; packed_b_floats and pack_b are
// the ISA's side of sgemm_packed_b_floats / sgemm_pack_b (pack_b reads g.tb, B, ldb, K and N).
#define SPLADE_GEMM_ISA_ENTRY_POINTS                   \
  void sgemm(const GemmArgs& g);                       \
  double fma_probe(size_t iters);                      \
  size_t packed_b_floats(size_t K, size_t N);          \
  void pack_b(const GemmArgs& g, float* dst);
namespace generic { SPLADE_GEMM_ISA_ENTRY_POINTS }
#if defined(SPLADE_X86)
namespace avx2 { SPLADE_GEMM_ISA_ENTRY_POINTS }
namespace avx512 { SPLADE_GEMM_ISA_ENTRY_POINTS }
#elif defined(SPLADE_ARM64)
namespace neon { SPLADE_GEMM_ISA_ENTRY_POINTS }
#endif
#undef SPLADE_GEMM_ISA_ENTRY_POINTS

// A 64-byte aligned buffer of at least `floats` floats, owned by the calling thread (slot 0: packed
// A, slot 1: packed B, slot 2: edge tiles). Thread-local rather than indexed by pool thread, because
// a serial region can run on any thread (an AsyncWorker's, or a nested call's).
float* gemm_scratch(int slot, size_t floats);

}  // namespace splade
