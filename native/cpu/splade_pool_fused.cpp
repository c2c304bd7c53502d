// See splade_pool_fused.h. Threads own vocabulary ranges (disjoint columns of w); each walks the tokens
// in chunks that stay in its L2 (kChunkBytes of t) and, per chunk, its panels, one 6 x 16 register
// block at a time.
#include "splade_pool_fused.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "row_blocks.h"
#include "splade_pool.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace splade {

PoolPanels splade_pool_pack(const float* E, size_t V, size_t C) {
  SPLADE_CHECK(V > 0 && C > 0 && E != nullptr, "splade_pool_pack: bad shape");
  PoolPanels P;
  P.V = V, P.C = C, P.Vp = (V + 15) / 16 * 16;
  P.data.assign(P.Vp * C, 0.0f);
  parallel_range(P.Vp / 16, [&](size_t p0, size_t p1, int) {
    for (size_t p = p0; p < p1; ++p)
      for (size_t c = 0; c < 16 && p * 16 + c < V; ++c)
        for (size_t k = 0; k < C; ++k) P.data[(p * C + k) * 16 + c] = E[(p * 16 + c) * C + k];
  });
  return P;
}

namespace {

constexpr size_t kChunkBytes = 192 * 1024;

// The running maxima of one thread's panels: best (B, 16 * panels) raw logits (0: relu's floor) and,
// when wanted, arg (same shape, -1: none). Rows [r0, r0+MR) of t against panel `panel`.
struct Running {
  float* best;
  int32_t* arg;  // or null
  size_t ld;     // 16 * panels of this thread
  const int32_t* ids = nullptr;  // the token of each row (null: the row's own index)
  int32_t id(size_t r) const { return ids ? ids[r] : static_cast<int32_t>(r); }
};

void generic_block(const Running& run, size_t col, const float* t, size_t C, const float* panel, const float* bias16,
                   const int32_t* seq_of, size_t r0, size_t rows) {
  for (size_t r = r0; r < r0 + rows; ++r) {
    float s[16] = {};
    for (size_t k = 0; k < C; ++k)
      for (size_t c = 0; c < 16; ++c) s[c] += t[r * C + k] * panel[k * 16 + c];
    float* best = run.best + static_cast<size_t>(seq_of[r]) * run.ld + col;
    for (size_t c = 0; c < 16; ++c) {
      const float x = s[c] + bias16[c];
      if (x > best[c]) {
        best[c] = x;
        if (run.arg) run.arg[static_cast<size_t>(seq_of[r]) * run.ld + col + c] = run.id(r);
      }
    }
  }
}

#if defined(__x86_64__) || defined(_M_X64)
#include "avx2_region_push.h"


template <int MR>
void avx2_block(const Running& run, size_t col, const float* t, size_t C, const float* panel, const float* bias16,
                const int32_t* seq_of, size_t r0) {
  __m256 c[MR][2];
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_ps();
  const float* a = t + r0 * C;
  for (size_t k = 0; k < C; ++k) {
    const __m256 b0 = _mm256_loadu_ps(panel + k * 16), b1 = _mm256_loadu_ps(panel + k * 16 + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 x = _mm256_broadcast_ss(a + i * C + k);
      c[i][0] = _mm256_fmadd_ps(x, b0, c[i][0]);
      c[i][1] = _mm256_fmadd_ps(x, b1, c[i][1]);
    }
  }
  const __m256 bias0 = _mm256_loadu_ps(bias16), bias1 = _mm256_loadu_ps(bias16 + 8);
  if (!run.arg && seq_of[r0] == seq_of[r0 + MR - 1]) {  // one sequence: max over the block's tokens first
    __m256 m0 = c[0][0], m1 = c[0][1];
    for (int i = 1; i < MR; ++i) m0 = _mm256_max_ps(m0, c[i][0]), m1 = _mm256_max_ps(m1, c[i][1]);
    float* best = run.best + static_cast<size_t>(seq_of[r0]) * run.ld + col;
    _mm256_storeu_ps(best, _mm256_max_ps(_mm256_loadu_ps(best), _mm256_add_ps(m0, bias0)));
    _mm256_storeu_ps(best + 8, _mm256_max_ps(_mm256_loadu_ps(best + 8), _mm256_add_ps(m1, bias1)));
    return;
  }
  for (int i = 0; i < MR; ++i) {  // token by token (and its argmax): first token wins ties, as the reference
    const size_t off = static_cast<size_t>(seq_of[r0 + i]) * run.ld + col;
    float* best = run.best + off;
    const __m256 x0 = _mm256_add_ps(c[i][0], bias0), x1 = _mm256_add_ps(c[i][1], bias1);
    const __m256 o0 = _mm256_loadu_ps(best), o1 = _mm256_loadu_ps(best + 8);
    const __m256 g0 = _mm256_cmp_ps(x0, o0, _CMP_GT_OQ), g1 = _mm256_cmp_ps(x1, o1, _CMP_GT_OQ);
    _mm256_storeu_ps(best, _mm256_blendv_ps(o0, x0, g0));
    _mm256_storeu_ps(best + 8, _mm256_blendv_ps(o1, x1, g1));
    if (run.arg) {
      int32_t* arg = run.arg + off;
      const __m256i n = _mm256_set1_epi32(run.id(r0 + i));
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(arg));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(arg + 8));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg), _mm256_blendv_epi8(a0, n, _mm256_castps_si256(g0)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + 8), _mm256_blendv_epi8(a1, n, _mm256_castps_si256(g1)));
    }
  }
}

void avx2_rows(const Running& run, size_t col, const float* t, size_t C, const float* panel, const float* bias16,
               const int32_t* seq_of, size_t r0, size_t r1) {
  for_row_blocks<6>(r1 - r0, [&](auto mr, size_t r) { avx2_block<mr>(run, col, t, C, panel, bias16, seq_of, r0 + r); });
}

#include "target_region_pop.h"
#endif

}  // namespace

void splade_pool_fused_store(float* w, int32_t* argmax, const float* best, const int32_t* arg, size_t ld, size_t j0,
                             size_t j1, size_t V, int B) {
  for (int b = 0; b < B; ++b) {
    for (size_t j = j0; j < j1; ++j) {
      const size_t i = static_cast<size_t>(b) * ld + (j - j0);
      w[static_cast<size_t>(b) * V + j] = std::log1p(best[i]);  // best >= 0: log1p(relu(max logit))
      if (argmax) argmax[static_cast<size_t>(b) * V + j] = arg[i];
    }
  }
}

void splade_pool_fused_rows(Isa isa, float* best, int32_t* arg, size_t ld, size_t col, const float* t, size_t C,
                            const float* panel, const float* bias16, const int32_t* seq_of, const int32_t* ids,
                            size_t rows) {
  const Running run{best, arg, ld, ids};
#if defined(__x86_64__) || defined(_M_X64)
  if (isa != Isa::generic) return avx2_rows(run, col, t, C, panel, bias16, seq_of, 0, rows);
#endif
  generic_block(run, col, t, C, panel, bias16, seq_of, 0, rows);
}

void splade_pool_max_fused(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E, const float* bias,
                           const int32_t* cu_seqlens, int B) {
  SPLADE_CHECK(E.data.size() == E.Vp * E.C && E.Vp % 16 == 0, "splade_pool_max_fused: the decoder is not packed");
  const size_t N = static_cast<size_t>(cu_seqlens[B]), V = E.V, C = E.C, panels = E.Vp / 16;
  const std::vector<int32_t> seq_of = sequence_of_tokens(cu_seqlens, B);
  std::vector<float> bias_p(E.Vp, 0.0f);
  std::copy(bias, bias + V, bias_p.begin());
  const size_t chunk = std::max<size_t>(6, kChunkBytes / (C * sizeof(float)) / 6 * 6);
  for_thread_panels(panels, [&](size_t p0, size_t p1) {
    const size_t ld = (p1 - p0) * 16;
    std::vector<float> best(static_cast<size_t>(B) * ld, 0.0f);
    std::vector<int32_t> arg(argmax ? static_cast<size_t>(B) * ld : 0, -1);
    const Running run{best.data(), argmax ? arg.data() : nullptr, ld};
    for (size_t r0 = 0; r0 < N; r0 += chunk) {
      const size_t r1 = std::min(N, r0 + chunk);
      for (size_t p = p0; p < p1; ++p) {
        const float* panel = E.data.data() + p * C * 16;
        const size_t col = (p - p0) * 16;
#if defined(__x86_64__) || defined(_M_X64)
        if (isa != Isa::generic) {
          avx2_rows(run, col, t, C, panel, bias_p.data() + p * 16, seq_of.data(), r0, r1);
          continue;
        }
#endif
        generic_block(run, col, t, C, panel, bias_p.data() + p * 16, seq_of.data(), r0, r1 - r0);
      }
    }
    splade_pool_fused_store(w, argmax, best.data(), argmax ? arg.data() : nullptr, ld, p0 * 16, std::min(V, p1 * 16), V, B);
  });
}

}  // namespace splade
