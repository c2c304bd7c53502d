// Self-attention forward over packed sequences: the plain reference (double accumulation) and the
// threaded variants (one task per sequence x head: two SGEMMs and a vectorised softmax; the T x T
// scores of the task's head live in a thread-local buffer, O(T^2) per thread, 1 MiB at T = 512).
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "isa_target.h"

namespace splade {

void attention_forward_ref(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH) {
  const size_t d = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> p;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    p.assign(T, 0.0);
    for (size_t h = 0; h < NH; ++h) {
      for (size_t i = 0; i < T; ++i) {
        const float* q = qkv + (s + i) * C3 + h * d;
        double mx = -INFINITY;
        for (size_t j = 0; j < T; ++j) {
          const float* k = qkv + (s + j) * C3 + C + h * d;
          double dot = 0;
          for (size_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * k[e];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (size_t j = 0; j < T; ++j) sum += (p[j] = std::exp(p[j] - mx));
        float* o = out + (s + i) * C + h * d;
        for (size_t e = 0; e < d; ++e) {
          double acc = 0;
          for (size_t j = 0; j < T; ++j) acc += p[j] * qkv[(s + j) * C3 + 2 * C + h * d + e];
          o[e] = static_cast<float>(acc / sum);
        }
      }
    }
  }
}

namespace {

constexpr int kLanes = 8;

// exp(x) for x <= 0 (softmax after subtracting the row max): Cephes' expf polynomial on a range
// reduction by ln 2, about 2 ulp, in plain arithmetic the compiler vectorises (libm's expf is a call
// per element); below -87.3 (a subnormal result) it gives 0.
SPLADE_INLINE float exp_nonpositive(float x) {
  const float lo = -87.33654f;
  const bool under = x < lo;
  x = x < lo ? lo : x;
  // round to nearest by the 1.5 * 2^23 trick (roundf is a libm call; this is two vector adds)
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * (r * r) + (r + 1.0f);
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, 4);
  return under ? 0.0f : e * scale;
}

// Row-wise softmax of s (rows, T), in place; row stride ld.
SPLADE_INLINE void softmax_rows_body(float* s, size_t rows, size_t T, size_t ld) {
  for (size_t i = 0; i < rows; ++i) {
    float* __restrict p = s + i * ld;
    // the maximum in kLanes lanes (a serial max does not vectorise; a max is the same in any order)
    float lane_max[kLanes];
    for (int l = 0; l < kLanes; ++l) lane_max[l] = -INFINITY;
    size_t m = 0;
    for (; m + kLanes <= T; m += kLanes)
      for (int l = 0; l < kLanes; ++l) lane_max[l] = std::max(lane_max[l], p[m + l]);
    float mx = -INFINITY;
    for (; m < T; ++m) mx = std::max(mx, p[m]);
    for (int l = 0; l < kLanes; ++l) mx = std::max(mx, lane_max[l]);
    float acc[kLanes] = {};
    size_t j = 0;
    for (; j + kLanes <= T; j += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += (p[j + l] = exp_nonpositive(p[j + l] - mx));
    float sum = 0;
    for (; j < T; ++j) sum += (p[j] = exp_nonpositive(p[j] - mx));
    for (int l = 0; l < kLanes; ++l) sum += acc[l];
    const float inv = 1.0f / sum;
    for (size_t k = 0; k < T; ++k) p[k] *= inv;
  }
}

SPLADE_ISA_VARIANTS(softmax_rows, softmax_rows_body, (float* s, size_t rows, size_t T, size_t ld), (s, rows, T, ld))

}  // namespace

}  // namespace splade

#if defined(__x86_64__) || defined(_M_X64)
#include "avx2_region_push.h"
#include "gemm_ymm.h"

namespace splade {
namespace {

// softmax_rows_body in AVX2 intrinsics for avx2 and avx512: GCC leaves exp_nonpositive's loop scalar
// (perf: vmovss / vfmadd132ss, a branch an element), so the exp is ymm::exp_neg, 8 lanes at a time.
void softmax_rows_ymm(float* s, size_t rows, size_t T, size_t ld) {
  for (size_t i = 0; i < rows; ++i) {
    float* p = s + i * ld;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    size_t j = 0;
    for (; j + 8 <= T; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(p + j));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, vmax);
    float mx = -INFINITY;
    for (float l : lanes) mx = std::max(mx, l);
    for (; j < T; ++j) mx = std::max(mx, p[j]);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    j = 0;
    for (; j + 8 <= T; j += 8) {
      const __m256 e = ymm::exp_neg(_mm256_sub_ps(_mm256_loadu_ps(p + j), vmx));
      _mm256_storeu_ps(p + j, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    _mm256_store_ps(lanes, vsum);
    float sum = 0;
    for (; j < T; ++j) sum += (p[j] = exp_nonpositive(p[j] - mx));
    for (float l : lanes) sum += l;
    const float inv = 1.0f / sum;
    j = 0;
    for (; j + 8 <= T; j += 8) _mm256_storeu_ps(p + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_set1_ps(inv)));
    for (; j < T; ++j) p[j] *= inv;
  }
}

}  // namespace
}  // namespace splade

#include "target_region_pop.h"
#endif

namespace splade {

// One task per (sequence, head), as two SGEMMs on strided views of qkv: S = Q_h K_h^T / sqrt(d)
// (T x T, in a thread-local buffer), row softmax, O_h = S V_h written straight into out's head columns.
// The SGEMMs run serially inside the task (a call from inside a parallel region does), so the threads
// split the (sequence, head) pairs, longest sequences first.
void attention_forward_isa(Isa isa, float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C,
                           size_t NH) {
  const size_t d = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<int> order(static_cast<size_t>(B));
  for (int b = 0; b < B; ++b) order[static_cast<size_t>(b)] = b;
  auto len = [&](int b) { return cu_seqlens[b + 1] - cu_seqlens[b]; };
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return len(x) > len(y); });
  auto softmax = SPLADE_PICK_ISA(isa, softmax_rows);
#if defined(__x86_64__) || defined(_M_X64)
  if (isa == Isa::avx2 || isa == Isa::avx512) softmax = softmax_rows_ymm;
#endif
  parallel_for(static_cast<size_t>(B) * NH, [&](size_t t, int) {
    thread_local std::vector<float> s;
    const int b = order[t / NH];
    const size_t h = t % NH, s0 = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(len(b));
    if (s.size() < T * T) s.resize(T * T);
    const float* q = qkv + s0 * C3 + h * d;
    GemmArgs g;
    g.ta = Trans::no; g.tb = Trans::yes; g.M = T; g.N = T; g.K = d; g.alpha = scale;
    g.A = q; g.lda = C3; g.B = q + C; g.ldb = C3; g.C = s.data(); g.ldc = T;
    sgemm_isa(isa, g);
    softmax(s.data(), T, T, T);
    GemmArgs o;
    o.ta = Trans::no; o.tb = Trans::no; o.M = T; o.N = d; o.K = T;
    o.A = s.data(); o.lda = T; o.B = q + 2 * C; o.ldb = C3; o.C = out + s0 * C + h * d; o.ldc = C;
    sgemm_isa(isa, o);
  });
}

}  // namespace splade

namespace splade {

void attention_backward_ref(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                            size_t C, size_t NH) {
  const size_t d = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> p, dp;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    p.assign(T, 0.0);
    dp.assign(T, 0.0);
    for (size_t h = 0; h < NH; ++h) {
      const size_t qo = h * d, ko = C + h * d, vo = 2 * C + h * d;
      for (size_t i = 0; i < T; ++i) {
        const float* q = qkv + (s + i) * C3 + qo;
        const float* g = dout + (s + i) * C + h * d;
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < T; ++j) {
          double dot = 0;
          for (size_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * qkv[(s + j) * C3 + ko + e];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        for (size_t j = 0; j < T; ++j) sum += (p[j] = std::exp(p[j] - mx));
        double pdp = 0;
        for (size_t j = 0; j < T; ++j) {
          p[j] /= sum;
          double v = 0;  // dP_ij = dout_i . v_j
          for (size_t e = 0; e < d; ++e) v += static_cast<double>(g[e]) * qkv[(s + j) * C3 + vo + e];
          dp[j] = v;
          pdp += p[j] * v;
          float* dv = dqkv + (s + j) * C3 + vo;  // dV_j += P_ij dout_i
          for (size_t e = 0; e < d; ++e) dv[e] += static_cast<float>(p[j] * g[e]);
        }
        float* dq = dqkv + (s + i) * C3 + qo;
        for (size_t j = 0; j < T; ++j) {
          const double ds = p[j] * (dp[j] - pdp) * scale;  // through softmax, then the 1/sqrt(d) scale
          const float* k = qkv + (s + j) * C3 + ko;
          float* dk = dqkv + (s + j) * C3 + ko;
          for (size_t e = 0; e < d; ++e) {
            dq[e] += static_cast<float>(ds * k[e]);
            dk[e] += static_cast<float>(ds * q[e]);
          }
        }
      }
    }
  }
}

}  // namespace splade

namespace splade {
namespace {

// One sequence (rows s .. s+T-1) and head h, all query rows; p, dp are (T) scratch. Only this task
// touches the head's columns of these rows, so dq / dk / dv need no synchronisation.
SPLADE_INLINE void attention_backward_task_body(float* dqkv, const float* dout, const float* qkv, size_t s, size_t T,
                                                size_t h, size_t C, size_t d, float* p, float* dp) {
  const size_t C3 = 3 * C, qo = h * d, ko = C + h * d, vo = 2 * C + h * d;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (size_t i = 0; i < T; ++i) {
    const float* __restrict q = qkv + (s + i) * C3 + qo;
    const float* __restrict g = dout + (s + i) * C + h * d;
    float mx = -INFINITY;
    for (size_t j = 0; j < T; ++j) {
      const float* __restrict k = qkv + (s + j) * C3 + ko;
      const float* __restrict v = qkv + (s + j) * C3 + vo;
      float a[kLanes] = {}, b[kLanes] = {};
      size_t e = 0;
      for (; e + kLanes <= d; e += kLanes)
        for (int l = 0; l < kLanes; ++l) {
          a[l] += q[e + l] * k[e + l];
          b[l] += g[e + l] * v[e + l];
        }
      float sa = 0, sb = 0;
      for (; e < d; ++e) sa += q[e] * k[e], sb += g[e] * v[e];
      for (int l = 0; l < kLanes; ++l) sa += a[l], sb += b[l];
      p[j] = sa * scale;
      dp[j] = sb;
      mx = std::max(mx, p[j]);
    }
    float sum = 0;
    for (size_t j = 0; j < T; ++j) sum += (p[j] = std::exp(p[j] - mx));
    const float inv = 1.0f / sum;
    float pdp = 0;
    for (size_t j = 0; j < T; ++j) {
      p[j] *= inv;
      pdp += p[j] * dp[j];
    }
    float* __restrict dq = dqkv + (s + i) * C3 + qo;
    for (size_t j = 0; j < T; ++j) {
      const float pj = p[j], ds = pj * (dp[j] - pdp) * scale;
      const float* __restrict k = qkv + (s + j) * C3 + ko;
      float* __restrict dk = dqkv + (s + j) * C3 + ko;
      float* __restrict dv = dqkv + (s + j) * C3 + vo;
      for (size_t e = 0; e < d; ++e) {
        dq[e] += ds * k[e];
        dk[e] += ds * q[e];
        dv[e] += pj * g[e];
      }
    }
  }
}

SPLADE_ISA_VARIANTS(attention_backward_task, attention_backward_task_body,
                    (float* dqkv, const float* dout, const float* qkv, size_t s, size_t T, size_t h, size_t C, size_t d,
                     float* p, float* dp),
                    (dqkv, dout, qkv, s, T, h, C, d, p, dp))

}  // namespace

void attention_backward_isa(Isa isa, float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens,
                            int B, size_t C, size_t NH) {
  const size_t d = C / NH;
  auto task = SPLADE_PICK_ISA(isa, attention_backward_task);
  parallel_for(static_cast<size_t>(B) * NH, [&](size_t t, int) {
    thread_local std::vector<float> p, dp;
    const size_t b = t / NH, h = t % NH;
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    if (p.size() < T) p.resize(T), dp.resize(T);
    task(dqkv, dout, qkv, s, T, h, C, d, p.data(), dp.data());
  });
}

}  // namespace splade
