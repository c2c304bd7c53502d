// See splade_pool_screen.h. As splade_pool_max_fused, threads own vocabulary ranges and walk the tokens
// in chunks; per chunk and panel: (1) the first stage's test of the chunk's rows (the best lower bound
// of each (sequence, term) kept across chunks with the running fp32 best: both only ever fall short of
// the final maximum), (2) the second stage's on the rows that pass, gathered, (3) the rows that pass
// both, in token order, scored in fp32 by the fused kernel. The first token holding the maximum always
// passes, so w and argmax are the fused decoder's.
#include "splade_pool_screen.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "splade_pool.h"

namespace splade {
namespace {

constexpr size_t kChunkRows = 120;
// Chunks a panel skips the first stage after it settled fewer than half of a chunk's rows: 32, then
// twice as many after each such retry (a model whose logits crowd the threshold then spends about 1%
// of the second stage's work on the first).
constexpr uint32_t kFirstStageRetry = 32, kFirstStageRetryMax = 1024;

// Each panel's largest |E|, |E~|, |E - E~| (norms (3, Vp)): (panels, 3).
std::vector<float> panel_largest(const std::vector<float>& norms, size_t Vp) {
  std::vector<float> out(Vp / 16 * 3);
  for (size_t p = 0; p < Vp / 16; ++p)
    for (size_t k = 0; k < 3; ++k)
      out[p * 3 + k] = *std::max_element(norms.data() + k * Vp + p * 16, norms.data() + k * Vp + p * 16 + 16);
  return out;
}

// The indices of the nonzero bytes of maybe[0, rows) (0 or 1 each, zero past rows up to a multiple of
// 8) into pick, eight bytes a step: most chunks of a panel pass no row.
size_t passing_rows(uint32_t* pick, const uint8_t* maybe, size_t rows) {
  size_t n = 0;
  for (size_t r = 0; r < rows; r += 8) {
    uint64_t w;
    std::memcpy(&w, maybe + r, sizeof w);
    for (; w; w &= w - 1) pick[n++] = static_cast<uint32_t>(r + static_cast<size_t>(__builtin_ctzll(w)) / 8);
  }
  return n;
}

}  // namespace

ScreenPanels splade_pool_screen_pack(const float* E, size_t V, size_t C) {
  SPLADE_CHECK(V > 0 && C > 0 && E != nullptr, "splade_pool_screen_pack: bad shape");
  ScreenPanels Q;
  Q.V = V, Q.C = C, Q.Vp = (V + 15) / 16 * 16;
  Q.i8 = screen8_pack(E, V, Q.Vp, C);
  Q.i16 = screen16_pack(E, V, Q.Vp, C);
  return Q;
}

void splade_pool_screen_logits(Isa isa, float* S, const float* t, size_t N, const ScreenPanels& Q, int bits) {
  SPLADE_CHECK(bits == 8 || bits == 16, "splade_pool_screen_logits: bits must be 8 or 16");
  SPLADE_CHECK(Q.i8.data.size() == Q.Vp * Q.i8.Cp && Q.i16.data.size() == Q.Vp * Q.i16.Cp,
               "splade_pool_screen_logits: the decoder is not packed");
  const ScreenTokens8 T8 = bits == 8 ? screen8_tokens(t, N, Q.C, Q.i8.Cp) : ScreenTokens8{};
  const ScreenTokens16 T16 = bits == 16 ? screen16_tokens(t, N, Q.C, Q.i16) : ScreenTokens16{};
  std::vector<float> block(N * 16);
  for (size_t p = 0; p < Q.Vp / 16; ++p) {
    if (bits == 8) screen8_logits(isa, block.data(), T8, Q.i8, p, 0, N);
    else screen16_logits(isa, block.data(), T16.q.data(), T16.scale.data(), Q.i16, p, N);
    for (size_t n = 0; n < N; ++n) std::copy(block.data() + n * 16, block.data() + n * 16 + 16, S + n * Q.Vp + p * 16);
  }
}

void splade_pool_max_screen(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E,
                            const ScreenPanels& Q, const float* bias, const int32_t* cu_seqlens, int B) {
  SPLADE_CHECK(E.data.size() == E.Vp * E.C && Q.V == E.V && Q.C == E.C && Q.Vp == E.Vp &&
                   Q.i8.data.size() == Q.Vp * Q.i8.Cp && Q.i8.offset.size() == Q.Vp && Q.i16.data.size() == Q.Vp * Q.i16.Cp,
               "splade_pool_max_screen: the decoder is not packed");
  const size_t N = static_cast<size_t>(cu_seqlens[B]), V = E.V, C = E.C, Vp = Q.Vp, panels = Vp / 16;
  const size_t Cp16 = Q.i16.Cp;
  const std::vector<int32_t> seq_of = sequence_of_tokens(cu_seqlens, B);
  std::vector<float> bias_p(Vp, 0.0f);
  std::copy(bias, bias + V, bias_p.begin());
  const ScreenTokens8 T8 = screen8_tokens(t, N, C, Q.i8.Cp);
  const ScreenTokens16 T16 = screen16_tokens(t, N, C, Q.i16);
  const float g = static_cast<float>(C + 2) * 0x1p-23f;
  const std::vector<float> largest8 = panel_largest(Q.i8.norms, Vp), largest16 = panel_largest(Q.i16.norms, Vp);
  for_thread_panels(panels, [&](size_t p0, size_t p1) {
    const size_t ld = (p1 - p0) * 16;
    std::vector<float> best(static_cast<size_t>(B) * ld, 0.0f), floor(best.size(), 0.0f);
    std::vector<int32_t> arg(best.size(), -1);
    std::vector<float> S(kChunkRows * 16), M(kChunkRows * 16), rows_t(kChunkRows * C);
    std::vector<int32_t> rows_seq(kChunkRows), rows_id(kChunkRows);
    std::vector<uint8_t> maybe(kChunkRows + 8, 0);
    std::vector<uint32_t> skip_first(p1 - p0, 0), retry(p1 - p0, kFirstStageRetry);
    // the second stage's rows, gathered: their index in the chunk, int16 rows, scales, norms (3, kChunkRows), sequences
    std::vector<uint32_t> pick(kChunkRows);
    std::vector<int16_t> q16(kChunkRows * Cp16);
    std::vector<float> st16(kChunkRows), tn16(3 * kChunkRows);
    std::vector<int32_t> seq16(kChunkRows);
    for (size_t r0 = 0; r0 < N; r0 += kChunkRows) {
      const size_t rows = std::min(kChunkRows, N - r0);
      for (size_t p = p0; p < p1; ++p) {
        const float* bias16 = bias_p.data() + p * 16;
        const size_t col = (p - p0) * 16;
        size_t passed = 0;
        if (skip_first[p - p0] == 0) {
          const float *en = Q.i8.norms.data() + p * 16, *er = en + Vp, *ed = en + 2 * Vp;
          const float* top = largest8.data() + p * 3;
          const PanelBound pb{bias16, en, er, ed, top[0], top[1], top[2], floor.data(), best.data(), ld, col,
                              seq_of.data() + r0, T8.norms.data() + r0, N, g, g + kScreen8Rounding};
          screen8_stage(isa, maybe.data(), S.data(), M.data(), T8, Q.i8, p, r0, rows, pb);
          std::fill(maybe.begin() + rows, maybe.end(), 0);
          passed = passing_rows(pick.data(), maybe.data(), rows);
          if (2 * passed > rows) {
            skip_first[p - p0] = retry[p - p0];
            retry[p - p0] = std::min(2 * retry[p - p0], kFirstStageRetryMax);
          }
        } else {
          --skip_first[p - p0];
          for (size_t r = 0; r < rows; ++r) pick[passed++] = static_cast<uint32_t>(r);
        }
        if (!passed) continue;
        // the second stage reads the chunk's rows where all passed, else a copy of those that did
        const bool all = passed == rows;
        for (size_t i = 0; i < passed && !all; ++i) {
          const size_t n = r0 + pick[i];
          std::copy(T16.q.data() + n * Cp16, T16.q.data() + (n + 1) * Cp16, q16.data() + i * Cp16);
          st16[i] = T16.scale[n], seq16[i] = seq_of[n];
          for (size_t k = 0; k < 3; ++k) tn16[k * kChunkRows + i] = T16.norms[k * N + n];
        }
        const float *en = Q.i16.norms.data() + p * 16, *er = en + Vp, *ed = en + 2 * Vp;
        const float* top = largest16.data() + p * 3;
        const PanelBound pb{bias16, en, er, ed, top[0], top[1], top[2], floor.data(), best.data(), ld, col,
                            all ? seq_of.data() + r0 : seq16.data(), all ? T16.norms.data() + r0 : tn16.data(),
                            all ? N : kChunkRows, g, g + screen16_rounding(Cp16)};
        screen16_logits(isa, S.data(), all ? T16.q.data() + r0 * Cp16 : q16.data(),
                        all ? T16.scale.data() + r0 : st16.data(), Q.i16, p, passed);
#if defined(__x86_64__) || defined(_M_X64)
        if (isa != Isa::generic) screen_bound_avx2(S.data(), M.data(), maybe.data(), pb, passed);
        else
#endif
          screen_bound_ref(S.data(), M.data(), maybe.data(), pb, passed);
        size_t picked = 0;
        for (size_t i = 0; i < passed; ++i) {  // the rows that may hold a maximum, in token order
          if (!maybe[i]) continue;
          const size_t n = r0 + pick[i];
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
