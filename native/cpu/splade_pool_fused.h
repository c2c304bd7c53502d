// The decoder fused with max pooling in registers (the fp32 inference path's decoder on AVX2 and
// AVX-512 without AMX): the decoder E (V,C) is packed once (at prepare) into panels of 16 vocabulary
// rows, a register block of 6 tokens x 16 terms computes its logits over the whole of C, and the block
// is reduced at once (max over its tokens when they belong to one sequence) into a running maximum per
// (sequence, term), so no logits buffer is written or read back and E is never packed per call, as
// splade_pool_forward's tiled sgemm does. Same result as splade_pool_forward (fp32 sums in k order).
#pragma once
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "../common/cpu_features.h"
#include "../common/thread_pool.h"

namespace splade {

struct PoolPanels {
  size_t V = 0, C = 0, Vp = 0;  // Vp = ceil(V/16)*16
  std::vector<float> data;      // panel p: C x 16 floats, [k][c] = E[p*16 + c][k]; padding rows 0
  size_t bytes() const { return data.size() * sizeof(float); }
};
PoolPanels splade_pool_pack(const float* E, size_t V, size_t C);

// Max pooling (splade_pool.h's w and argmax; argmax may be null) over the packed decoder; t (N,C),
// bias (V). isa avx2 or avx512 runs the AVX2 register kernel; generic a plain loop over the panels.
void splade_pool_max_fused(Isa isa, float* w, int32_t* argmax, const float* t, const PoolPanels& E, const float* bias,
                           const int32_t* cu_seqlens, int B);

// The fused kernel on rows of the caller's choosing (the screen's re-scoring, splade_pool_screen.h):
// rows [0, rows) of t (rows, C), row r of sequence seq_of[r] and token ids[r], against one panel whose
// 16 terms are columns [col, col + 16) of best / arg (B, ld): best = max(best, logit) with arg its token
// (strictly greater: the first row wins ties, so rows must come in token order). Bit for bit the
// arithmetic of splade_pool_max_fused on the same isa.
void splade_pool_fused_rows(Isa isa, float* best, int32_t* arg, size_t ld, size_t col, const float* t, size_t C,
                            const float* panel, const float* bias16, const int32_t* seq_of, const int32_t* ids,
                            size_t rows);
// f(p0, p1) on each thread of the pool with its share [p0, p1) of the panels (not called for none):
// threads own vocabulary ranges, so no two write the same column of w.
template <class F>
void for_thread_panels(size_t panels, F&& f) {
  const size_t threads = static_cast<size_t>(num_threads()), per = (panels + threads - 1) / threads;
  parallel_for(threads, [&](size_t th, int) {
    const size_t p0 = std::min(panels, th * per), p1 = std::min(panels, p0 + per);
    if (p0 < p1) f(p0, p1);
  });
}

// A thread's running maxima (best, arg: (B, ld), its terms [j0, j1)) into w and argmax (B, V; argmax
// may be null): w = log1p(best).
void splade_pool_fused_store(float* w, int32_t* argmax, const float* best, const int32_t* arg, size_t ld, size_t j0,
                             size_t j1, size_t V, int B);

}  // namespace splade
