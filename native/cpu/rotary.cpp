// Rotary position embeddings; see rotary.h. The reference computes each angle's cosine and sine where
// it is used; the fast path fills a (T, d/2) table of them once per call (the longest sequence's T)
// and rotates rows in parallel.
#include "rotary.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/thread_pool.h"

namespace splade {
namespace {

// The inverse frequency of pair e, in float32 as PyTorch's 1 / theta ** (arange(0, d, 2) / d).
float inv_freq(float theta, size_t e, size_t d) {
  return static_cast<float>(1.0 / std::pow(static_cast<double>(theta), static_cast<double>(2 * e) / static_cast<double>(d)));
}

// Rotates the pair (x[e], x[e + h]) of every head of q and k in row r by (cos, sin) * sign; cs (h) x 2.
inline void rotate_row(float* row, const float* cs, size_t C, size_t NH, float sign) {
  const size_t d = C / NH, h = d / 2;
  for (size_t part = 0; part < 2; ++part)
    for (size_t head = 0; head < NH; ++head) {
      float* x = row + part * C + head * d;
      for (size_t e = 0; e < h; ++e) {
        const float c = cs[2 * e], s = sign * cs[2 * e + 1];
        const float a = x[e], b = x[e + h];
        x[e] = a * c - b * s;  // x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1)
        x[e + h] = b * c + a * s;
      }
    }
}

void rotary_ref(float* qkv, const int32_t* cu, int B, size_t C, size_t NH, float theta, float sign) {
  const size_t d = C / NH, h = d / 2;
  std::vector<float> cs(2 * h);
  for (int b = 0; b < B; ++b)
    for (int32_t n = cu[b]; n < cu[b + 1]; ++n) {
      const float pos = static_cast<float>(n - cu[b]);
      for (size_t e = 0; e < h; ++e) {
        const double angle = static_cast<double>(pos * inv_freq(theta, e, d));
        cs[2 * e] = static_cast<float>(std::cos(angle));
        cs[2 * e + 1] = static_cast<float>(std::sin(angle));
      }
      rotate_row(qkv + static_cast<size_t>(n) * 3 * C, cs.data(), C, NH, sign);
    }
}

void rotary_fast(float* qkv, const int32_t* cu, int B, size_t C, size_t NH, float theta, float sign) {
  const size_t d = C / NH, h = d / 2;
  size_t T = 0;
  for (int b = 0; b < B; ++b) T = std::max(T, static_cast<size_t>(cu[b + 1] - cu[b]));
  std::vector<float> inv(h), table(T * 2 * h);
  for (size_t e = 0; e < h; ++e) inv[e] = inv_freq(theta, e, d);
  parallel_range(T, [&](size_t t0, size_t t1, int) {
    for (size_t t = t0; t < t1; ++t)
      for (size_t e = 0; e < h; ++e) {
        const double angle = static_cast<double>(static_cast<float>(t) * inv[e]);
        table[t * 2 * h + 2 * e] = static_cast<float>(std::cos(angle));
        table[t * 2 * h + 2 * e + 1] = static_cast<float>(std::sin(angle));
      }
  });
  const size_t N = B > 0 ? static_cast<size_t>(cu[B]) : 0;
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    int b = 0;
    for (size_t n = n0; n < n1; ++n) {
      while (static_cast<size_t>(cu[b + 1]) <= n) ++b;
      rotate_row(qkv + n * 3 * C, table.data() + (n - static_cast<size_t>(cu[b])) * 2 * h, C, NH, sign);
    }
  });
}

}  // namespace

void rotary_forward_ref(float* qkv, const int32_t* cu, int B, size_t C, size_t NH, float theta) {
  rotary_ref(qkv, cu, B, C, NH, theta, 1.0f);
}
void rotary_forward(float* qkv, const int32_t* cu, int B, size_t C, size_t NH, float theta) {
  rotary_fast(qkv, cu, B, C, NH, theta, 1.0f);
}
void rotary_backward_ref(float* dqkv, const int32_t* cu, int B, size_t C, size_t NH, float theta) {
  rotary_ref(dqkv, cu, B, C, NH, theta, -1.0f);
}
void rotary_backward(float* dqkv, const int32_t* cu, int B, size_t C, size_t NH, float theta) {
  rotary_fast(dqkv, cu, B, C, NH, theta, -1.0f);
}

}  // namespace splade
