// The plain reference SGEMM (double accumulation) and argument validation shared by every variant.
#include <cmath>
#include <string>

#include "../common/error.h"
#include "gemm.h"

namespace splade {

void sgemm_validate(const GemmArgs& g) {
  const size_t a_cols = g.ta == Trans::no ? g.K : g.M, b_cols = g.tb == Trans::no ? g.N : g.K;
  SPLADE_CHECK(g.M == 0 || g.N == 0 || g.C != nullptr, "sgemm: C is null");
  SPLADE_CHECK(g.ldc >= g.N, "sgemm: ldc is smaller than N");
  if (g.M && g.N && g.K) {
    SPLADE_CHECK(g.A != nullptr && (g.B != nullptr || g.packed_b), "sgemm: A or B is null");
    SPLADE_CHECK(g.lda >= a_cols, "sgemm: lda is smaller than op(A)'s stored row length");
    SPLADE_CHECK(g.packed_b || g.ldb >= b_cols, "sgemm: ldb is smaller than op(B)'s stored row length");
  }
  if (g.packed_b) {
    SPLADE_CHECK(g.packed_b->data != nullptr, "sgemm: packed B has no data");
    SPLADE_CHECK(g.packed_b->K == g.K && g.packed_b->N == g.N,
                 "sgemm: packed B is (" + std::to_string(g.packed_b->K) + ", " + std::to_string(g.packed_b->N) +
                     ") but the product needs op(B) (" + std::to_string(g.K) + ", " + std::to_string(g.N) + ")");
  }
  if (g.epilogue.residual && g.M && g.N) {
    SPLADE_CHECK(g.epilogue.ldr >= g.N, "sgemm: ldr is smaller than N");
    // The residual is read tile by tile as C is written, so it may be C itself but not overlap it otherwise.
    const float *c0 = g.C, *c1 = g.C + (g.M - 1) * g.ldc + g.N;
    const float *r0 = g.epilogue.residual, *r1 = r0 + (g.M - 1) * g.epilogue.ldr + g.N;
    const bool same = r0 == c0 && g.epilogue.ldr == g.ldc;
    SPLADE_CHECK(same || r1 <= c0 || c1 <= r0, "sgemm: residual overlaps C without being C");
  }
}

// 1 + erf(x / sqrt 2) is computed as erfc(-x / sqrt 2): the same function, without the cancellation
// that leaves 1 + erf with no correct digits in the negative tail. In double, so the one rounding is
// the final one (in float, rounding x / sqrt 2 alone moves erfc by x^2 * 6e-8 relative).
float gelu_exact(float x) {
  const double xd = x;
  return static_cast<float>(0.5 * xd * std::erfc(-xd * 0.70710678118654752440));
}

void sgemm_reference(const GemmArgs& g) {
  sgemm_validate(g);
  SPLADE_CHECK(g.M == 0 || g.N == 0 || g.K == 0 || g.B != nullptr, "sgemm_reference: reads B itself, not a packing of it");
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

}  // namespace splade
