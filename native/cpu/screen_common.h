// What the two stages of the decoder's screen (splade_pool_screen.h: screen_i8.h, screen_i16.h)
// share: per-row quantisation with the norms the error bound needs, and the bound's inputs.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace splade {

// Row x (K) to q (Cp, zero padded) with levels steps a side, stored as q + shift; returns the scale;
// norms (stride) get |x|, |x~|, |x - x~| (x~ the dequantised row).
template <class Q>
float screen_quantize_row(Q* q, const float* x, size_t K, size_t Cp, int32_t levels, int32_t shift, float* norms,
                          size_t stride) {
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

// What the bound of rows x one panel needs (splade_pool_screen.h, the bound): the panel's 16 terms
// (bias, |E|, |E~|, |E - E~|, and the largest of each norm), the running lower bounds and maxima
// (B, ld) from column col, and the rows (seq_of, tn: |t|, |t~|, |t - t~| with stride N, from the
// first row); g the fp32 accumulation's bound, g_round with the screen's conversion added.
struct PanelBound {
  const float *bias16, *e_norm, *e_round, *e_resid;
  float max_norm, max_round, max_resid;
  float* floor;
  const float* best;
  size_t ld, col;
  const int32_t* seq_of;
  const float* tn;
  size_t N;
  float g, g_round;
};

// bound_ref's test on screened logits S (rows, 16) before the bias: S becomes the logits, M their
// error bounds, pb.floor the best lower bound of each (sequence, term); maybe[r] says whether row r
// has a term whose upper bound reaches max(floor, best) of its sequence.
void screen_bound_ref(float* S, float* M, uint8_t* maybe, const PanelBound& pb, size_t rows);
#if defined(__x86_64__) || defined(_M_X64)
void screen_bound_avx2(float* S, float* M, uint8_t* maybe, const PanelBound& pb, size_t rows);
#endif

}  // namespace splade
