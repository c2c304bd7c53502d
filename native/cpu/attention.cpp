// Self-attention forward over packed sequences: the plain reference (double accumulation) and the
// threaded, vectorised variants (one task per sequence x head x block of query rows; each query row's
// scores live in a small thread-local buffer, so memory is O(T) per thread, never O(T^2)).
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"
#include "isa_target.h"

namespace splade {

void attention_forward_cpu(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH) {
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

// Query rows [i0, i1) of one sequence (rows s .. s+T-1) and one head; p is (T) scratch.
SPLADE_INLINE void attention_rows_body(float* out, const float* qkv, size_t s, size_t T, size_t i0, size_t i1,
                                       size_t h, size_t C, size_t d, float* p) {
  const size_t C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (size_t i = i0; i < i1; ++i) {
    const float* __restrict q = qkv + (s + i) * C3 + h * d;
    float mx = -INFINITY;
    for (size_t j = 0; j < T; ++j) {
      const float* __restrict k = qkv + (s + j) * C3 + C + h * d;
      float acc[kLanes] = {};
      size_t e = 0;
      for (; e + kLanes <= d; e += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += q[e + l] * k[e + l];
      float dot = 0;
      for (; e < d; ++e) dot += q[e] * k[e];
      for (int l = 0; l < kLanes; ++l) dot += acc[l];
      p[j] = dot * scale;
      mx = std::max(mx, p[j]);
    }
    float sum = 0;
    for (size_t j = 0; j < T; ++j) sum += (p[j] = std::exp(p[j] - mx));
    const float inv = 1.0f / sum;
    float* __restrict o = out + (s + i) * C + h * d;
    for (size_t e = 0; e < d; ++e) o[e] = 0.0f;
    for (size_t j = 0; j < T; ++j) {
      const float* __restrict v = qkv + (s + j) * C3 + 2 * C + h * d;
      const float pj = p[j] * inv;
      for (size_t e = 0; e < d; ++e) o[e] += pj * v[e];
    }
  }
}

SPLADE_ISA_VARIANTS(attention_rows, attention_rows_body,
                    (float* out, const float* qkv, size_t s, size_t T, size_t i0, size_t i1, size_t h, size_t C,
                     size_t d, float* p),
                    (out, qkv, s, T, i0, i1, h, C, d, p))

struct Task {
  size_t s, T, i0, i1, h;
};

}  // namespace

void attention_forward_isa(Isa isa, float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C,
                           size_t NH) {
  const size_t d = C / NH;
  constexpr size_t kRowBlock = 32;  // query rows per task: enough tasks to balance, few enough to be cheap
  std::vector<Task> tasks;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    for (size_t h = 0; h < NH; ++h)
      for (size_t i0 = 0; i0 < T; i0 += kRowBlock) tasks.push_back({s, T, i0, std::min(T, i0 + kRowBlock), h});
  }
  auto rows = SPLADE_PICK_ISA(isa, attention_rows);
  parallel_for(tasks.size(), [&](size_t t, int) {
    thread_local std::vector<float> p;
    const Task& k = tasks[t];
    if (p.size() < k.T) p.resize(k.T);
    rows(out, qkv, k.s, k.T, k.i0, k.i1, k.h, C, d, p.data());
  });
}

}  // namespace splade

namespace splade {

void attention_backward_cpu(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
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
