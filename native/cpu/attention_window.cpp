// Sliding-window attention; see attention_window.h. The reference loops over each query's window in
// double. The fast path runs one task per (sequence, head) and, within it, blocks of kRows query rows
// against the keys their windows reach ([i0 - window, i1 + window) clipped to the sequence), as small
// SGEMMs (serial inside the task) with the positions outside each row's window masked before the
// softmax; a task owns its head's columns of its rows, so the backward's += need no synchronisation.
// A window covering the whole sequence is plain global attention (the forward calls attention.h's).
#include "attention_window.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"
#include "attention.h"
#include "gemm.h"

namespace splade {
namespace {

constexpr size_t kRows = 64;

// The keys [lo, hi) that query i of a T-token sequence sees.
inline size_t window_lo(size_t i, size_t w) { return i > w ? i - w : 0; }
inline size_t window_hi(size_t i, size_t w, size_t T) { return std::min(T, i + w + 1); }

// Softmax over the window of p's row (p[k] for keys k0 + k, k < n), probabilities of the keys outside
// set to 0; the row of scores was scaled already. Double for the reference, float for the fast path.
template <class F>
void window_softmax(F* p, size_t n, size_t k0, size_t lo, size_t hi) {
  F mx = -INFINITY;
  for (size_t j = lo; j < hi; ++j) mx = std::max(mx, p[j - k0]);
  F sum = 0;
  for (size_t k = 0; k < n; ++k) {
    const size_t j = k0 + k;
    p[k] = (j >= lo && j < hi) ? std::exp(p[k] - mx) : F(0);
    sum += p[k];
  }
  const F inv = F(1) / sum;
  for (size_t k = 0; k < n; ++k) p[k] *= inv;
}

size_t longest(const int32_t* cu, int B) {
  size_t T = 0;
  for (int b = 0; b < B; ++b) T = std::max(T, static_cast<size_t>(cu[b + 1] - cu[b]));
  return T;
}

}  // namespace

void attention_window_forward_ref(float* out, const float* qkv, const int32_t* cu, int B, size_t C, size_t NH,
                                  size_t w) {
  const size_t d = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> p;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu[b]), T = static_cast<size_t>(cu[b + 1]) - s;
    p.assign(T, 0.0);
    for (size_t h = 0; h < NH; ++h)
      for (size_t i = 0; i < T; ++i) {
        const size_t lo = window_lo(i, w), hi = window_hi(i, w, T);
        const float* q = qkv + (s + i) * C3 + h * d;
        for (size_t j = 0; j < T; ++j) {
          double dot = 0;
          for (size_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * qkv[(s + j) * C3 + C + h * d + e];
          p[j] = dot * scale;
        }
        window_softmax(p.data(), T, 0, lo, hi);
        for (size_t e = 0; e < d; ++e) {
          double acc = 0;
          for (size_t j = lo; j < hi; ++j) acc += p[j] * qkv[(s + j) * C3 + 2 * C + h * d + e];
          out[(s + i) * C + h * d + e] = static_cast<float>(acc);
        }
      }
  }
}

void attention_window_backward_ref(float* dqkv, const float* dout, const float* qkv, const int32_t* cu, int B, size_t C,
                                   size_t NH, size_t w) {
  const size_t d = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> p, dp;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu[b]), T = static_cast<size_t>(cu[b + 1]) - s;
    p.assign(T, 0.0);
    dp.assign(T, 0.0);
    for (size_t h = 0; h < NH; ++h) {
      const size_t qo = h * d, ko = C + h * d, vo = 2 * C + h * d;
      for (size_t i = 0; i < T; ++i) {
        const size_t lo = window_lo(i, w), hi = window_hi(i, w, T);
        const float* q = qkv + (s + i) * C3 + qo;
        const float* g = dout + (s + i) * C + h * d;
        for (size_t j = 0; j < T; ++j) {
          double dot = 0;
          for (size_t e = 0; e < d; ++e) dot += static_cast<double>(q[e]) * qkv[(s + j) * C3 + ko + e];
          p[j] = dot * scale;
        }
        window_softmax(p.data(), T, 0, lo, hi);
        double pdp = 0;
        for (size_t j = lo; j < hi; ++j) {
          double v = 0;  // dP_ij = dout_i . v_j
          for (size_t e = 0; e < d; ++e) v += static_cast<double>(g[e]) * qkv[(s + j) * C3 + vo + e];
          dp[j] = v;
          pdp += p[j] * v;
          for (size_t e = 0; e < d; ++e) dqkv[(s + j) * C3 + vo + e] += static_cast<float>(p[j] * g[e]);
        }
        for (size_t j = lo; j < hi; ++j) {
          const double ds = p[j] * (dp[j] - pdp) * scale;
          for (size_t e = 0; e < d; ++e) {
            dqkv[(s + i) * C3 + qo + e] += static_cast<float>(ds * qkv[(s + j) * C3 + ko + e]);
            dqkv[(s + j) * C3 + ko + e] += static_cast<float>(ds * q[e]);
          }
        }
      }
    }
  }
}

void attention_window_forward(float* out, const float* qkv, const int32_t* cu, int B, size_t C, size_t NH, size_t w) {
  if (w + 1 >= longest(cu, B)) return attention_forward(out, qkv, cu, B, C, NH);
  const size_t d = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  parallel_for(static_cast<size_t>(B) * NH, [&](size_t task, int) {
    thread_local std::vector<float> S;
    const size_t b = task / NH, h = task % NH;
    const size_t s = static_cast<size_t>(cu[b]), T = static_cast<size_t>(cu[b + 1]) - s;
    const float* q = qkv + s * C3 + h * d;
    for (size_t i0 = 0; i0 < T; i0 += kRows) {
      const size_t i1 = std::min(T, i0 + kRows), R = i1 - i0;
      const size_t k0 = window_lo(i0, w), k1 = window_hi(i1 - 1, w, T), K = k1 - k0;
      if (S.size() < R * K) S.resize(R * K);
      sgemm(Trans::no, Trans::yes, R, K, d, scale, q + i0 * C3, C3, q + C + k0 * C3, C3, 0.0f, S.data(), K);
      for (size_t r = 0; r < R; ++r)
        window_softmax(S.data() + r * K, K, k0, window_lo(i0 + r, w), window_hi(i0 + r, w, T));
      sgemm(Trans::no, Trans::no, R, d, K, 1.0f, S.data(), K, q + 2 * C + k0 * C3, C3, 0.0f, out + (s + i0) * C + h * d, C);
    }
  });
}

void attention_window_backward(float* dqkv, const float* dout, const float* qkv, const int32_t* cu, int B, size_t C,
                               size_t NH, size_t w) {
  const size_t d = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  parallel_for(static_cast<size_t>(B) * NH, [&](size_t task, int) {
    thread_local std::vector<float> P, dP;
    const size_t b = task / NH, h = task % NH;
    const size_t s = static_cast<size_t>(cu[b]), T = static_cast<size_t>(cu[b + 1]) - s;
    const float* q = qkv + s * C3 + h * d;
    const float* k = q + C;
    const float* v = q + 2 * C;
    const float* g = dout + s * C + h * d;
    float* dq = dqkv + s * C3 + h * d;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    for (size_t i0 = 0; i0 < T; i0 += kRows) {
      const size_t i1 = std::min(T, i0 + kRows), R = i1 - i0;
      const size_t k0 = window_lo(i0, w), k1 = window_hi(i1 - 1, w, T), K = k1 - k0;
      if (P.size() < R * K) P.resize(R * K), dP.resize(R * K);
      sgemm(Trans::no, Trans::yes, R, K, d, scale, q + i0 * C3, C3, k + k0 * C3, C3, 0.0f, P.data(), K);
      for (size_t r = 0; r < R; ++r) window_softmax(P.data() + r * K, K, k0, window_lo(i0 + r, w), window_hi(i0 + r, w, T));
      sgemm(Trans::yes, Trans::no, K, d, R, 1.0f, P.data(), K, g + i0 * C, C, 1.0f, dv + k0 * C3, C3);       // dV += P^T dO
      sgemm(Trans::no, Trans::yes, R, K, d, 1.0f, g + i0 * C, C, v + k0 * C3, C3, 0.0f, dP.data(), K);       // dP = dO V^T
      for (size_t r = 0; r < R; ++r) {  // dS = P (dP - rowsum(P dP)) scale (0 outside the window, where P is)
        float* __restrict x = dP.data() + r * K;
        const float* __restrict p = P.data() + r * K;
        float pdp = 0;
        for (size_t j = 0; j < K; ++j) pdp += p[j] * x[j];
        for (size_t j = 0; j < K; ++j) x[j] = p[j] * (x[j] - pdp) * scale;
      }
      sgemm(Trans::no, Trans::no, R, d, K, 1.0f, dP.data(), K, k + k0 * C3, C3, 1.0f, dq + i0 * C3, C3);     // dQ += dS K
      sgemm(Trans::yes, Trans::no, K, d, R, 1.0f, dP.data(), K, q + i0 * C3, C3, 1.0f, dk + k0 * C3, C3);    // dK += dS^T Q
    }
  });
}

}  // namespace splade
