// SGEMM for any x86-64 (or other) CPU: the same blocked driver with a 4x8 micro-kernel in plain
// loops, which the compiler turns into SSE2 (8 xmm accumulators). The epilogue is scalar, with
// std::erfc through gelu_exact.
#include <algorithm>
#include <cstddef>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "gemm_isa.h"
#include "gemm_driver.h"

namespace splade::generic {
namespace {

struct Kernel {
  static constexpr size_t MR = 4, NR = 8;
  static constexpr size_t KC = 256, MC = 128, NC = 3072;
  static constexpr bool kRowKernels = false;
  static void kernel_rows(size_t, size_t, const float*, const float*, float*, size_t, float, float) {}

  // c (4 x 8, ld ldc) = alpha * a.b + beta * c; a is a packed (kc, 4) panel, b a packed (kc, 8) panel.
  static void kernel(size_t kc, const float* __restrict a, const float* __restrict b, float* c, size_t ldc,
                     float alpha, float beta) {
    float acc[MR][NR] = {};
    for (size_t k = 0; k < kc; ++k, a += MR, b += NR) {
      for (size_t i = 0; i < MR; ++i)
        for (size_t j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
    }
    for (size_t i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      for (size_t j = 0; j < NR; ++j) ci[j] = beta == 0.0f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * ci[j];
    }
  }

  static void pack_a(const GemmArgs& g, size_t m, size_t mr, size_t k0, size_t kc, float* dst) {
    gemm_driver::pack_a_plain<Kernel>(g, m, mr, k0, kc, dst);
  }
  static void pack_b(const GemmArgs& g, size_t n0, size_t nc, size_t k0, size_t kc, float* dst) {
    for (size_t jr = 0; jr < nc; jr += NR) gemm_driver::pack_b_plain<Kernel>(g, n0 + jr, std::min(NR, nc - jr), k0, kc, dst + jr * kc);
  }

  // c (rows, cols; ld ldc) += bias (cols) + residual (rows, cols; ld ldr), then the activation.
  static void epilogue(float* c, size_t ldc, size_t rows, size_t cols, const float* bias, const float* res,
                       size_t ldr, Activation act) {
    for (size_t i = 0; i < rows; ++i, c += ldc) {
      for (size_t j = 0; j < cols; ++j) {
        float v = c[j];
        if (bias) v += bias[j];
        if (res) v += res[i * ldr + j];
        c[j] = act == Activation::gelu ? gelu_exact(v) : v;
      }
    }
  }
};

}  // namespace

void sgemm(const GemmArgs& g) { gemm_driver::Driver<Kernel>::run(g); }
size_t packed_b_floats(size_t K, size_t N) { return gemm_driver::Driver<Kernel>::packed_b_floats(K, N); }
void pack_b(const GemmArgs& g, float* dst) { gemm_driver::Driver<Kernel>::pack_b_all(g, dst); }

// Register-only multiply-add loop (separate mul and add: SSE2 has no FMA), 16 chains of 4 lanes.
double fma_probe(size_t iters) {
  float acc[64];
  for (int i = 0; i < 64; ++i) acc[i] = static_cast<float>(i);
  for (size_t it = 0; it < iters; ++it)
    for (int i = 0; i < 64; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  float s = 0;
  for (float v : acc) s += v;
  return static_cast<double>(iters) * 64 * 2 + (s == 12345.0f ? 1 : 0);
}

}  // namespace splade::generic
