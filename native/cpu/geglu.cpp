// GeGLU; see geglu.h. The fast path runs rows in parallel through the vector GELU of gelu.h's ranges
// (gelu_avx2.cpp on x86, gelu_neon.cpp on arm64; generic takes the reference per row), with a per-thread
// row of scratch. Plain C++ otherwise: it builds on every architecture.
#include "geglu.h"

#include <vector>

#include "../common/thread_pool.h"
#include "gelu.h"

namespace splade {

void geglu_forward_ref(float* out, const float* h, size_t N, size_t I) {
  for (size_t n = 0; n < N; ++n) {
    const float* x = h + n * 2 * I;
    float* o = out + n * I;
    gelu_forward_ref(o, x, I);
    for (size_t i = 0; i < I; ++i) o[i] *= x[I + i];
  }
}

void geglu_backward_ref(float* dh, const float* dout, const float* h, size_t N, size_t I) {
  std::vector<float> g(I), a(I);
  for (size_t n = 0; n < N; ++n) {
    const float* x = h + n * 2 * I;
    const float* d = dout + n * I;
    float* dx = dh + n * 2 * I;
    gelu_forward_ref(a.data(), x, I);
    for (size_t i = 0; i < I; ++i) {
      g[i] = d[i] * x[I + i];  // dLoss/dgelu(input)
      dx[I + i] += d[i] * a[i];
    }
    gelu_backward_ref(dx, x, g.data(), I);
  }
}

void geglu_forward(float* out, const float* h, size_t N, size_t I) {
  const Isa isa = active_isa();
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n) {
      const float* x = h + n * 2 * I;
      float* o = out + n * I;
      gelu_forward_range_isa(isa, o, x, I);
      for (size_t i = 0; i < I; ++i) o[i] *= x[I + i];
    }
  });
}

void geglu_backward(float* dh, const float* dout, const float* h, size_t N, size_t I) {
  const Isa isa = active_isa();
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    thread_local std::vector<float> g, a;
    g.resize(I), a.resize(I);
    for (size_t n = n0; n < n1; ++n) {
      const float* x = h + n * 2 * I;
      const float* d = dout + n * I;
      float* dx = dh + n * 2 * I;
      gelu_forward_range_isa(isa, a.data(), x, I);
      for (size_t i = 0; i < I; ++i) {
        g[i] = d[i] * x[I + i];
        dx[I + i] += d[i] * a[i];
      }
      gelu_backward_range_isa(isa, dx, x, g.data(), I);
    }
  });
}

}  // namespace splade
