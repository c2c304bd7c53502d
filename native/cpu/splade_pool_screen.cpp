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

constexpr size_t kChunkRows = 120;
constexpr int32_t kTokenLevels = 63;   // tokens: q in [-63, 63], stored as u = q + 64 in [1, 127]
constexpr int32_t kTokenOffset = 64;
constexpr int32_t kWeightLevels = 31;  // the decoder: q in [-31, 31]
// Steps of four dimensions whose vpmaddubsw pair sums add up exactly in 16-bit lanes:
// kSteps16 x 2 x 127 x 31 = 31496 < 2^15 (and one pair sum, 7874, never saturates vpmaddubsw).
constexpr size_t kSteps16 = 4;
static_assert(kSteps16 * 2 * (kTokenLevels + kTokenOffset) * kWeightLevels < 32768, "16-bit lanes overflow");
// The int32 sum of a logit is exact up to C x 127 x 31 < 2^31.
constexpr size_t kMaxC = 500000;

// Row x (K) to q (Cp, zero padded: q_k = 0, stored as shift) with levels steps a side, stored as q + shift;
// returns the scale; norms (stride) get |x|, |x~|, |x - x~|.
template <class Q>
float quantize_row(Q* q, const float* x, size_t K, size_t Cp, int32_t levels, int32_t shift, float* norms, size_t stride) {
  float amax = 0.0f;
  for (size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float scale = amax > 0.0f ? amax / static_cast<float>(levels) : 0.0f;
  const double inv = amax > 0.0f ? static_cast<double>(levels) / amax : 0.0;
  double x2 = 0, r2 = 0, d2 = 0;
  for (size_t k = 0; k < Cp; ++k) {
    const double v = k < K ? x[k] : 0.0;
    const int32_t qk = static_cast<int32_t>(std::clamp(std::nearbyint(v * inv), -double(levels), double(levels)));
    q[k] = static_cast<Q>(qk + shift);
    const double r = static_cast<double>(scale) * qk;
    x2 += v * v, r2 += r * r, d2 += (v - r) * (v - r);
  }
  norms[0] = static_cast<float>(std::sqrt(x2));
  norms[stride] = static_cast<float>(std::sqrt(r2));
  norms[2 * stride] = static_cast<float>(std::sqrt(d2));
  return scale;
}

// The screened logits before the bias, S (rows, 16), of rows [r0, r0 + rows) (u_t (N, Cp)) against a
// panel (w: [k/4][c][k%4]): exact integer sums, then one conversion and the scales.
void screen_ref(float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
                const int32_t* offset16, size_t r0, size_t rows) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < 16; ++c) {
      int64_t acc = 0;
      for (size_t k = 0; k < Cp; ++k) acc += int32_t{ut[(r0 + r) * Cp + k]} * panel[(k / 4) * 64 + c * 4 + k % 4];
      S[r * 16 + c] = static_cast<float>(static_cast<int32_t>(acc - offset16[c])) * (st[r0 + r] * se16[c]);
    }
}

// What the bound of one chunk x panel needs (bound_ref's arguments; splade_pool_screen.h, the bound):
// the panel's 16 terms (bias, |E|, |E~|, |E - E~|), the running lower bounds and maxima (B, ld) from
// column col, and the chunk's rows (seq_of, tn: |t|, |t~|, |t - t~| with stride N, from its first row).
struct PanelBound {
  const float *bias16, *e_norm, *e_round, *e_resid;
  float* floor;
  const float* best;
  size_t ld, col;
  const int32_t* seq_of;
  const float* tn;
  size_t N;
  float g, g_round;
  float max_norm, max_round, max_resid;  // the largest of e_norm, e_round, e_resid
};

#if defined(__x86_64__) || defined(_M_X64)
#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

// MR rows x 16 terms: per step of four dimensions, one broadcast of a row's four bytes and two
// vpmaddubsw against the panel's two registers, added in 16-bit lanes for kSteps16 steps, then widened
// (vpmaddwd by ones: a term's two lanes) into int32. The multiply-adds are inline assembly: GCC 12
// otherwise spills the 16-bit accumulators or copies each one after its add (measured on Zen 3:
// 2x slower); the operands stay the compiler's to allocate.
// acc = u . q_E - offset (= q_t . q_E) of MR rows from r0 x the panel's 16 terms, in int32.
template <int MR>
__attribute__((always_inline)) inline void screen_sums(__m256i (&acc)[MR][2], const uint8_t* ut, size_t Cp,
                                                       const int8_t* panel, const int32_t* offset16, size_t r0) {
  for (int h = 0; h < 2; ++h) {
    const __m256i minus = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(offset16 + 8 * h)));
    for (int i = 0; i < MR; ++i) acc[i][h] = minus;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t* a = ut + r0 * Cp;
  for (size_t s0 = 0; s0 < Cp / 4; s0 += kSteps16) {
    __m256i c[MR][2];
    for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
#pragma GCC unroll 1
    for (size_t s = s0; s < s0 + kSteps16; ++s) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + s * 64));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + s * 64 + 32));
      for (int i = 0; i < MR; ++i) {
        int32_t quad;
        __builtin_memcpy(&quad, a + i * Cp + s * 4, sizeof quad);
        const __m256i x = _mm256_set1_epi32(quad);
        __m256i p0, p1;
        asm("vpmaddubsw %2, %1, %0" : "=x"(p0) : "x"(x), "x"(b0));
        asm("vpaddw %1, %0, %0" : "+x"(c[i][0]) : "x"(p0));
        asm("vpmaddubsw %2, %1, %0" : "=x"(p1) : "x"(x), "x"(b1));
        asm("vpaddw %1, %0, %0" : "+x"(c[i][1]) : "x"(p1));
      }
    }
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(c[i][0], ones));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(c[i][1], ones));
    }
  }
}

// Row i's screened logits before the bias (h: terms 8h..8h+7), as screen_ref computes them.
template <int MR>
__attribute__((always_inline)) inline __m256 screened(const __m256i (&acc)[MR][2], int i, int h, float st, const float* se16) {
  const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(st), _mm256_loadu_ps(se16 + 8 * h));
  return _mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][h]), scale);
}

template <int MR>
void screen_block(float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
                  const int32_t* offset16, size_t r0) {
  __m256i acc[MR][2];
  screen_sums<MR>(acc, ut, Cp, panel, offset16, r0);
  for (int i = 0; i < MR; ++i)
    for (int h = 0; h < 2; ++h) _mm256_storeu_ps(S + i * 16 + 8 * h, screened<MR>(acc, i, h, st[r0 + i], se16));
}

void screen_avx2(float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
                 const int32_t* offset16, size_t r0, size_t rows) {
  for_row_blocks<5>(rows, [&](auto mr, size_t r) { screen_block<mr>(S + r * 16, ut, Cp, st, panel, se16, offset16, r0 + r); });
}

// The screen with bound_ref's test in its epilogue, on the sums still in registers: no logits or
// bounds written and read back (that pass was a quarter of the screen's time), and the bound's norms
// at their panel-wide largest (a row's part of the bound is then one number, at a looser bound by the
// norms' spread within 16 terms). The test comes before the floor's update, and a row that fails it
// leaves the floor alone: its upper bound is below max(floor, best), so its lower bound either does
// not raise the floor or raises it to below best, where it never decides (best only grows). A row
// that may hold a maximum passes either way. rr: row r0's index in the chunk (maybe, pb.seq_of, pb.tn).
template <int MR>
void screen_bound_block(uint8_t* maybe, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel,
                        const float* se16, const int32_t* offset16, size_t r0, size_t rr, const PanelBound& pb) {
  __m256i acc[MR][2];
  screen_sums<MR>(acc, ut, Cp, panel, offset16, r0);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), eps = _mm256_set1_ps(0x1p-20f);
  const PanelBound b = pb;  // a copy the stores to floor cannot alias
  for (int i = 0; i < MR; ++i) {
    const size_t r = rr + i;
    const size_t off = static_cast<size_t>(b.seq_of[r]) * b.ld + b.col;
    // the error bound of bound_ref with each norm at the panel's largest
    const __m256 m0 = _mm256_set1_ps(1e-30f + 1.01f * (b.tn[b.N + r] * b.max_resid + (b.tn[2 * b.N + r] + b.g * b.tn[r]) * b.max_norm +
                                                        b.g_round * b.tn[b.N + r] * b.max_round));
    int any = 0;
    for (int h = 0; h < 2; ++h) {
      const __m256 s = screened<MR>(acc, i, h, st[r0 + i], se16);
      const __m256 bias = _mm256_loadu_ps(b.bias16 + 8 * h);
      const __m256 m = _mm256_fmadd_ps(_mm256_add_ps(_mm256_and_ps(s, abs_mask), _mm256_and_ps(bias, abs_mask)), eps, m0);
      const __m256 x = _mm256_add_ps(s, bias);
      float* fl = b.floor + off + 8 * h;
      const __m256 floor = _mm256_loadu_ps(fl);
      const __m256 thr = _mm256_max_ps(floor, _mm256_loadu_ps(b.best + off + 8 * h));
      const int pass = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_add_ps(x, m), thr, _CMP_GE_OQ));
      if (pass) _mm256_storeu_ps(fl, _mm256_max_ps(floor, _mm256_sub_ps(x, m)));
      any |= pass;
    }
    maybe[r] = any != 0;
  }
}

void screen_bound_avx2(uint8_t* maybe, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel,
                       const float* se16, const int32_t* offset16, size_t r0, size_t rows, const PanelBound& pb) {
  for_row_blocks<5>(rows, [&](auto mr, size_t r) {
    screen_bound_block<mr>(maybe, ut, Cp, st, panel, se16, offset16, r0 + r, r, pb);
  });
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif


void screen(Isa isa, float* S, const uint8_t* ut, size_t Cp, const float* st, const int8_t* panel, const float* se16,
            const int32_t* offset16, size_t r0, size_t rows) {
#if defined(__x86_64__) || defined(_M_X64)
  if (isa != Isa::generic) return screen_avx2(S, ut, Cp, st, panel, se16, offset16, r0, rows);
#endif
  (void)isa;
  screen_ref(S, ut, Cp, st, panel, se16, offset16, r0, rows);
}

// The N tokens t (N, C) quantised for the screen: ut (N, Cp) as q + 64, st (N) their scales, tn (3, N).
void quantize_tokens(std::vector<uint8_t>& ut, std::vector<float>& st, std::vector<float>& tn, const float* t, size_t N,
                     size_t C, const ScreenPanels& Q) {
  ut.assign(N * Q.Cp, 0), st.assign(N, 0.0f), tn.assign(3 * N, 0.0f);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n)
      st[n] = quantize_row(ut.data() + n * Q.Cp, t + n * C, C, Q.Cp, kTokenLevels, kTokenOffset, tn.data() + n, N);
  });
}

std::vector<int32_t> sequence_of(const int32_t* cu_seqlens, int B) {
  std::vector<int32_t> seq_of(static_cast<size_t>(cu_seqlens[B]));
  for (int b = 0; b < B; ++b)
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) seq_of[n] = b;
  return seq_of;
}

// The screened logits S (rows, 16) before the bias become logits (bias added), M their error bounds
// (splade_pool_screen.h), pb.floor the best lower bound of each (sequence, term); then maybe[r] says
// whether row r has a term whose upper bound reaches max(floor, best) of its sequence.
void bound_ref(float* S, float* M, uint8_t* maybe, const PanelBound& pb, size_t rows) {
  for (size_t r = 0; r < rows; ++r) {
    const float* tn = pb.tn;
    const float a = 1.01f * tn[pb.N + r], b = 1.01f * (tn[2 * pb.N + r] + pb.g * tn[r]), c = 1.01f * pb.g_round * tn[pb.N + r];
    float* __restrict fl = pb.floor + static_cast<size_t>(pb.seq_of[r]) * pb.ld + pb.col;
    float* __restrict s = S + r * 16;
    float* __restrict m = M + r * 16;
    for (size_t j = 0; j < 16; ++j) {
      m[j] = 1e-30f + 0x1p-20f * (std::fabs(s[j]) + std::fabs(pb.bias16[j])) + a * pb.e_resid[j] + b * pb.e_norm[j] +
             c * pb.e_round[j];
      s[j] += pb.bias16[j];
      const float lo = s[j] - m[j];
      fl[j] = fl[j] > lo ? fl[j] : lo;
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t off = static_cast<size_t>(pb.seq_of[r]) * pb.ld + pb.col;
    int any = 0;
    for (size_t j = 0; j < 16; ++j) {
      const float thr = pb.floor[off + j] > pb.best[off + j] ? pb.floor[off + j] : pb.best[off + j];
      any |= S[r * 16 + j] + M[r * 16 + j] >= thr;
    }
    maybe[r] = static_cast<uint8_t>(any);
  }
}

}  // namespace

ScreenPanels splade_pool_screen_pack(const float* E, size_t V, size_t C) {
  SPLADE_CHECK(V > 0 && C > 0 && C <= kMaxC && E != nullptr, "splade_pool_screen_pack: bad shape");
  ScreenPanels Q;
  Q.V = V, Q.C = C, Q.Cp = (C + 15) / 16 * 16, Q.Vp = (V + 15) / 16 * 16;
  Q.data.assign(Q.Vp * Q.Cp, 0);
  Q.scale.assign(Q.Vp, 0.0f);
  Q.offset.assign(Q.Vp, 0);
  Q.norms.assign(3 * Q.Vp, 0.0f);
  parallel_range(V, [&](size_t j0, size_t j1, int) {
    std::vector<int8_t> row(Q.Cp);
    for (size_t j = j0; j < j1; ++j) {
      int8_t* q = Q.data.data() + (j / 16) * Q.Cp * 16 + (j % 16) * 4;  // [k/4][c][k%4]
      Q.scale[j] = quantize_row(row.data(), E + j * C, C, Q.Cp, kWeightLevels, 0, Q.norms.data() + j, Q.Vp);
      int32_t sum = 0;
      for (size_t k = 0; k < Q.Cp; ++k) q[(k / 4) * 64 + k % 4] = row[k], sum += row[k];
      Q.offset[j] = kTokenOffset * sum;
    }
  });
  return Q;
}

void splade_pool_screen_logits(Isa isa, float* S, const float* t, size_t N, const ScreenPanels& Q) {
  SPLADE_CHECK(Q.data.size() == Q.Vp * Q.Cp, "splade_pool_screen_logits: the decoder is not packed");
  std::vector<uint8_t> ut;
  std::vector<float> st, tn;
  quantize_tokens(ut, st, tn, t, N, Q.C, Q);
  std::vector<float> block(N * 16);
  for (size_t p = 0; p < Q.Vp / 16; ++p) {
    screen(isa, block.data(), ut.data(), Q.Cp, st.data(), Q.data.data() + p * Q.Cp * 16, Q.scale.data() + p * 16,
           Q.offset.data() + p * 16, 0, N);
    for (size_t n = 0; n < N; ++n) std::copy(block.data() + n * 16, block.data() + n * 16 + 16, S + n * Q.Vp + p * 16);
  }
}

void splade_pool_max_screen(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E,
                            const ScreenPanels& Q, const float* bias, const int32_t* cu_seqlens, int B) {
  SPLADE_CHECK(E.data.size() == E.Vp * E.C && Q.V == E.V && Q.C == E.C && Q.data.size() == Q.Vp * Q.Cp &&
                   Q.offset.size() == Q.Vp,
               "splade_pool_max_screen: the decoder is not packed");
  const size_t N = static_cast<size_t>(cu_seqlens[B]), V = E.V, C = E.C, Cp = Q.Cp, Vp = Q.Vp, panels = Vp / 16;
  const std::vector<int32_t> seq_of = sequence_of(cu_seqlens, B);
  std::vector<float> bias_p(Vp, 0.0f);
  std::copy(bias, bias + V, bias_p.begin());
  std::vector<uint8_t> ut;
  std::vector<float> st, tn;  // tn: |t|, |t~|, |t - t~| (3, N)
  quantize_tokens(ut, st, tn, t, N, C, Q);
  const float g = static_cast<float>(C + 2) * 0x1p-23f, g_round = g + 0x1p-23f;
  for_thread_panels(panels, [&](size_t p0, size_t p1) {
    const size_t ld = (p1 - p0) * 16;
    std::vector<float> best(static_cast<size_t>(B) * ld, 0.0f), floor(best.size(), 0.0f);
    std::vector<int32_t> arg(best.size(), -1);
    std::vector<float> S(kChunkRows * 16), M(kChunkRows * 16), rows_t(kChunkRows * C);
    std::vector<int32_t> rows_seq(kChunkRows), rows_id(kChunkRows);
    std::vector<uint8_t> maybe(kChunkRows);
    for (size_t r0 = 0; r0 < N; r0 += kChunkRows) {
      const size_t rows = std::min(kChunkRows, N - r0);
      for (size_t p = p0; p < p1; ++p) {
        const int8_t* panel = Q.data.data() + p * Cp * 16;
        const float *se = Q.scale.data() + p * 16, *bias16 = bias_p.data() + p * 16;
        const float *en = Q.norms.data() + p * 16, *er = en + Vp, *ed = en + 2 * Vp;
        const size_t col = (p - p0) * 16;
        const int32_t* offset16 = Q.offset.data() + p * 16;
        const PanelBound pb{bias16, en, er, ed, floor.data(), best.data(), ld, col, seq_of.data() + r0, tn.data() + r0, N,
                            g, g_round, *std::max_element(en, en + 16), *std::max_element(er, er + 16),
                            *std::max_element(ed, ed + 16)};
#if defined(__x86_64__) || defined(_M_X64)
        if (isa != Isa::generic) {
          screen_bound_avx2(maybe.data(), ut.data(), Cp, st.data(), panel, se, offset16, r0, rows, pb);
        } else
#endif
        {
          screen_ref(S.data(), ut.data(), Cp, st.data(), panel, se, offset16, r0, rows);
          bound_ref(S.data(), M.data(), maybe.data(), pb, rows);
        }
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
