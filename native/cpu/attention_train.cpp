// Training attention (see attention_train.h): the double reference with the dropout mask, and the fast
// variants as per-(sequence, head) block GEMMs.
#include "attention_train.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"
#include "attention.h"
#include "gemm.h"

namespace splade {

void dropout_apply(float* x, size_t n, const DropoutMask& m, size_t offset) {
  if (!m.active) return;
  parallel_range(n, [&](size_t begin, size_t end, int) {
    for (size_t i = begin; i < end; ++i) x[i] *= m.factor(offset + i);
  });
}

// The reference in matrix form, per (sequence, head), in double: S = Q K^T / sqrt(d), P = softmax rows,
// F = the mask factors, O = (P .* F) V; backward: dV = (P .* F)^T dO, dP = (dO V^T) .* F,
// dS = P .* (dP - rowsum(P .* dP)) / sqrt(d), dQ = dS K, dK = dS^T Q.
namespace {

struct HeadMatrices {
  size_t T = 0;
  std::vector<double> P, F;  // (T,T) probabilities and mask factors
};

// P and F of sequence rows [s, s+T) and head h.
void head_probabilities(HeadMatrices& hm, const float* qkv, size_t s, size_t T, size_t h, size_t C, size_t NH,
                        const DropoutMask& m) {
  const size_t d = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  hm.T = T;
  hm.P.assign(T * T, 0.0);
  hm.F.assign(T * T, 1.0);
  for (size_t i = 0; i < T; ++i) {
    double* row = hm.P.data() + i * T;
    for (size_t j = 0; j < T; ++j)
      for (size_t e = 0; e < d; ++e) row[j] += double(qkv[(s + i) * C3 + h * d + e]) * qkv[(s + j) * C3 + C + h * d + e];
    const double mx = *std::max_element(row, row + T) * scale;
    double z = 0;
    for (size_t j = 0; j < T; ++j) z += (row[j] = std::exp(row[j] * scale - mx));
    for (size_t j = 0; j < T; ++j) row[j] /= z;
    if (!m.active) continue;
    const uint64_t rk = m.row_key((s + i) * NH + h);
    for (size_t j = 0; j < T; ++j) hm.F[i * T + j] = m.factor_in_row(rk, j);
  }
}

}  // namespace

void attention_train_forward_ref(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                                 const DropoutMask& m) {
  const size_t d = C / NH, C3 = 3 * C;
  HeadMatrices hm;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    for (size_t h = 0; h < NH; ++h) {
      head_probabilities(hm, qkv, s, T, h, C, NH, m);
      for (size_t i = 0; i < T; ++i)
        for (size_t e = 0; e < d; ++e) {
          double acc = 0;
          for (size_t j = 0; j < T; ++j) acc += hm.P[i * T + j] * hm.F[i * T + j] * qkv[(s + j) * C3 + 2 * C + h * d + e];
          out[(s + i) * C + h * d + e] = static_cast<float>(acc);
        }
    }
  }
}

void attention_train_backward_ref(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                                  size_t C, size_t NH, const DropoutMask& m) {
  const size_t d = C / NH, C3 = 3 * C;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  HeadMatrices hm;
  std::vector<double> dS;
  for (int b = 0; b < B; ++b) {
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    for (size_t h = 0; h < NH; ++h) {
      head_probabilities(hm, qkv, s, T, h, C, NH, m);
      const size_t qo = h * d, ko = C + h * d, vo = 2 * C + h * d;
      dS.assign(T * T, 0.0);
      for (size_t i = 0; i < T; ++i) {
        double rowsum = 0;
        for (size_t j = 0; j < T; ++j) {
          double dp = 0;
          for (size_t e = 0; e < d; ++e) dp += double(dout[(s + i) * C + h * d + e]) * qkv[(s + j) * C3 + vo + e];
          dS[i * T + j] = dp * hm.F[i * T + j];
          rowsum += hm.P[i * T + j] * dS[i * T + j];
        }
        for (size_t j = 0; j < T; ++j) dS[i * T + j] = hm.P[i * T + j] * (dS[i * T + j] - rowsum) * scale;
      }
      for (size_t j = 0; j < T; ++j)
        for (size_t e = 0; e < d; ++e) {
          double dv = 0, dk = 0, dq = 0;
          for (size_t i = 0; i < T; ++i) {
            dv += hm.P[i * T + j] * hm.F[i * T + j] * dout[(s + i) * C + h * d + e];
            dk += dS[i * T + j] * qkv[(s + i) * C3 + qo + e];
            dq += dS[j * T + i] * qkv[(s + i) * C3 + ko + e];  // row j of dS K
          }
          dqkv[(s + j) * C3 + vo + e] += static_cast<float>(dv);
          dqkv[(s + j) * C3 + ko + e] += static_cast<float>(dk);
          dqkv[(s + j) * C3 + qo + e] += static_cast<float>(dq);
        }
    }
  }
}

namespace {

// C (M,N) = op(A) op(B) + beta C on the calling thread's share (nested in parallel_for: serial).
void block_gemm(Trans ta, Trans tb, size_t M, size_t N, size_t K, const float* A, size_t lda, const float* B_,
                size_t ldb, float beta, float* Cm, size_t ldc) {
  GemmArgs g;
  g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.A = A; g.lda = lda; g.B = B_; g.ldb = ldb;
  g.beta = beta; g.C = Cm; g.ldc = ldc;
  sgemm(g);
}

// P (T,T) = softmax rows of S * scale, in place; f (T,T) = mask factors (when active), P.f in pd.
void softmax_rows(float* P, float* pd, size_t T, float scale, const DropoutMask& m, size_t row0, size_t NH, size_t h) {
  for (size_t i = 0; i < T; ++i) {
    float* __restrict r = P + i * T;
    float mx = -INFINITY;
    for (size_t j = 0; j < T; ++j) mx = std::max(mx, r[j] * scale);
    float sum = 0;
    for (size_t j = 0; j < T; ++j) sum += (r[j] = std::exp(r[j] * scale - mx));
    const float inv = 1.0f / sum;
    for (size_t j = 0; j < T; ++j) r[j] *= inv;
    if (m.active) {
      const uint64_t rk = m.row_key((row0 + i) * NH + h);
      for (size_t j = 0; j < T; ++j) pd[i * T + j] = r[j] * m.factor_in_row(rk, j);
    }
  }
}

}  // namespace

void attention_train_forward(float* out, const float* qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH,
                             const DropoutMask& m) {
  if (!m.active) return attention_forward(out, qkv, cu_seqlens, B, C, NH);
  const size_t d = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  parallel_for(static_cast<size_t>(B) * NH, [&](size_t task, int) {
    thread_local std::vector<float> S, Pd;
    const size_t b = task / NH, h = task % NH;
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    if (S.size() < T * T) S.resize(T * T), Pd.resize(T * T);
    const float* q = qkv + s * C3 + h * d;
    block_gemm(Trans::no, Trans::yes, T, T, d, q, C3, q + C, C3, 0.0f, S.data(), T);
    softmax_rows(S.data(), Pd.data(), T, scale, m, s, NH, h);
    block_gemm(Trans::no, Trans::no, T, d, T, Pd.data(), T, q + 2 * C, C3, 0.0f, out + s * C + h * d, C);
  });
}

void attention_train_backward(float* dqkv, const float* dout, const float* qkv, const int32_t* cu_seqlens, int B,
                              size_t C, size_t NH, const DropoutMask& m) {
  const size_t d = C / NH, C3 = 3 * C;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  parallel_for(static_cast<size_t>(B) * NH, [&](size_t task, int) {
    thread_local std::vector<float> P, Pd, dP;
    const size_t b = task / NH, h = task % NH;
    const size_t s = static_cast<size_t>(cu_seqlens[b]), T = static_cast<size_t>(cu_seqlens[b + 1]) - s;
    if (P.size() < T * T) P.resize(T * T), Pd.resize(T * T), dP.resize(T * T);
    const float* q = qkv + s * C3 + h * d;
    const float* k = q + C;
    const float* v = q + 2 * C;
    const float* g = dout + s * C + h * d;
    float* dq = dqkv + s * C3 + h * d;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    block_gemm(Trans::no, Trans::yes, T, T, d, q, C3, k, C3, 0.0f, P.data(), T);
    softmax_rows(P.data(), Pd.data(), T, scale, m, s, NH, h);
    const float* pd = m.active ? Pd.data() : P.data();
    block_gemm(Trans::yes, Trans::no, T, d, T, pd, T, g, C, 1.0f, dv, C3);           // dV += Pd^T dO
    block_gemm(Trans::no, Trans::yes, T, T, d, g, C, v, C3, 0.0f, dP.data(), T);    // dPd = dO V^T
    for (size_t i = 0; i < T; ++i) {  // dS = P (dP - rowsum(P dP)) scale, dP through the mask first
      float* __restrict r = dP.data() + i * T;
      const float* __restrict p = P.data() + i * T;
      if (m.active) {
        const uint64_t rk = m.row_key((s + i) * NH + h);
        for (size_t j = 0; j < T; ++j) r[j] *= m.factor_in_row(rk, j);
      }
      float pdp = 0;
      for (size_t j = 0; j < T; ++j) pdp += p[j] * r[j];
      for (size_t j = 0; j < T; ++j) r[j] = p[j] * (r[j] - pdp) * scale;
    }
    block_gemm(Trans::no, Trans::no, T, d, T, dP.data(), T, k, C3, 1.0f, dq, C3);    // dQ += dS K
    block_gemm(Trans::yes, Trans::no, T, d, T, dP.data(), T, q, C3, 1.0f, dk, C3);   // dK += dS^T Q
  });
}

}  // namespace splade
