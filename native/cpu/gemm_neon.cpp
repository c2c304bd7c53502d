// SGEMM for arm64 (NEON, which every arm64 CPU has): an 8x12 micro-kernel with 24 q-register
// accumulators, two A vectors and three B vectors (29 of the 32 registers), each FMA taking its A
// value as a lane (fmla by element), NEON 4x4 transposes to pack the transposed operands, and the
// vectorised bias/residual/GELU epilogue of neon_math.h. The blocking loops are gemm_driver.h.
#include "../common/cpu_features.h"
#if defined(SPLADE_ARM64)  // arm64 only: other architectures never choose the NEON kernels

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "gemm_driver.h"
#include "gemm_isa.h"
#include "neon_math.h"

namespace splade::neon {
namespace {

// Rows r[0..3] (4 floats each) become columns.
inline void transpose4(float32x4_t& r0, float32x4_t& r1, float32x4_t& r2, float32x4_t& r3) {
  const float32x4x2_t t01 = vtrnq_f32(r0, r1), t23 = vtrnq_f32(r2, r3);
  r0 = vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0]));
  r1 = vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1]));
  r2 = vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0]));
  r3 = vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1]));
}

// dst (kc, ld) row-major, columns [0, 4 * groups): the transpose of `4 * groups` rows of src (ld lds)
// starting at k = 0, 4 k at a time; the k tail is copied one by one.
inline void pack_transposed(const float* src, size_t lds, size_t groups, size_t kc, float* dst, size_t ld) {
  size_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    for (size_t g = 0; g < groups; ++g) {
      const float* s = src + 4 * g * lds + k;
      float32x4_t r0 = vld1q_f32(s), r1 = vld1q_f32(s + lds), r2 = vld1q_f32(s + 2 * lds), r3 = vld1q_f32(s + 3 * lds);
      transpose4(r0, r1, r2, r3);
      float* d = dst + k * ld + 4 * g;
      vst1q_f32(d, r0), vst1q_f32(d + ld, r1), vst1q_f32(d + 2 * ld, r2), vst1q_f32(d + 3 * ld, r3);
    }
  }
  for (; k < kc; ++k)
    for (size_t i = 0; i < 4 * groups; ++i) dst[k * ld + i] = src[i * lds + k];
}

struct Kernel {
  static constexpr size_t MR = 8, NR = 12;
  // A 24 KiB B micro-panel (KC 512 x 12) stays in a 64 KiB L1 (Neoverse V1/N2, Apple cores have more),
  // the A block (MC 128 x KC 512, 256 KiB) in a 1 MiB L2, and the B block (KC 512 x NC 1536, 3 MiB)
  // in the last-level cache. Not tuned on hardware: the x86 kernels' shape of blocking, sized for it.
  static constexpr size_t KC = 512, MC = 128, NC = 1536;
  static constexpr bool kPrefetchNextB = false;  // no kernel_next
  static constexpr bool kRowKernels = false;
  static void kernel_rows(size_t, size_t, const float*, const float*, float*, size_t, float, float) {}

  // c (8 x 12, ld ldc) = alpha * a.b + beta * c; a is a packed (kc, 8) panel, b a packed (kc, 12) panel.
  static void kernel(size_t kc, const float* __restrict a, const float* __restrict b, float* c, size_t ldc, float alpha,
                     float beta) {
    const float32x4_t zero = vdupq_n_f32(0.0f);
    float32x4_t c00 = zero, c01 = zero, c02 = zero, c10 = zero, c11 = zero, c12 = zero;
    float32x4_t c20 = zero, c21 = zero, c22 = zero, c30 = zero, c31 = zero, c32 = zero;
    float32x4_t c40 = zero, c41 = zero, c42 = zero, c50 = zero, c51 = zero, c52 = zero;
    float32x4_t c60 = zero, c61 = zero, c62 = zero, c70 = zero, c71 = zero, c72 = zero;
#define SPLADE_ROW(i, av, lane)                   \
  c##i##0 = vfmaq_laneq_f32(c##i##0, b0, av, lane); \
  c##i##1 = vfmaq_laneq_f32(c##i##1, b1, av, lane); \
  c##i##2 = vfmaq_laneq_f32(c##i##2, b2, av, lane);
    for (size_t k = 0; k < kc; ++k, a += MR, b += NR) {
      const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
      const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
      SPLADE_ROW(0, a0, 0) SPLADE_ROW(1, a0, 1) SPLADE_ROW(2, a0, 2) SPLADE_ROW(3, a0, 3)
      SPLADE_ROW(4, a1, 0) SPLADE_ROW(5, a1, 1) SPLADE_ROW(6, a1, 2) SPLADE_ROW(7, a1, 3)
    }
#undef SPLADE_ROW
    const float32x4_t va = vdupq_n_f32(alpha), vb = vdupq_n_f32(beta);
    const bool read_c = beta != 0.0f;
#define SPLADE_STORE(i)                                                                   \
  {                                                                                       \
    float* ci = c + i * ldc;                                                              \
    float32x4_t v0 = vmulq_f32(va, c##i##0), v1 = vmulq_f32(va, c##i##1), v2 = vmulq_f32(va, c##i##2); \
    if (read_c) {                                                                         \
      v0 = vfmaq_f32(v0, vb, vld1q_f32(ci));                                              \
      v1 = vfmaq_f32(v1, vb, vld1q_f32(ci + 4));                                          \
      v2 = vfmaq_f32(v2, vb, vld1q_f32(ci + 8));                                          \
    }                                                                                     \
    vst1q_f32(ci, v0), vst1q_f32(ci + 4, v1), vst1q_f32(ci + 8, v2);                      \
  }
    SPLADE_STORE(0) SPLADE_STORE(1) SPLADE_STORE(2) SPLADE_STORE(3)
    SPLADE_STORE(4) SPLADE_STORE(5) SPLADE_STORE(6) SPLADE_STORE(7)
#undef SPLADE_STORE
  }

  static void pack_a(const GemmArgs& g, size_t m, size_t mr, size_t k0, size_t kc, float* dst) {
    // A is (M, K): transpose 8 rows as two groups of 4, 4 k at a time.
    if (g.ta == Trans::no && mr == MR) return pack_transposed(g.A + m * g.lda + k0, g.lda, 2, kc, dst, MR);
    gemm_driver::pack_a_plain<Kernel>(g, m, mr, k0, kc, dst);
  }

  // The B block (kc x nc from k0, n0) as ceil(nc / 12) panels of (kc, 12).
  static void pack_b(const GemmArgs& g, size_t n0, size_t nc, size_t k0, size_t kc, float* dst) {
    for (size_t jr = 0; jr < nc; jr += NR) {
      const size_t cols = std::min(NR, nc - jr);
      if (g.tb == Trans::yes && cols == NR)  // B is (N, K): transpose 12 rows as three groups of 4
        pack_transposed(g.B + (n0 + jr) * g.ldb + k0, g.ldb, 3, kc, dst + jr * kc, NR);
      else
        gemm_driver::pack_b_plain<Kernel>(g, n0 + jr, cols, k0, kc, dst + jr * kc);
    }
  }

  static void epilogue(float* c, size_t ldc, size_t rows, size_t cols, const float* bias, const float* res,
                       size_t ldr, Activation act) {
    neon_math::epilogue(c, ldc, rows, cols, bias, res, ldr, act);
  }
};

}  // namespace

void sgemm(const GemmArgs& g) { gemm_driver::Driver<Kernel>::run(g); }
size_t packed_b_floats(size_t K, size_t N) { return gemm_driver::Driver<Kernel>::packed_b_floats(K, N); }
void pack_b(const GemmArgs& g, float* dst) { gemm_driver::Driver<Kernel>::pack_b_all(g, dst); }

// Register-only FMA loop: 16 independent chains cover two to four FMA pipes x 4-cycle latency.
double fma_probe(size_t iters) {
  float32x4_t acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = vdupq_n_f32(static_cast<float>(i));
  const float32x4_t m = vdupq_n_f32(0.999999f), add = vdupq_n_f32(1e-7f);
  for (size_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = vfmaq_f32(add, acc[i], m);
  }
  float32x4_t s = acc[0];
  for (int i = 1; i < 16; ++i) s = vaddq_f32(s, acc[i]);
  return static_cast<double>(iters) * 16 * 4 * 2 + (vgetq_lane_f32(s, 0) == 12345.0f ? 1 : 0);  // flops; keeps s live
}

}  // namespace splade::neon

#endif  // SPLADE_ARM64
