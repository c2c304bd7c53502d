// See splade_pool_screen.h. As splade_pool_max_fused, threads own vocabulary ranges and walk the tokens
// in chunks; per chunk and panel: (1) the screened logits of the chunk's rows x the panel's 16 terms,
// (2) the best lower bound of each (sequence, term) (kept across chunks with the running fp32 best:
// both only ever fall short of the final maximum), (3) the rows with a term whose upper bound reaches
// it, gathered in token order and scored in fp32 by the fused kernel. The first token holding the
// maximum always passes (3), so w and argmax are the fused decoder's.
#include "splade_pool_screen.h"

#include <algorithm>
#include <cmath>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "row_blocks.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace splade {
namespace {

constexpr size_t kChunkRows = 240;
// The screen sums kBlockK dimensions at a time exactly in int32 and adds the blocks' sums in fp32, so
// that qmax depends on the block and not on C: at C = 768 the rows keep 5791 levels rather than 1672,
// a bound 2-3 times tighter and that many fewer re-scores, for one conversion and add per 32 steps.
constexpr size_t kBlockK = 64;

int32_t qmax_for(size_t Cp) {  // min(Cp, kBlockK) * qmax^2 < 2^31: vpmaddwd's pair sums and a block's int32 total are exact
  const double k = static_cast<double>(std::min(Cp, kBlockK));
  return static_cast<int32_t>(std::min(32767.0, std::floor(std::sqrt(2147483647.0 / k))) - 1);
}
// The fp32 part of a screened logit's error, relative to |t~||E~|: each block's sum rounded once when
// converted and the blocks' fp32 sum (Higham's gamma, with room to spare for its denominator).
float block_rounding(size_t Cp) { return static_cast<float>((Cp + kBlockK - 1) / kBlockK + 1) * 0x1p-24f; }

// Row x (K) to q (Cp, zero padded); returns the scale; norms (stride) get |x|, |x~|, |x - x~|.
float quantize_row(int16_t* q, size_t q_step, const float* x, size_t K, size_t Cp, int32_t qmax, float* norms,
                   size_t stride) {
  float amax = 0.0f;
  for (size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float scale = amax > 0.0f ? amax / static_cast<float>(qmax) : 0.0f;
  const double inv = amax > 0.0f ? static_cast<double>(qmax) / amax : 0.0;
  double x2 = 0, r2 = 0, d2 = 0;
  for (size_t k = 0; k < Cp; ++k) {
    const double v = k < K ? x[k] : 0.0;
    const int32_t qk = static_cast<int32_t>(std::clamp(std::nearbyint(v * inv), -double(qmax), double(qmax)));
    q[k * q_step] = static_cast<int16_t>(qk);
    const double r = static_cast<double>(scale) * qk;
    x2 += v * v, r2 += r * r, d2 += (v - r) * (v - r);
  }
  norms[0] = static_cast<float>(std::sqrt(x2));
  norms[stride] = static_cast<float>(std::sqrt(r2));
  norms[2 * stride] = static_cast<float>(std::sqrt(d2));
  return scale;
}

// The screened logits before the bias, S (rows, 16), of rows [r0, r0 + rows) (q_t (N, Cp)) against a
// panel: exact integer sums over blocks of kBlockK dimensions, added in fp32 in block order.
void screen_ref(float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
                size_t r0, size_t rows) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < 16; ++c) {
      float sum = 0.0f;
      for (size_t k0 = 0; k0 < Cp; k0 += kBlockK) {
        int64_t acc = 0;
        for (size_t k = k0; k < std::min(Cp, k0 + kBlockK); ++k)
          acc += int32_t{qt[(r0 + r) * Cp + k]} * panel[(k / 2) * 32 + c * 2 + k % 2];
        sum += static_cast<float>(acc);
      }
      S[r * 16 + c] = sum * (st[r0 + r] * se16[c]);
    }
}

#if defined(__x86_64__) || defined(_M_X64)
#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

template <int MR>
void screen_block(float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
                  size_t r0) {
  __m256 f[MR][2];  // the blocks' sums in fp32 (spilled by the compiler where it must: one add per 32 steps)
  for (int i = 0; i < MR; ++i) f[i][0] = f[i][1] = _mm256_setzero_ps();
  const int16_t* a = qt + r0 * Cp;
  for (size_t k0 = 0; k0 < Cp / 2; k0 += kBlockK / 2) {
    __m256i c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
    const size_t k1 = std::min(Cp / 2, k0 + kBlockK / 2);
    for (size_t kp = k0; kp < k1; ++kp) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 32));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kp * 32 + 16));
      for (int i = 0; i < MR; ++i) {
        int32_t pair;
        __builtin_memcpy(&pair, a + i * Cp + kp * 2, sizeof pair);
        const __m256i x = _mm256_set1_epi32(pair);
        c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(x, b0));
        c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(x, b1));
      }
    }
    for (int i = 0; i < MR; ++i) {
      f[i][0] = _mm256_add_ps(f[i][0], _mm256_cvtepi32_ps(c[i][0]));
      f[i][1] = _mm256_add_ps(f[i][1], _mm256_cvtepi32_ps(c[i][1]));
    }
  }
  const __m256 s0 = _mm256_loadu_ps(se16), s1 = _mm256_loadu_ps(se16 + 8);
  for (int i = 0; i < MR; ++i) {
    const __m256 ts = _mm256_set1_ps(st[r0 + i]);
    _mm256_storeu_ps(S + i * 16, _mm256_mul_ps(f[i][0], _mm256_mul_ps(ts, s0)));
    _mm256_storeu_ps(S + i * 16 + 8, _mm256_mul_ps(f[i][1], _mm256_mul_ps(ts, s1)));
  }
}

void screen_avx2(float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
                 size_t r0, size_t rows) {
  for_row_blocks<4>(rows, [&](auto mr, size_t r) { screen_block<mr>(S + r * 16, qt, Cp, st, panel, se16, r0 + r); });
}

// bound_ref (below) in AVX2 intrinsics (the plain loops do not vectorise well).
void bound_avx2(float* S, float* M, float* floor, const float* best, uint8_t* maybe, size_t ld, size_t col,
                const int32_t* seq_of, const float* tn, size_t N, float g, float g_round, const float* bias16, const float* e_norm,
                const float* e_round, const float* e_resid, size_t rows) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 bias[2], en[2], er[2], ed[2];
  for (int h = 0; h < 2; ++h) {
    bias[h] = _mm256_loadu_ps(bias16 + 8 * h), en[h] = _mm256_loadu_ps(e_norm + 8 * h);
    er[h] = _mm256_loadu_ps(e_round + 8 * h), ed[h] = _mm256_loadu_ps(e_resid + 8 * h);
  }
  for (size_t r = 0; r < rows; ++r) {
    const __m256 a = _mm256_set1_ps(1.01f * tn[N + r]), b = _mm256_set1_ps(1.01f * (tn[2 * N + r] + g * tn[r]));
    const __m256 c = _mm256_set1_ps(1.01f * g_round * tn[N + r]);
    float* fl = floor + static_cast<size_t>(seq_of[r]) * ld + col;
    for (int h = 0; h < 2; ++h) {
      const __m256 s = _mm256_loadu_ps(S + r * 16 + 8 * h);
      __m256 m = _mm256_add_ps(_mm256_and_ps(s, abs_mask), _mm256_and_ps(bias[h], abs_mask));
      m = _mm256_fmadd_ps(m, _mm256_set1_ps(0x1p-20f), _mm256_set1_ps(1e-30f));
      m = _mm256_fmadd_ps(a, ed[h], m);
      m = _mm256_fmadd_ps(b, en[h], m);
      m = _mm256_fmadd_ps(c, er[h], m);
      const __m256 x = _mm256_add_ps(s, bias[h]);
      _mm256_storeu_ps(S + r * 16 + 8 * h, x);
      _mm256_storeu_ps(M + r * 16 + 8 * h, m);
      _mm256_storeu_ps(fl + 8 * h, _mm256_max_ps(_mm256_loadu_ps(fl + 8 * h), _mm256_sub_ps(x, m)));
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(seq_of[r]) * ld + col;
    int any = 0;
    for (int h = 0; h < 2; ++h) {
      const __m256 thr = _mm256_max_ps(_mm256_loadu_ps(floor + off + 8 * h), _mm256_loadu_ps(best + off + 8 * h));
      const __m256 up = _mm256_add_ps(_mm256_loadu_ps(S + r * 16 + 8 * h), _mm256_loadu_ps(M + r * 16 + 8 * h));
      any |= _mm256_movemask_ps(_mm256_cmp_ps(up, thr, _CMP_GE_OQ));
    }
    maybe[r] = any != 0;
  }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif


void screen(Isa isa, float* S, const int16_t* qt, size_t Cp, const float* st, const int16_t* panel, const float* se16,
            size_t r0, size_t rows) {
#if defined(__x86_64__) || defined(_M_X64)
  if (isa != Isa::generic) return screen_avx2(S, qt, Cp, st, panel, se16, r0, rows);
#endif
  (void)isa;
  screen_ref(S, qt, Cp, st, panel, se16, r0, rows);
}

// The N tokens t (N, C) quantised as the decoder's rows: qt (N, Cp), st (N) their scales, tn (3, N).
void quantize_tokens(std::vector<int16_t>& qt, std::vector<float>& st, std::vector<float>& tn, const float* t, size_t N,
                     size_t C, const ScreenPanels& Q) {
  qt.assign(N * Q.Cp, 0), st.assign(N, 0.0f), tn.assign(3 * N, 0.0f);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n)
      st[n] = quantize_row(qt.data() + n * Q.Cp, 1, t + n * C, C, Q.Cp, Q.qmax, tn.data() + n, N);
  });
}

std::vector<int32_t> sequence_of(const int32_t* cu_seqlens, int B) {
  std::vector<int32_t> seq_of(static_cast<size_t>(cu_seqlens[B]));
  for (int b = 0; b < B; ++b)
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) seq_of[n] = b;
  return seq_of;
}

// The screened logits S (rows, 16) before the bias become logits (bias added), M their error bounds
// (splade_pool_screen.h), floor (B, ld) the best lower bound of each (sequence, term); then maybe[r]
// says whether row r has a term whose upper bound reaches max(floor, best) of its sequence. seq_of and
// tn (3 x N, stride N) from the chunk's first row; e_norm / e_round / e_resid the panel's 16 terms.
void bound_ref(float* S, float* M, float* floor, const float* best, uint8_t* maybe, size_t ld,
                                   size_t col, const int32_t* seq_of, const float* tn, size_t N, float g, float g_round,
                                   const float* bias16, const float* e_norm, const float* e_round,
                                   const float* e_resid, size_t rows) {
  for (size_t r = 0; r < rows; ++r) {
    const float a = 1.01f * tn[N + r], b = 1.01f * (tn[2 * N + r] + g * tn[r]), c = 1.01f * g_round * tn[N + r];
    float* __restrict fl = floor + static_cast<size_t>(seq_of[r]) * ld + col;
    float* __restrict s = S + r * 16;
    float* __restrict m = M + r * 16;
    for (size_t j = 0; j < 16; ++j) {
      m[j] = 1e-30f + 0x1p-20f * (std::fabs(s[j]) + std::fabs(bias16[j])) + a * e_resid[j] + b * e_norm[j] + c * e_round[j];
      s[j] += bias16[j];
      const float lo = s[j] - m[j];
      fl[j] = fl[j] > lo ? fl[j] : lo;
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(seq_of[r]) * ld + col;
    int any = 0;
    for (size_t j = 0; j < 16; ++j) {
      const float thr = floor[off + j] > best[off + j] ? floor[off + j] : best[off + j];
      any |= S[r * 16 + j] + M[r * 16 + j] >= thr;
    }
    maybe[r] = static_cast<uint8_t>(any);
  }
}


}  // namespace

ScreenPanels splade_pool_screen_pack(const float* E, size_t V, size_t C) {
  SPLADE_CHECK(V > 0 && C > 0 && E != nullptr, "splade_pool_screen_pack: bad shape");
  ScreenPanels Q;
  Q.V = V, Q.C = C, Q.Cp = (C + 1) / 2 * 2, Q.Vp = (V + 15) / 16 * 16, Q.qmax = qmax_for(Q.Cp);
  Q.data.assign(Q.Vp * Q.Cp, 0);
  Q.scale.assign(Q.Vp, 0.0f);
  Q.norms.assign(3 * Q.Vp, 0.0f);
  parallel_range(V, [&](size_t j0, size_t j1, int) {
    for (size_t j = j0; j < j1; ++j) {
      int16_t* q = Q.data.data() + (j / 16) * Q.Cp * 16 + (j % 16) * 2;  // [k/2][c][k%2]: k steps 1 then 31
      std::vector<int16_t> row(Q.Cp);
      Q.scale[j] = quantize_row(row.data(), 1, E + j * C, C, Q.Cp, Q.qmax, Q.norms.data() + j, Q.Vp);
      for (size_t k = 0; k < Q.Cp; ++k) q[(k / 2) * 32 + k % 2] = row[k];
    }
  });
  return Q;
}

void splade_pool_max_screen(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E,
                            const ScreenPanels& Q, const float* bias, const int32_t* cu_seqlens, int B) {
  SPLADE_CHECK(E.data.size() == E.Vp * E.C && Q.V == E.V && Q.C == E.C && Q.data.size() == Q.Vp * Q.Cp,
               "splade_pool_max_screen: the decoder is not packed");
  const size_t N = static_cast<size_t>(cu_seqlens[B]), V = E.V, C = E.C, Cp = Q.Cp, Vp = Q.Vp, panels = Vp / 16;
  const std::vector<int32_t> seq_of = sequence_of(cu_seqlens, B);
  std::vector<float> bias_p(Vp, 0.0f);
  std::copy(bias, bias + V, bias_p.begin());
  std::vector<int16_t> qt;
  std::vector<float> st, tn;  // tn: |t|, |t~|, |t - t~| (3, N)
  quantize_tokens(qt, st, tn, t, N, C, Q);
  const float g = static_cast<float>(C + 2) * 0x1p-23f, g_round = g + block_rounding(Cp);
  for_thread_panels(panels, [&](size_t p0, size_t p1) {
    const size_t ld = (p1 - p0) * 16;
    std::vector<float> best(static_cast<size_t>(B) * ld, 0.0f), floor(best.size(), 0.0f);
    std::vector<int32_t> arg(best.size(), -1);
    std::vector<float> S(kChunkRows * 16), M(kChunkRows * 16), rows_t(kChunkRows * C);
    std::vector<int32_t> rows_seq(kChunkRows), rows_id(kChunkRows);
    std::vector<uint8_t> maybe(kChunkRows);
    auto bound = bound_ref;
#if defined(__x86_64__) || defined(_M_X64)
    if (isa != Isa::generic) bound = bound_avx2;
#endif
    for (size_t r0 = 0; r0 < N; r0 += kChunkRows) {
      const size_t rows = std::min(kChunkRows, N - r0);
      for (size_t p = p0; p < p1; ++p) {
        const int16_t* panel = Q.data.data() + p * Cp * 16;
        const float *se = Q.scale.data() + p * 16, *bias16 = bias_p.data() + p * 16;
        const float *en = Q.norms.data() + p * 16, *er = en + Vp, *ed = en + 2 * Vp;
        const size_t col = (p - p0) * 16;
        screen(isa, S.data(), qt.data(), Cp, st.data(), panel, se, r0, rows);
        bound(S.data(), M.data(), floor.data(), best.data(), maybe.data(), ld, col, seq_of.data() + r0, tn.data() + r0, N,
              g, g_round, bias16, en, er, ed, rows);
        size_t picked = 0;
        for (size_t r = 0; r < rows; ++r) {  // the rows that may hold a maximum, in token order
          const size_t n = r0 + r;
          if (!maybe[r]) continue;
          std::copy(t + n * C, t + n * C + C, rows_t.data() + picked * C);
          rows_seq[picked] = seq_of[n], rows_id[picked] = static_cast<int32_t>(n);
          ++picked;
        }
        if (picked)
          splade_pool_fused_rows(isa, best.data(), arg.data(), ld, col, rows_t.data(), C, E.data.data() + p * C * 16,
                                 bias16, rows_seq.data(), rows_id.data(), picked);
      }
    }
    splade_pool_fused_store(w, argmax, best.data(), arg.data(), ld, p0 * 16, std::min(V, p1 * 16), V, B);
  });
}

}  // namespace splade
