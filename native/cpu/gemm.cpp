// SGEMM entry points: validation, the residual-is-C case, and dispatch to the ISA's blocked kernel;
// plus the FMA peak probe the benchmark reports against.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "gemm.h"
#include "gemm_isa.h"

namespace splade {

void sgemm_isa(Isa isa, const GemmArgs& args) {
  sgemm_validate(args);
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  if (args.packed_b)
    SPLADE_CHECK(args.packed_b->isa == isa, std::string("sgemm: B was packed for the ") + isa_name(args.packed_b->isa) +
                                                 " kernels but the product runs on the " + isa_name(isa) + " ones");
  GemmArgs g = args;
  // A residual that is C itself would be read after the kernel has overwritten C: fold it into beta
  // instead (C = alpha AB + (beta + 1) C + bias), which is the same sum.
  if (g.epilogue.residual && g.epilogue.residual == g.C) {
    g.beta += 1.0f;
    g.epilogue.residual = nullptr;
  }
  switch (isa) {
#if defined(SPLADE_X86)
    case Isa::avx512: return avx512::sgemm(g);
    case Isa::avx2: return avx2::sgemm(g);
#elif defined(SPLADE_ARM64)
    case Isa::neon: return neon::sgemm(g);
#endif
    default: return generic::sgemm(g);
  }
}

void sgemm(const GemmArgs& g) { sgemm_isa(active_isa(), g); }

size_t sgemm_packed_b_floats(Isa isa, size_t K, size_t N) {
  switch (isa) {
#if defined(SPLADE_X86)
    case Isa::avx512: return avx512::packed_b_floats(K, N);
    case Isa::avx2: return avx2::packed_b_floats(K, N);
#elif defined(SPLADE_ARM64)
    case Isa::neon: return neon::packed_b_floats(K, N);
#endif
    default: return generic::packed_b_floats(K, N);
  }
}

void sgemm_pack_b(Isa isa, Trans tb, size_t K, size_t N, const float* B, size_t ldb, float* dst) {
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  SPLADE_CHECK(K == 0 || N == 0 || (B != nullptr && dst != nullptr), "sgemm_pack_b: B or dst is null");
  SPLADE_CHECK(ldb >= (tb == Trans::no ? N : K), "sgemm_pack_b: ldb is smaller than B's stored row length");
  if (K == 0 || N == 0) return;
  GemmArgs g;  // the packers read B, ldb, tb, K and N from the product's arguments
  g.tb = tb; g.K = K; g.N = N; g.B = B; g.ldb = ldb;
  switch (isa) {
#if defined(SPLADE_X86)
    case Isa::avx512: return avx512::pack_b(g, dst);
    case Isa::avx2: return avx2::pack_b(g, dst);
#elif defined(SPLADE_ARM64)
    case Isa::neon: return neon::pack_b(g, dst);
#endif
    default: return generic::pack_b(g, dst);
  }
}

PackedMatrix::PackedMatrix(Isa isa, Trans tb, size_t K, size_t N, const float* B, size_t ldb) {
  constexpr size_t kAlignFloats = 16;
  storage_.resize(sgemm_packed_b_floats(isa, K, N) + kAlignFloats);
  const auto addr = reinterpret_cast<uintptr_t>(storage_.data());
  float* data = storage_.data() + ((64 - addr % 64) % 64) / sizeof(float);
  sgemm_pack_b(isa, tb, K, N, B, ldb, data);
  view_ = PackedB{isa, K, N, data};
}

double fma_peak_gflops(Isa isa, int threads, double seconds) {
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  SPLADE_CHECK(threads >= 1 && threads <= num_threads(), "fma_peak: threads must be in [1, pool size]");
  SPLADE_CHECK(seconds > 0 && seconds <= 10, "fma_peak: seconds must be in (0, 10]");
  auto probe = [isa](size_t iters) {
    switch (isa) {
#if defined(SPLADE_X86)
      case Isa::avx512: return avx512::fma_probe(iters);
      case Isa::avx2: return avx2::fma_probe(iters);
#elif defined(SPLADE_ARM64)
      case Isa::neon: return neon::fma_probe(iters);
#endif
      default: return generic::fma_probe(iters);
    }
  };
  using clock = std::chrono::steady_clock;
  // Short runs (about 10 ms), as many as fit in `seconds`, keeping the best: on a shared machine a
  // short run is more likely to find the cores idle, which is what a peak means. Calibrated on one thread.
  size_t iters = 1 << 12;
  for (;;) {
    const auto t0 = clock::now();
    probe(iters);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0.002 || iters > (size_t{1} << 40)) {
      iters = static_cast<size_t>(iters * 0.01 / std::max(dt, 1e-9)) + 1;
      break;
    }
    iters *= 2;
  }
  double best = 0;
  const auto start = clock::now();
  for (int rep = 0; rep < 3 || std::chrono::duration<double>(clock::now() - start).count() < seconds; ++rep) {
    std::atomic<double> flops{0};
    const auto t0 = clock::now();
    parallel_for(static_cast<size_t>(threads), [&](size_t, int) {
      const double f = probe(iters);
      double cur = flops.load();
      while (!flops.compare_exchange_weak(cur, cur + f)) {
      }
    });
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    best = std::max(best, flops.load() / dt * 1e-9);
  }
  return best;
}

}  // namespace splade
