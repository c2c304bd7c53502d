// Training heads (see splade_head_train.h): the sparse max-pooling backward and the fused MLM head.
#include "splade_head_train.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "gemm.h"
#include "isa_target.h"

namespace splade {

namespace {

// dE rows [j0, j1) and dbias: per row, the sequences in order; g (B,V) receives each entry's gradient.
SPLADE_INLINE void pool_sparse_de_body(float* dE, float* dbias, float* g, const float* dw, const float* w,
                                       const float* t, const int32_t* argmax, int B, size_t C, size_t V, size_t j0,
                                       size_t j1) {
  for (size_t j = j0; j < j1; ++j) {
    float* __restrict de = dE + j * C;
    for (int b = 0; b < B; ++b) {
      const size_t i = static_cast<size_t>(b) * V + j;
      const int32_t n = argmax[i];
      if (n < 0 || dw[i] == 0.0f) continue;
      const float gi = dw[i] * std::exp(-w[i]);  // d log1p(x) / dx = 1 / (1 + x) = exp(-log1p(x))
      g[i] = gi;
      dbias[j] += gi;
      const float* __restrict tn = t + static_cast<size_t>(n) * C;
      for (size_t c = 0; c < C; ++c) de[c] += gi * tn[c];
    }
  }
}

// dt rows [n0, n1): each row's entries (bucketed by token, in vocabulary order).
SPLADE_INLINE void pool_sparse_dt_body(float* dt, const float* g, const float* E, const uint32_t* start,
                                       const uint32_t* entry, size_t C, size_t V, size_t n0, size_t n1) {
  for (size_t n = n0; n < n1; ++n) {
    float* __restrict dtn = dt + n * C;
    for (uint32_t k = start[n]; k < start[n + 1]; ++k) {
      const size_t i = entry[k];
      const float gi = g[i];
      const float* __restrict e = E + (i % V) * C;
      for (size_t c = 0; c < C; ++c) dtn[c] += gi * e[c];
    }
  }
}

SPLADE_ISA_VARIANTS(pool_sparse_de, pool_sparse_de_body,
                    (float* dE, float* dbias, float* g, const float* dw, const float* w, const float* t,
                     const int32_t* argmax, int B, size_t C, size_t V, size_t j0, size_t j1),
                    (dE, dbias, g, dw, w, t, argmax, B, C, V, j0, j1))
SPLADE_ISA_VARIANTS(pool_sparse_dt, pool_sparse_dt_body,
                    (float* dt, const float* g, const float* E, const uint32_t* start, const uint32_t* entry, size_t C,
                     size_t V, size_t n0, size_t n1),
                    (dt, g, E, start, entry, C, V, n0, n1))

}  // namespace

void splade_max_pool_backward_sparse(float* dt, float* dE, float* dbias, const float* dw, const float* w,
                                     const float* t, const float* E, const int32_t* argmax, int B, size_t N, size_t C,
                                     size_t V) {
  const size_t BV = static_cast<size_t>(B) * V;
  for (size_t i = 0; i < BV; ++i)
    SPLADE_CHECK(argmax[i] < 0 || static_cast<size_t>(argmax[i]) < N, "splade_max_pool_backward: argmax out of range");
  std::vector<float> g(BV, 0.0f);
  // dE and dbias: each thread owns a range of vocabulary rows.
  auto de_rows = SPLADE_PICK_ISA(active_isa(), pool_sparse_de);
  parallel_range(V, [&](size_t j0, size_t j1, int) { de_rows(dE, dbias, g.data(), dw, w, t, argmax, B, C, V, j0, j1); });
  // dt: bucket the non-zero entries by token (counting sort; within a token, by vocabulary id).
  std::vector<uint32_t> start(N + 1, 0);
  for (size_t i = 0; i < BV; ++i)
    if (g[i] != 0.0f) ++start[static_cast<size_t>(argmax[i]) + 1];
  for (size_t n = 0; n < N; ++n) start[n + 1] += start[n];
  std::vector<uint32_t> fill(start.begin(), start.end() - 1), entry(start[N]);
  for (size_t i = 0; i < BV; ++i)
    if (g[i] != 0.0f) entry[fill[static_cast<size_t>(argmax[i])]++] = static_cast<uint32_t>(i);
  auto dt_rows = SPLADE_PICK_ISA(active_isa(), pool_sparse_dt);
  parallel_range(N, [&](size_t n0, size_t n1, int) { dt_rows(dt, g.data(), E, start.data(), entry.data(), C, V, n0, n1); });
}

size_t count_labels(const int32_t* labels, size_t N, size_t V) {
  size_t count = 0;
  for (size_t n = 0; n < N; ++n) {
    if (labels[n] == -1) continue;
    if (labels[n] < -1 || static_cast<size_t>(labels[n]) >= V)
      fail(kOutOfRange, "mlm: label " + std::to_string(labels[n]) + " at position " + std::to_string(n) +
                            " is outside the vocabulary [0, " + std::to_string(V) + ") (use -1 for no label)");
    ++count;
  }
  return count;
}

double mlm_head_forward_backward_ref(float* dt, float* dE, float* dbias, const float* t, const float* E,
                                     const float* bias, const int32_t* labels, size_t N, size_t C, size_t V,
                                     size_t* count) {
  const size_t M = count_labels(labels, N, V);
  if (count) *count = M;
  if (M == 0) return 0.0;
  std::vector<double> logit(V);
  double loss = 0;
  for (size_t n = 0; n < N; ++n) {
    if (labels[n] < 0) continue;
    double mx = -INFINITY;
    for (size_t j = 0; j < V; ++j) {
      double x = bias[j];
      for (size_t c = 0; c < C; ++c) x += static_cast<double>(t[n * C + c]) * E[j * C + c];
      logit[j] = x;
      mx = std::max(mx, x);
    }
    double sum = 0;
    for (size_t j = 0; j < V; ++j) sum += std::exp(logit[j] - mx);
    const double lse = mx + std::log(sum);
    loss += lse - logit[static_cast<size_t>(labels[n])];
    for (size_t j = 0; j < V; ++j) {
      const double g = (std::exp(logit[j] - lse) - (j == static_cast<size_t>(labels[n]) ? 1.0 : 0.0)) / M;
      dbias[j] += static_cast<float>(g);
      for (size_t c = 0; c < C; ++c) {
        dt[n * C + c] += static_cast<float>(g * E[j * C + c]);
        dE[j * C + c] += static_cast<float>(g * t[n * C + c]);
      }
    }
  }
  return loss / M;
}

double mlm_head_forward_backward(float* dt, float* dE, float* dbias, const float* t, const float* E, const float* bias,
                                 const int32_t* labels, size_t N, size_t C, size_t V, size_t* count) {
  const size_t M = count_labels(labels, N, V);
  if (count) *count = M;
  if (M == 0) return 0.0;
  std::vector<size_t> rows;
  for (size_t n = 0; n < N; ++n)
    if (labels[n] >= 0) rows.push_back(n);
  constexpr size_t kBlock = 64;  // labelled rows per block: 64 x V logits (7.8 MB at V = 30522)
  const size_t R = std::min(kBlock, M);
  std::vector<float> tb(R * C), dtb(R * C), logits(R * V);
  std::vector<double> row_loss(R);
  double loss = 0;
  const float inv_m = 1.0f / static_cast<float>(M);
  for (size_t r0 = 0; r0 < M; r0 += R) {
    const size_t rn = std::min(R, M - r0);
    for (size_t r = 0; r < rn; ++r) std::copy(t + rows[r0 + r] * C, t + rows[r0 + r] * C + C, tb.begin() + r * C);
    GemmArgs g;  // logits (rn, V) = tb E^T + bias
    g.ta = Trans::no; g.tb = Trans::yes; g.M = rn; g.N = V; g.K = C; g.A = tb.data(); g.lda = C; g.B = E; g.ldb = C;
    g.C = logits.data(); g.ldc = V; g.epilogue.bias = bias;
    sgemm(g);
    parallel_for(rn, [&](size_t r, int) {  // softmax - onehot, scaled by 1/M, in place
      float* __restrict x = logits.data() + r * V;
      float mx = -INFINITY;
      for (size_t j = 0; j < V; ++j) mx = std::max(mx, x[j]);
      double sum = 0;
      for (size_t j = 0; j < V; ++j) sum += std::exp(static_cast<double>(x[j] - mx));
      const double lse = mx + std::log(sum);
      const size_t y = static_cast<size_t>(labels[rows[r0 + r]]);
      row_loss[r] = lse - x[y];
      const float l = static_cast<float>(lse);
      for (size_t j = 0; j < V; ++j) x[j] = std::exp(x[j] - l) * inv_m;
      x[y] -= inv_m;
    });
    for (size_t r = 0; r < rn; ++r) loss += row_loss[r];
    parallel_range(V, [&](size_t j0, size_t j1, int) {  // dbias: column sums, rows in order
      for (size_t r = 0; r < rn; ++r)
        for (size_t j = j0; j < j1; ++j) dbias[j] += logits[r * V + j];
    });
    GemmArgs a;  // dtb (rn, C) = dl E
    a.ta = Trans::no; a.tb = Trans::no; a.M = rn; a.N = C; a.K = V; a.A = logits.data(); a.lda = V; a.B = E; a.ldb = C;
    a.C = dtb.data(); a.ldc = C;
    sgemm(a);
    GemmArgs e;  // dE (V, C) += dl^T tb
    e.ta = Trans::yes; e.tb = Trans::no; e.M = V; e.N = C; e.K = rn; e.A = logits.data(); e.lda = V; e.B = tb.data();
    e.ldb = C; e.beta = 1.0f; e.C = dE; e.ldc = C;
    sgemm(e);
    for (size_t r = 0; r < rn; ++r) {
      float* d = dt + rows[r0 + r] * C;
      for (size_t c = 0; c < C; ++c) d[c] += dtb[r * C + c];
    }
  }
  return loss / M;
}

}  // namespace splade
