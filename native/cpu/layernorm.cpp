// LayerNorm forward: the plain reference (double statistics) and the vectorised, threaded variants.
#include "layernorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"
#include "isa_target.h"

namespace splade {

void layernorm_forward_ref(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, size_t N, size_t C, float eps) {
  for (size_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    double m = 0;
    for (size_t c = 0; c < C; ++c) m += x[c];
    m /= static_cast<double>(C);
    double v = 0;
    for (size_t c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    v /= static_cast<double>(C);
    const double r = 1.0 / std::sqrt(v + eps);
    float* o = out + n * C;
    for (size_t c = 0; c < C; ++c) o[c] = static_cast<float>((x[c] - m) * r * weight[c] + bias[c]);
    if (mean) mean[n] = static_cast<float>(m);
    if (rstd) rstd[n] = static_cast<float>(r);
  }
}

namespace {

constexpr int kLanes = 16;

SPLADE_INLINE void layernorm_rows_body(size_t begin, size_t end, float* out, float* mean, float* rstd,
                                       const float* inp, const float* weight, const float* bias, size_t C, float eps) {
  for (size_t n = begin; n < end; ++n) {
    const float* x = inp + n * C;
    float acc[kLanes] = {};
    size_t c = 0;
    for (; c + kLanes <= C; c += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += x[c + l];
    float s = 0;
    for (; c < C; ++c) s += x[c];
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    const float m = s / static_cast<float>(C);
    float acc2[kLanes] = {};
    for (c = 0; c + kLanes <= C; c += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float d = x[c + l] - m;
        acc2[l] += d * d;
      }
    float v = 0;
    for (; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    for (int l = 0; l < kLanes; ++l) v += acc2[l];
    const float r = 1.0f / std::sqrt(v / static_cast<float>(C) + eps);
    float* o = out + n * C;
    for (c = 0; c < C; ++c) o[c] = (x[c] - m) * r * weight[c] + bias[c];
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = r;
  }
}

SPLADE_ISA_VARIANTS(layernorm_rows, layernorm_rows_body,
                    (size_t begin, size_t end, float* out, float* mean, float* rstd, const float* inp,
                     const float* weight, const float* bias, size_t C, float eps),
                    (begin, end, out, mean, rstd, inp, weight, bias, C, eps))

}  // namespace

void layernorm_forward_isa(Isa isa, float* out, float* mean, float* rstd, const float* inp, const float* weight,
                           const float* bias, size_t N, size_t C, float eps) {
  auto rows = SPLADE_PICK_ISA(isa, layernorm_rows);
  parallel_range(N, [&](size_t begin, size_t end, int) { rows(begin, end, out, mean, rstd, inp, weight, bias, C, eps); });
}

}  // namespace splade

namespace splade {

void layernorm_backward_ref(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
  for (size_t n = 0; n < N; ++n) {
    const float* g = dout + n * C;
    const float* x = inp + n * C;
    const double m = mean[n], r = rstd[n];
    double dnorm_mean = 0, dnorm_xhat_mean = 0;
    for (size_t c = 0; c < C; ++c) {
      const double xhat = (x[c] - m) * r, dnorm = static_cast<double>(g[c]) * weight[c];
      dnorm_mean += dnorm;
      dnorm_xhat_mean += dnorm * xhat;
    }
    dnorm_mean /= static_cast<double>(C);
    dnorm_xhat_mean /= static_cast<double>(C);
    float* di = dinp + n * C;
    for (size_t c = 0; c < C; ++c) {
      const double xhat = (x[c] - m) * r, dnorm = static_cast<double>(g[c]) * weight[c];
      dbias[c] += g[c];
      dweight[c] += static_cast<float>(g[c] * xhat);
      di[c] += static_cast<float>(r * (dnorm - dnorm_mean - xhat * dnorm_xhat_mean));
    }
  }
}

}  // namespace splade

namespace splade {
namespace {

// rows [begin, end): dinp rows, and this thread's partial dweight / dbias (C each)
SPLADE_INLINE void layernorm_backward_rows_body(size_t begin, size_t end, float* dinp, float* dw_part, float* db_part,
                                                const float* dout, const float* inp, const float* weight,
                                                const float* mean, const float* rstd, size_t C) {
  for (size_t n = begin; n < end; ++n) {
    const float* __restrict g = dout + n * C;
    const float* __restrict x = inp + n * C;
    const float m = mean[n], r = rstd[n];
    float a1[kLanes] = {}, a2[kLanes] = {};
    size_t c = 0;
    for (; c + kLanes <= C; c += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float dn = g[c + l] * weight[c + l];
        a1[l] += dn;
        a2[l] += dn * (x[c + l] - m) * r;
      }
    float s1 = 0, s2 = 0;
    for (; c < C; ++c) {
      const float dn = g[c] * weight[c];
      s1 += dn;
      s2 += dn * (x[c] - m) * r;
    }
    for (int l = 0; l < kLanes; ++l) s1 += a1[l], s2 += a2[l];
    s1 /= static_cast<float>(C);
    s2 /= static_cast<float>(C);
    float* __restrict di = dinp + n * C;
    for (c = 0; c < C; ++c) {
      const float xhat = (x[c] - m) * r;
      db_part[c] += g[c];
      dw_part[c] += g[c] * xhat;
      di[c] += r * (g[c] * weight[c] - s1 - xhat * s2);
    }
  }
}

SPLADE_ISA_VARIANTS(layernorm_backward_rows, layernorm_backward_rows_body,
                    (size_t begin, size_t end, float* dinp, float* dw_part, float* db_part, const float* dout,
                     const float* inp, const float* weight, const float* mean, const float* rstd, size_t C),
                    (begin, end, dinp, dw_part, db_part, dout, inp, weight, mean, rstd, C))

}  // namespace

void layernorm_backward_isa(Isa isa, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                            const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
  // Partial sums per fixed row range (not per executing thread, which varies from run to run), reduced
  // in range order: the result is bitwise the same on every run with the same thread count.
  const size_t parts = std::max<size_t>(1, std::min(N, static_cast<size_t>(num_threads())));
  std::vector<float> part(2 * parts * C, 0.0f);  // per range: dweight (C) | dbias (C)
  auto rows = SPLADE_PICK_ISA(isa, layernorm_backward_rows);
  parallel_for(parts, [&](size_t p, int) {
    float* acc = part.data() + 2 * p * C;
    rows(N * p / parts, N * (p + 1) / parts, dinp, acc, acc + C, dout, inp, weight, mean, rstd, C);
  });
  for (size_t p = 0; p < parts; ++p)
    for (size_t c = 0; c < C; ++c) {
      dweight[c] += part[2 * p * C + c];
      dbias[c] += part[(2 * p + 1) * C + c];
    }
}

}  // namespace splade
