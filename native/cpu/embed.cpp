// Embedding sum (word + position + token type) over packed sequences; see embed.h.
#include "embed.h"

#include <vector>

#include "../common/thread_pool.h"
#include "isa_target.h"

namespace splade {

void embed_forward_ref(float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens, int B,
                       const float* wte, const float* wpe, const float* wtt, size_t C) {
  for (int b = 0; b < B; ++b) {
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) {
      const float* w = wte + static_cast<size_t>(ids[n]) * C;
      const float* p = wpe + static_cast<size_t>(n - cu_seqlens[b]) * C;
      const float* t = wtt ? wtt + static_cast<size_t>(type_ids ? type_ids[n] : 0) * C : nullptr;
      float* o = out + static_cast<size_t>(n) * C;
      for (size_t c = 0; c < C; ++c) o[c] = w[c] + p[c] + (t ? t[c] : 0.0f);
    }
  }
}

namespace {

// rows [begin, end) of out; pos_of is (N) the position of each row
SPLADE_INLINE void embed_rows_body(size_t begin, size_t end, float* __restrict out, const int32_t* ids,
                                   const int32_t* type_ids, const int32_t* pos_of, const float* wte,
                                   const float* wpe, const float* wtt, size_t C) {
  for (size_t n = begin; n < end; ++n) {
    const float* __restrict w = wte + static_cast<size_t>(ids[n]) * C;
    const float* __restrict p = wpe + static_cast<size_t>(pos_of[n]) * C;
    float* __restrict o = out + n * C;
    if (wtt) {
      const float* __restrict t = wtt + static_cast<size_t>(type_ids ? type_ids[n] : 0) * C;
      for (size_t c = 0; c < C; ++c) o[c] = w[c] + p[c] + t[c];
    } else {
      for (size_t c = 0; c < C; ++c) o[c] = w[c] + p[c];
    }
  }
}

SPLADE_ISA_VARIANTS(embed_rows, embed_rows_body,
                    (size_t begin, size_t end, float* out, const int32_t* ids, const int32_t* type_ids,
                     const int32_t* pos_of, const float* wte, const float* wpe, const float* wtt, size_t C),
                    (begin, end, out, ids, type_ids, pos_of, wte, wpe, wtt, C))

}  // namespace

void embed_forward_isa(Isa isa, float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens,
                       int B, const float* wte, const float* wpe, const float* wtt, size_t C) {
  const size_t N = static_cast<size_t>(cu_seqlens[B]);
  std::vector<int32_t> pos_of(N);
  for (int b = 0; b < B; ++b)
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) pos_of[n] = n - cu_seqlens[b];
  auto rows = SPLADE_PICK_ISA(isa, embed_rows);
  parallel_range(N, [&](size_t begin, size_t end, int) {
    rows(begin, end, out, ids, type_ids, pos_of.data(), wte, wpe, wtt, C);
  });
}

}  // namespace splade

namespace splade {

void embed_backward(float* dwte, float* dwpe, float* dwtt, const float* dout, const int32_t* ids,
                        const int32_t* type_ids, const int32_t* cu_seqlens, int B, size_t C) {
  for (int b = 0; b < B; ++b) {
    for (int32_t n = cu_seqlens[b]; n < cu_seqlens[b + 1]; ++n) {
      const float* g = dout + static_cast<size_t>(n) * C;
      float* w = dwte + static_cast<size_t>(ids[n]) * C;
      float* p = dwpe + static_cast<size_t>(n - cu_seqlens[b]) * C;
      float* t = dwtt ? dwtt + static_cast<size_t>(type_ids ? type_ids[n] : 0) * C : nullptr;
      for (size_t c = 0; c < C; ++c) {
        w[c] += g[c];
        p[c] += g[c];
        if (t) t[c] += g[c];
      }
    }
  }
}

}  // namespace splade
