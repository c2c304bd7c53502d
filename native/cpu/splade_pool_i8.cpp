// See splade_pool_i8.h. The fast path: every token quantised once, then a task per 128 terms (their
// Kp x 128 bytes stay in L2) walks the tokens in order, 48 at a time: block kernel, dequantisation into a
// 48 x 128 tile (L1), maximum into each token's sequence. No logit leaves the tile, and each term has one
// thread walking its tokens in order, so the first token wins ties as in the fp32 decoder. The reference
// computes logits a chunk of tokens at a time (gemm_i8_reference) and reduces them the same way.
#include "splade_pool_i8.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "gemm.h"
#include "isa_target.h"
#include "splade_pool.h"

namespace splade {
namespace {

constexpr size_t kChunkRows = 128;  // the reference's chunk of tokens
constexpr size_t kTaskPanels = 8;   // 128 terms a task
constexpr size_t kBlockRows = 48;   // a multiple of the block kernels' 4 and 6 rows

// One token's logits x (cols) into its sequence's running maxima: x > best (strictly: ties keep the first)
SPLADE_INLINE void max_into_body(float* best, int32_t* arg, const float* x, size_t cols, int32_t m) {
  for (size_t j = 0; j < cols; ++j) {
    const bool up = x[j] > best[j];
    best[j] = up ? x[j] : best[j];
    arg[j] = up ? m : arg[j];
  }
}
SPLADE_ISA_VARIANTS(max_into, max_into_body, (float* best, int32_t* arg, const float* x, size_t cols, int32_t m),
                    (best, arg, x, cols, m))

void finish(float* w, int32_t* argmax, const std::vector<float>& best, const std::vector<int32_t>& arg) {
  for (size_t i = 0; i < best.size(); ++i) {
    w[i] = std::log1p(best[i]);  // best >= 0: log1p(relu(max logit))
    if (argmax) argmax[i] = arg[i];
  }
}

// logits(rows, C, ep) fills L (rows, V) for tokens [n0, n0 + rows); then best / arg (B, V) take the maxima.
template <class Logits>
void pool_chunks(float* w, int32_t* argmax, const float* t, size_t C, size_t V, const int32_t* cu_seqlens, int B,
                 Logits logits) {
  const size_t N = static_cast<size_t>(cu_seqlens[B]);
  const std::vector<int32_t> seq_of = sequence_of_tokens(cu_seqlens, B);
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
  finish(w, argmax, best, arg);
}

}  // namespace

void splade_pool_max_i8(float* w, int32_t* argmax, const float* t, const I8Weight& E, const float* bias,
                        const int32_t* cu_seqlens, int B) {
  SPLADE_CHECK(E.N > 0 && E.K > 0 && E.data.size() == E.Np * E.Kp && E.scale.size() == E.N && E.colsum.size() == E.N,
               "splade_pool_max_i8: the decoder is not packed");
  const I8Kernel kernel = i8_active_kernel();
  const size_t N = static_cast<size_t>(cu_seqlens[B]), V = E.N, Kp = E.Kp, panels = E.Np / 16;
  const std::vector<int32_t> seq_of = sequence_of_tokens(cu_seqlens, B);
  std::vector<uint8_t> q(N * Kp);
  std::vector<float> sa(N);
  std::vector<int32_t> zp(N);
  i8::quantize_rows(kernel, q.data(), sa.data(), zp.data(), t, E.K, N, E.K, Kp);
  std::vector<float> best(static_cast<size_t>(B) * V, 0.0f);
  std::vector<int32_t> arg(best.size(), -1);
  const i8::BlockFn block = i8::block_for(kernel, E);
  auto max_into = SPLADE_PICK_ISA(kernel == I8Kernel::generic ? Isa::generic : Isa::avx2, max_into);
  Epilogue ep;
  ep.bias = bias;
  parallel_for((panels + kTaskPanels - 1) / kTaskPanels, [&](size_t task, int) {
    thread_local std::vector<int32_t> acc(kBlockRows * kTaskPanels * 16);
    thread_local std::vector<float> tile(kBlockRows * kTaskPanels * 16);
    const size_t p0 = task * kTaskPanels, np = std::min(kTaskPanels, panels - p0), ld = np * 16;
    const size_t n0 = p0 * 16, cols = std::min(ld, V - n0);
    for (size_t m0 = 0; m0 < N; m0 += kBlockRows) {
      const size_t rows = std::min(kBlockRows, N - m0);
      block(acc.data(), q.data() + m0 * Kp, Kp, rows, E.data.data() + p0 * Kp * 16, np);
      i8::dequant_block(kernel, tile.data(), ld, acc.data(), ld, rows, cols, m0, n0, sa.data(), zp.data(), E, ep);
      for (size_t r = 0; r < rows; ++r) {
        const size_t off = static_cast<size_t>(seq_of[m0 + r]) * V + n0;
        max_into(best.data() + off, arg.data() + off, tile.data() + r * ld, cols, static_cast<int32_t>(m0 + r));
      }
    }
  });
  finish(w, argmax, best, arg);
}

void splade_pool_max_i8_ref(float* w, int32_t* argmax, const float* t, const float* E, const float* bias,
                            const int32_t* cu_seqlens, int B, size_t C, size_t V, int qmax) {
  Epilogue ep;
  ep.bias = bias;
  pool_chunks(w, argmax, t, C, V, cu_seqlens, B, [&](float* L, const float* x, size_t rows) {
    gemm_i8_reference(L, V, x, C, rows, E, C, V, C, ep, qmax);
  });
}

}  // namespace splade
