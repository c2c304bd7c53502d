// Internal: the per-ISA entry points of the SGEMM (one translation unit each, compiled under its own
// `#pragma GCC target`), and the helpers they share. Callers outside native/cpu use gemm.h.
#pragma once
#include <cstddef>

#include "gemm.h"

namespace splade {

// Each computes an already validated GemmArgs on the shared thread pool.
namespace generic { void sgemm(const GemmArgs& g); double fma_probe(size_t iters); }
namespace avx2 { void sgemm(const GemmArgs& g); double fma_probe(size_t iters); }
namespace avx512 { void sgemm(const GemmArgs& g); double fma_probe(size_t iters); }

// A 64-byte aligned buffer of at least `floats` floats, owned by the calling thread (slot 0: packed
// A, slot 1: packed B, slot 2: edge tiles). Thread-local rather than indexed by pool thread, because
// a serial region can run on any thread (an AsyncWorker's, or a nested call's).
float* gemm_scratch(int slot, size_t floats);

}  // namespace splade
