// See splade_pool_i8.h. Tokens in chunks (the chunk's logits, kChunkRows x V floats, stay in L2/L3 rather
// than N x V in memory); the reduction splits the vocabulary between the threads and walks the chunk's
// rows in token order, so the first token wins ties as in the fp32 decoder.
#include "splade_pool_i8.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "gemm.h"

namespace splade {
namespace {

constexpr size_t kChunkRows = 128;

// logits(rows, C, ep) fills L (rows, V) for tokens [n0, n0 + rows); then best / arg (B, V) take the maxima.
template <class Logits>
void pool_chunks(float* w, int32_t* argmax, const float* t, size_t C, size_t V, const int32_t* cu_seqlens, int B,
                 Logits logits) {
  const size_t N = static_cast<size_t>(cu_seqlens[B]);
  std::vector<int32_t> seq_of(N);
  for (int b = 0; b < B; ++b)
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) seq_of[n] = b;
  std::vector<float> best(static_cast<size_t>(B) * V, 0.0f), L(std::min(N, kChunkRows) * V);
  std::vector<int32_t> arg(best.size(), -1);
  for (size_t n0 = 0; n0 < N; n0 += kChunkRows) {
    const size_t rows = std::min(kChunkRows, N - n0);
    logits(L.data(), t + n0 * C, rows);
    parallel_range(V, [&](size_t j0, size_t j1, int) {
      for (size_t r = 0; r < rows; ++r) {
        const size_t off = static_cast<size_t>(seq_of[n0 + r]) * V;
        const float* x = L.data() + r * V;
        for (size_t j = j0; j < j1; ++j)
          if (x[j] > best[off + j]) best[off + j] = x[j], arg[off + j] = static_cast<int32_t>(n0 + r);
      }
    });
  }
  for (size_t i = 0; i < best.size(); ++i) {
    w[i] = std::log1p(best[i]);  // best >= 0: log1p(relu(max logit))
    if (argmax) argmax[i] = arg[i];
  }
}

}  // namespace

void splade_pool_max_i8(float* w, int32_t* argmax, const float* t, const I8Weight& E, const float* bias,
                        const int32_t* cu_seqlens, int B) {
  SPLADE_CHECK(E.N > 0 && E.K > 0 && E.data.size() == E.Np * E.Kp, "splade_pool_max_i8: the decoder is not packed");
  Epilogue ep;
  ep.bias = bias;
  pool_chunks(w, argmax, t, E.K, E.N, cu_seqlens, B,
              [&](float* L, const float* x, size_t rows) { gemm_i8(L, E.N, x, E.K, rows, E, ep); });
}

void splade_pool_max_i8_ref(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                            const int32_t* cu_seqlens, int B, size_t C, size_t V) {
  Epilogue ep;
  ep.bias = bias;
  pool_chunks(w, argmax, t, C, V, cu_seqlens, B,
              [&](float* L, const float* x, size_t rows) { gemm_i8_reference(L, V, x, C, rows, E, C, V, C, ep); });
}

}  // namespace splade
