// The plain reference SGEMM (double accumulation) and argument validation shared by every variant.
// Until the packed kernels are in, sgemm() dispatches here for every ISA.
#include <cmath>
#include <string>

#include "../common/error.h"
#include "gemm.h"

namespace splade {
namespace {

void validate(const GemmArgs& g) {
  const size_t a_cols = g.ta == Trans::no ? g.K : g.M, b_cols = g.tb == Trans::no ? g.N : g.K;
  SPLADE_CHECK(g.M == 0 || g.N == 0 || g.C != nullptr, "sgemm: C is null");
  SPLADE_CHECK(g.ldc >= g.N, "sgemm: ldc is smaller than N");
  if (g.M && g.N && g.K) {
    SPLADE_CHECK(g.A != nullptr && g.B != nullptr, "sgemm: A or B is null");
    SPLADE_CHECK(g.lda >= a_cols, "sgemm: lda is smaller than op(A)'s stored row length");
    SPLADE_CHECK(g.ldb >= b_cols, "sgemm: ldb is smaller than op(B)'s stored row length");
  }
  if (g.epilogue.residual) SPLADE_CHECK(g.epilogue.ldr >= g.N, "sgemm: ldr is smaller than N");
}

}  // namespace

float gelu_exact(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

void sgemm_reference(const GemmArgs& g) {
  validate(g);
  for (size_t m = 0; m < g.M; ++m) {
    for (size_t n = 0; n < g.N; ++n) {
      double acc = 0;
      for (size_t k = 0; k < g.K; ++k) {
        const double a = g.ta == Trans::no ? g.A[m * g.lda + k] : g.A[k * g.lda + m];
        const double b = g.tb == Trans::no ? g.B[k * g.ldb + n] : g.B[n * g.ldb + k];
        acc += a * b;
      }
      float& c = g.C[m * g.ldc + n];
      double v = g.alpha * acc + (g.beta == 0.0f ? 0.0 : static_cast<double>(g.beta) * c);
      if (g.epilogue.bias) v += g.epilogue.bias[n];
      if (g.epilogue.residual) v += g.epilogue.residual[m * g.epilogue.ldr + n];
      float out = static_cast<float>(v);
      if (g.epilogue.activation == Activation::gelu) out = gelu_exact(out);
      c = out;
    }
  }
}

void sgemm_isa(Isa, const GemmArgs& g) { sgemm_reference(g); }

void sgemm(const GemmArgs& g) { sgemm_isa(active_isa(), g); }

}  // namespace splade
