// SPLADE pooling fused into the MLM decoder; see splade_pool.h. The fast variant walks the vocabulary
// in tiles of kVocabTile columns and the packed tokens in chunks of kRowChunk rows: one sgemm (with the
// decoder bias in its epilogue) fills a kRowChunk x kVocabTile logits buffer, which is reduced into w
// at once, in parallel over column blocks (each thread owns its columns, so no two threads write the
// same w[b, j]). sgemm is called outside any parallel region, so it can use the whole pool itself.
#include "splade_pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "isa_target.h"

namespace splade {

std::vector<int32_t> sequence_of_tokens(const int32_t* cu_seqlens, int B) {
  std::vector<int32_t> seq_of(static_cast<size_t>(cu_seqlens[B]));
  for (int b = 0; b < B; ++b)
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) seq_of[n] = b;
  return seq_of;
}

void splade_pool_forward_ref(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                             const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling) {
  for (int b = 0; b < B; ++b) {
    for (size_t j = 0; j < V; ++j) {
      double acc = 0;
      int32_t arg = -1;
      for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) {
        double logit = bias[j];
        for (size_t c = 0; c < C; ++c) logit += static_cast<double>(t[n * C + c]) * E[j * C + c];
        const double v = std::log1p(std::max(0.0, logit));
        if (pooling == Pooling::sum) {
          acc += v;
        } else if (v > acc) {
          acc = v;
          arg = n;
        }
      }
      w[b * V + j] = static_cast<float>(acc);
      if (argmax) argmax[b * V + j] = pooling == Pooling::max ? arg : -1;
    }
  }
}

namespace {

constexpr size_t kVocabTile = 1024;
constexpr size_t kRowChunk = 256;
constexpr size_t kColBlock = 64;

// Reduces logits rows [r0, r0+rows) x columns [j0, j1) of the tile (ld tile_w) into w / argmax.
// seq_of is (rows) the sequence of each row; w holds max logits (max pooling) or sums (sum pooling).
SPLADE_INLINE void pool_reduce_body(float* w, int32_t* argmax, const float* logits, size_t tile_w, size_t rows,
                                    size_t r0, const int32_t* seq_of, size_t v0, size_t j0, size_t j1, size_t V,
                                    int pooling) {
  for (size_t r = 0; r < rows; ++r) {
    const float* __restrict x = logits + r * tile_w;
    const size_t b = static_cast<size_t>(seq_of[r]);
    float* __restrict wb = w + b * V + v0;
    if (pooling == static_cast<int>(Pooling::sum)) {
      for (size_t j = j0; j < j1; ++j)
        if (x[j] > 0.0f) wb[j] += std::log1p(x[j]);
    } else {
      int32_t* __restrict ab = argmax + b * V + v0;
      const int32_t n = static_cast<int32_t>(r0 + r);
      for (size_t j = j0; j < j1; ++j) {
        const bool gt = x[j] > wb[j];
        wb[j] = gt ? x[j] : wb[j];
        ab[j] = gt ? n : ab[j];
      }
    }
  }
}

SPLADE_ISA_VARIANTS(pool_reduce, pool_reduce_body,
                    (float* w, int32_t* argmax, const float* logits, size_t tile_w, size_t rows, size_t r0,
                     const int32_t* seq_of, size_t v0, size_t j0, size_t j1, size_t V, int pooling),
                    (w, argmax, logits, tile_w, rows, r0, seq_of, v0, j0, j1, V, pooling))

}  // namespace

void splade_pool_forward_isa(Isa isa, float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                             const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling) {
  const size_t N = static_cast<size_t>(cu_seqlens[B]);
  const std::vector<int32_t> seq_of = sequence_of_tokens(cu_seqlens, B);
  std::vector<int32_t> own_argmax;
  const bool is_max = pooling == Pooling::max;
  if (is_max && !argmax) {
    own_argmax.resize(static_cast<size_t>(B) * V);
    argmax = own_argmax.data();
  }
  // max pooling accumulates the raw max logit (0 is the floor: relu), sum pooling the sum
  std::fill(w, w + static_cast<size_t>(B) * V, 0.0f);
  if (argmax) std::fill(argmax, argmax + static_cast<size_t>(B) * V, -1);
  std::vector<float> logits(std::min(N, kRowChunk) * std::min(V, kVocabTile));
  auto reduce = SPLADE_PICK_ISA(isa, pool_reduce);
  for (size_t v0 = 0; v0 < V; v0 += kVocabTile) {
    const size_t vt = std::min(kVocabTile, V - v0);
    for (size_t r0 = 0; r0 < N; r0 += kRowChunk) {
      const size_t rows = std::min(kRowChunk, N - r0);
      GemmArgs g;
      g.ta = Trans::no; g.tb = Trans::yes; g.M = rows; g.N = vt; g.K = C;
      g.A = t + r0 * C; g.lda = C; g.B = E + v0 * C; g.ldb = C; g.C = logits.data(); g.ldc = vt;
      g.epilogue.bias = bias + v0;
      sgemm_isa(isa, g);
      const size_t blocks = (vt + kColBlock - 1) / kColBlock;
      parallel_for(blocks, [&](size_t blk, int) {
        const size_t j0 = blk * kColBlock, j1 = std::min(vt, j0 + kColBlock);
        reduce(w, argmax, logits.data(), vt, rows, r0, seq_of.data() + r0, v0, j0, j1, V, static_cast<int>(pooling));
      });
    }
  }
  if (is_max) {
    parallel_range(static_cast<size_t>(B) * V, [&](size_t begin, size_t end, int) {
      for (size_t i = begin; i < end; ++i) w[i] = std::log1p(w[i]);  // w >= 0 here: log1p(relu(max logit))
    });
  }
}

}  // namespace splade

namespace splade {

void splade_pool_backward_ref(float* dt, float* dE, float* dbias, const float* dw, const float* t, const float* E,
                              const float* bias, const int32_t* argmax, const int32_t* cu_seqlens, int B, size_t C,
                              size_t V, Pooling pooling) {
  auto token = [&](size_t j, int32_t n, double g_w) {
    double logit = bias[j];
    for (size_t c = 0; c < C; ++c) logit += static_cast<double>(t[n * C + c]) * E[j * C + c];
    if (!(logit > 0.0)) return;
    const double g = g_w / (1.0 + logit);
    for (size_t c = 0; c < C; ++c) {
      dt[n * C + c] += static_cast<float>(g * E[j * C + c]);
      dE[j * C + c] += static_cast<float>(g * t[n * C + c]);
    }
    dbias[j] += static_cast<float>(g);
  };
  for (int b = 0; b < B; ++b) {
    for (size_t j = 0; j < V; ++j) {
      const double g_w = dw[b * V + j];
      if (g_w == 0.0) continue;
      if (pooling == Pooling::max) {
        const int32_t n = argmax[b * V + j];
        if (n >= 0) token(j, n, g_w);
      } else {
        for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) token(j, n, g_w);
      }
    }
  }
}

}  // namespace splade

namespace splade {
namespace {

// dlogits for rows [0, rows) x columns [j0, j1) of a tile; dbias accumulates this thread's columns.
SPLADE_INLINE void pool_dlogits_body(float* dl, float* dbias, const float* logits, size_t tile_w, size_t rows,
                                     size_t r0, const int32_t* seq_of, const float* dw, const int32_t* argmax,
                                     size_t v0, size_t j0, size_t j1, size_t V, int pooling) {
  for (size_t r = 0; r < rows; ++r) {
    const float* __restrict x = logits + r * tile_w;
    float* __restrict g = dl + r * tile_w;
    const size_t b = static_cast<size_t>(seq_of[r]);
    const float* __restrict dwb = dw + b * V + v0;
    if (pooling == static_cast<int>(Pooling::sum)) {
      for (size_t j = j0; j < j1; ++j) g[j] = x[j] > 0.0f ? dwb[j] / (1.0f + x[j]) : 0.0f;
    } else {
      const int32_t* __restrict ab = argmax + b * V + v0;
      const int32_t n = static_cast<int32_t>(r0 + r);
      for (size_t j = j0; j < j1; ++j) g[j] = (ab[j] == n && x[j] > 0.0f) ? dwb[j] / (1.0f + x[j]) : 0.0f;
    }
    for (size_t j = j0; j < j1; ++j) dbias[v0 + j] += g[j];
  }
}

SPLADE_ISA_VARIANTS(pool_dlogits, pool_dlogits_body,
                    (float* dl, float* dbias, const float* logits, size_t tile_w, size_t rows, size_t r0,
                     const int32_t* seq_of, const float* dw, const int32_t* argmax, size_t v0, size_t j0, size_t j1,
                     size_t V, int pooling),
                    (dl, dbias, logits, tile_w, rows, r0, seq_of, dw, argmax, v0, j0, j1, V, pooling))

}  // namespace

void splade_pool_backward_isa(Isa isa, float* dt, float* dE, float* dbias, const float* dw, const float* t,
                              const float* E, const float* bias, const int32_t* argmax, const int32_t* cu_seqlens,
                              int B, size_t C, size_t V, Pooling pooling) {
  const size_t N = static_cast<size_t>(cu_seqlens[B]);
  if (N == 0) return;
  const std::vector<int32_t> seq_of = sequence_of_tokens(cu_seqlens, B);
  const size_t cap = std::min(N, kRowChunk) * std::min(V, kVocabTile);
  std::vector<float> logits(cap), dl(cap);
  auto dlogits = SPLADE_PICK_ISA(isa, pool_dlogits);
  for (size_t v0 = 0; v0 < V; v0 += kVocabTile) {
    const size_t vt = std::min(kVocabTile, V - v0);
    for (size_t r0 = 0; r0 < N; r0 += kRowChunk) {
      const size_t rows = std::min(kRowChunk, N - r0);
      GemmArgs g;
      g.ta = Trans::no; g.tb = Trans::yes; g.M = rows; g.N = vt; g.K = C;
      g.A = t + r0 * C; g.lda = C; g.B = E + v0 * C; g.ldb = C; g.C = logits.data(); g.ldc = vt;
      g.epilogue.bias = bias + v0;
      sgemm_isa(isa, g);
      const size_t blocks = (vt + kColBlock - 1) / kColBlock;
      parallel_for(blocks, [&](size_t blk, int) {
        const size_t j0 = blk * kColBlock, j1 = std::min(vt, j0 + kColBlock);
        dlogits(dl.data(), dbias, logits.data(), vt, rows, r0, seq_of.data() + r0, dw, argmax, v0, j0, j1, V,
                static_cast<int>(pooling));
      });
      // dt rows (rows, C) += dl (rows, vt) E_tile (vt, C); dE_tile (vt, C) += dl^T (vt, rows) t rows (rows, C)
      GemmArgs a;
      a.ta = Trans::no; a.tb = Trans::no; a.M = rows; a.N = C; a.K = vt; a.A = dl.data(); a.lda = vt;
      a.B = E + v0 * C; a.ldb = C; a.beta = 1.0f; a.C = dt + r0 * C; a.ldc = C;
      sgemm_isa(isa, a);
      GemmArgs e;
      e.ta = Trans::yes; e.tb = Trans::no; e.M = vt; e.N = C; e.K = rows; e.A = dl.data(); e.lda = vt;
      e.B = t + r0 * C; e.ldb = C; e.beta = 1.0f; e.C = dE + v0 * C; e.ldc = C;
      sgemm_isa(isa, e);
    }
  }
}

}  // namespace splade
