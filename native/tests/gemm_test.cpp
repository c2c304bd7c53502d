// Native SGEMM checks, runnable without Node (ctest): every supported ISA against the double-accumulating
// reference over awkward shapes, all transposes, alpha/beta, padded leading dimensions and epilogues;
// and the vector GELU against a double-precision GELU. Error measure, the same as test/gemm.test.ts:
// max |c - ref| / max(1, max |ref|) over the tensor. Per tensor rather than per row: a row of a 1-column
// product is one dot product, which float accumulation cannot match to 1e-5 of itself when it cancels.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../common/cpu_features.h"
#include "../common/thread_pool.h"
#include "../common/error.h"
#include "../cpu/gemm.h"

using namespace splade;

namespace {

int failures = 0;

double rel_err(const std::vector<float>& c, const std::vector<float>& ref, size_t M, size_t N, size_t ldc) {
  double diff = 0, mag = 1;
  for (size_t m = 0; m < M; ++m) {
    for (size_t n = 0; n < N; ++n) {
      const double r = ref[m * ldc + n], v = c[m * ldc + n];
      if (!std::isfinite(v) || !std::isfinite(r)) return INFINITY;
      diff = std::max(diff, std::fabs(v - r));
      mag = std::max(mag, std::fabs(r));
    }
  }
  return diff / mag;
}

void check(Isa isa, Trans ta, Trans tb, size_t M, size_t N, size_t K, float alpha, float beta, size_t pad, bool epi,
           std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  const size_t lda = (ta == Trans::no ? K : M) + pad, ldb = (tb == Trans::no ? N : K) + pad, ldc = N + pad;
  std::vector<float> A((ta == Trans::no ? M : K) * lda + 1), B((tb == Trans::no ? K : N) * ldb + 1), C(M * ldc + 1);
  std::vector<float> bias(N), res(M * ldc + 1);
  for (auto& v : A) v = u(rng);
  for (auto& v : B) v = u(rng);
  for (auto& v : C) v = beta == 0 ? NAN : u(rng);
  for (auto& v : bias) v = u(rng);
  for (auto& v : res) v = u(rng);
  GemmArgs g;
  g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.alpha = alpha; g.beta = beta;
  g.A = A.data(); g.lda = lda; g.B = B.data(); g.ldb = ldb; g.ldc = ldc;
  if (epi) {
    g.epilogue.bias = bias.data();
    g.epilogue.residual = res.data();
    g.epilogue.ldr = ldc;
    g.epilogue.activation = Activation::gelu;
  }
  std::vector<float> ref = C;
  g.C = ref.data();
  sgemm_reference(g);
  // Twice: packing B on the fly, then from a packing made beforehand (B itself then not readable).
  const PackedMatrix packed(isa, tb, K, N, B.data(), ldb);
  for (bool pre : {false, true}) {
    std::vector<float> out = C;
    GemmArgs h = g;
    h.C = out.data();
    if (pre) {
      h.packed_b = packed.get();
      h.B = nullptr;
      if (!h.packed_b && K && N) { ++failures; std::printf("FAIL: no packing for K=%zu N=%zu\n", K, N); }
      if (!h.packed_b) h.B = B.data();  // empty product: nothing was packed
    }
    sgemm_isa(isa, h);
    const double err = rel_err(out, ref, M, N, ldc);
    if (!(err <= 1e-5)) {
      ++failures;
      std::printf("FAIL %s ta=%d tb=%d M=%zu N=%zu K=%zu alpha=%g beta=%g pad=%zu epi=%d threads=%d packed=%d: rel err %.3g\n",
                  isa_name(isa), int(ta), int(tb), M, N, K, alpha, beta, pad, int(epi), num_threads(), int(pre), err);
    }
  }
}

// A packing is only accepted by the product it was made for.
void check_packed_misuse() {
  std::vector<float> A(6 * 5, 1.0f), B(5 * 7, 1.0f), C(6 * 7);
  const PackedMatrix packed(Isa::generic, Trans::no, 5, 7, B.data(), 7);
  GemmArgs g;
  g.M = 6; g.N = 7; g.K = 5; g.A = A.data(); g.lda = 5; g.C = C.data(); g.ldc = 7; g.packed_b = packed.get();
  auto expect_error = [&](const char* what, const GemmArgs& args, Isa isa) {
    try {
      sgemm_isa(isa, args);
      ++failures;
      std::printf("FAIL packed misuse accepted: %s\n", what);
    } catch (const SpladeError&) {
    }
  };
  for (Isa isa : supported_isas())
    if (isa != Isa::generic) expect_error("packed for generic, run on another ISA", g, isa);
  GemmArgs wrong_k = g;
  wrong_k.K = 4;
  expect_error("K differs", wrong_k, Isa::generic);
  GemmArgs wrong_n = g;
  wrong_n.N = 6;
  expect_error("N differs", wrong_n, Isa::generic);
  try {
    sgemm_reference(g);
    ++failures;
    std::printf("FAIL sgemm_reference accepted a null B\n");
  } catch (const SpladeError&) {
  }
  sgemm_isa(Isa::generic, g);  // the matching call works: every entry is K = 5
  for (float v : C)
    if (v != 5.0f) { ++failures; std::printf("FAIL packed generic product: %g\n", v); break; }
}

void check_gelu() {
  // The vector GELU (through the GEMM epilogue, with a 1x1 identity product) against double GELU.
  // Down to -12 (gelu -2e-32): below, x / sqrt 2 rounded to float alone moves erfc by over 1e-5.
  for (Isa isa : supported_isas()) {
    double worst = 0;
    for (float x = -12.0f; x <= 10.0f; x += 0.001953125f) {
      const float one = 1.0f;
      float c = 0;
      GemmArgs g;
      g.M = g.N = g.K = 1; g.A = &x; g.lda = 1; g.B = &one; g.ldb = 1; g.C = &c; g.ldc = 1;
      g.epilogue.activation = Activation::gelu;
      sgemm_isa(isa, g);
      const double ref = 0.5 * x * std::erfc(-static_cast<double>(x) / std::sqrt(2.0));
      const double rel = std::fabs(c - ref) / std::max(std::fabs(ref), 1e-37);
      if (rel > worst) worst = rel;
      if (!(rel <= 1e-5)) {
        ++failures;
        std::printf("FAIL gelu %s x=%.9g: %.9g vs %.9g (rel %.3g)\n", isa_name(isa), x, c, ref, rel);
        break;
      }
    }
    std::printf("gelu %s: worst relative error %.3g over [-12, 10]\n", isa_name(isa), worst);
  }
}

}  // namespace

int main() {
  std::mt19937 rng(42);
  check_gelu();
  check_packed_misuse();
  const size_t dims[] = {1, 7, 33, 100};
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (Isa isa : supported_isas()) {
      for (int t = 0; t < 4; ++t) {
        const Trans ta = t & 1 ? Trans::yes : Trans::no, tb = t & 2 ? Trans::yes : Trans::no;
        for (size_t M : dims)
          for (size_t N : dims)
            for (size_t K : dims) check(isa, ta, tb, M, N, K, 1.0f, 0.0f, 0, false, rng);
        check(isa, ta, tb, 300, 520, 600, 0.5f, -1.5f, 3, true, rng);
        check(isa, ta, tb, 37, 1000, 257, 1.0f, 1.0f, 5, false, rng);
        check(isa, ta, tb, 64, 64, 0, 2.0f, 0.5f, 0, true, rng);
        check(isa, ta, tb, 40, 50, 1700, 0.5f, 0.5f, 1, true, rng);  // several K blocks
      }
    }
  }
  std::printf("%s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
