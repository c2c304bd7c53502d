// AMX-BF16 kernels of gemm_bf16.h. One building block: a 32 x 32 fp32 block of A.W^T from four
// accumulator tiles (2 x 2 of 16 x 16), two A tiles (16 rows x 32 k, from A's bf16 copy: in tile order
// for the GEMM, row-major for the decoder) and two B tiles (the packed weight, 1 KiB each), TDPBF16PS
// over K in steps of 32. Threads own disjoint output blocks: the GEMM splits (rows x columns) into
// tasks of 128 rows whose A and W panels stay in L2 (column-chunk major, so a W chunk is reused by
// consecutive tasks); the decoder splits the vocabulary into column chunks and walks every token
// per chunk, reducing each finished block into the chunk's own w / argmax columns at once (max pooling),
// so the (N, V) logits never exist and no two threads write the same w[b, j].
// The tile configuration is per thread, so every task loads it first.
#include "../common/cpu_features.h"
#if defined(SPLADE_X86)  // x86-64 only: other architectures never choose the AMX kernels

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../common/thread_pool.h"
#include "gemm.h"
#include "gemm_bf16.h"

#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif
// GCC 12 reports _mm512_max_ps's deliberately undefined pass-through operand as uninitialised.
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "gemm_ymm.h"

namespace splade::amx {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

void configure() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) cfg.colsb[i] = 64, cfg.rows[i] = 16;
  _tile_loadconfig(&cfg);
}

// out (32 x 32, ld 32) = [a0 ; a1] . [b0 | b1] over kb K-blocks of 32. a0 and a1 are the two 16-row
// halves of A: either rows of a row-major bf16 matrix (a_stride = its row length in bytes, a_step = 32
// elements per K-block) or runs of 1 KiB tiles (a_stride 64, a_step 512), as the B operands always are
// (contiguous kilobytes, which the prefetchers follow).
inline void block32(float* out, const uint16_t* a0, const uint16_t* a1, size_t a_stride, size_t a_step,
                    const uint16_t* b0, const uint16_t* b1, size_t kblocks) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (size_t kb = 0; kb < kblocks; ++kb) {  // loads interleaved with the products that free their tiles
    _tile_loadd(4, a0 + kb * a_step, a_stride);
    _tile_loadd(6, b0 + kb * 512, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, b1 + kb * 512, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a1 + kb * a_step, a_stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 128);
  _tile_stored(1, out + 16, 128);
  _tile_stored(2, out + 16 * 32, 128);
  _tile_stored(3, out + 16 * 32 + 16, 128);
}

// bf16_round (gemm_bf16.h) on 16 floats: round to nearest even, NaN kept quiet
inline __m256i round16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
  return _mm512_cvtepi32_epi16(r);
}

constexpr size_t kTaskRows = 128, kTaskCols = 256;

// Task columns: the task's A rows and B columns (Kp bf16 each) fit in about 1 MiB of L2.
inline size_t task_cols(size_t Kp) { return std::clamp<size_t>(kTaskCols * 768 / Kp / 32 * 32, 32, kTaskCols); }

void gemm_task(float* C, size_t ldc, const uint16_t* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep,
               size_t m0, size_t n0) {
  configure();
  const size_t KB = W.Kp / 32;
  alignas(64) float buf[32 * 32];
  for (size_t mb = m0; mb < std::min(m0 + kTaskRows, M); mb += 32) {
    const size_t rows = std::min<size_t>(32, M - mb);
    for (size_t nb = n0; nb < std::min(n0 + task_cols(W.Kp), W.N); nb += 32) {
      const size_t cols = std::min<size_t>(32, W.N - nb);
      const uint16_t* b0 = W.data.data() + (nb / 16) * KB * 512;
      block32(buf, A + (mb / 16) * KB * 512, A + (mb / 16 + 1) * KB * 512, 64, 512, b0, b0 + KB * 512, KB);
      float* c = C + mb * ldc + nb;
      for (size_t r = 0; r < rows; ++r) std::copy(buf + r * 32, buf + r * 32 + cols, c + r * ldc);
      if (ep.bias || ep.residual || ep.activation != Activation::none)
        ymm::epilogue(c, ldc, rows, cols, ep.bias ? ep.bias + nb : nullptr,
                      ep.residual ? ep.residual + mb * ep.ldr + nb : nullptr, ep.ldr, ep.activation);
    }
  }
  _tile_release();
}

inline float dot(const float* x, const float* y, size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;
  size_t k = 0;
  for (; k + 32 <= n; k += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(y + k + 16), acc1);
  }
  alignas(64) float lanes[16];  // (not _mm512_reduce_add_ps: GCC 12 warns of an uninitialised value inside it)
  _mm512_store_ps(lanes, _mm512_add_ps(acc0, acc1));
  float s = 0;
  for (float v : lanes) s += v;
  for (; k < n; ++k) s += x[k] * y[k];
  return s;
}

constexpr size_t kPoolCols = 512;

// A run of whole sequences [b0, b1) over packed rows [r0, r1): the decoder's unit of work, small
// enough (about kGroupRows rows, unless one sequence is longer) for its logits block to stay in L2.
struct Group {
  size_t r0, r1, b0, b1;
};
constexpr size_t kGroupRows = 256;

// Vocabulary columns [v0, v1) (v1 - v0 <= kPoolCols) over every group. w holds the best logit
// (0: relu's floor), argmax its token. Per group: the bf16 logits of all its rows for these columns
// (S), then per sequence the max; in exact mode a first pass finds the best lower bound of each term
// (bf16 logit - error bound) and a second re-scores in fp32 only the tokens whose upper bound beats it.
void pool_task(float* w, int32_t* argmax, const uint16_t* A, size_t lda, const float* t, const float* t_norms,
               const Bf16Weight& E, const float* E32, const float* e_norms, const float* bias, const int32_t* cu_seqlens,
               const std::vector<Group>& groups, bool exact, size_t v0, std::vector<float>& S) {
  configure();
  const size_t V = E.N, C = E.K, KB = E.Kp / 32, v1 = std::min(V, v0 + kPoolCols), width = v1 - v0;
  const size_t vecs = (width + 15) / 16;
  // |bf16 logit - fp32 logit| <= |t~||E - E~| + |t - t~||E| + gamma (|t~||E~| + |t||E|) (gemm_bf16.h),
  // gamma = (K + 2) 2^-23 (twice the fp32 accumulation bound), all with 1% to spare; plus a relative 2^-20
  // for adding the bias and an absolute floor for flushed denormals. Norms: (3, N) tokens, (3, V) terms.
  const size_t N = groups.empty() ? 0 : groups.back().r1;
  const float gamma = static_cast<float>(C + 2) * 0x1p-23f;
  const float* t_norm = t_norms;
  const float* t_round = exact ? t_norms + N : nullptr;  // t_norms is null when !exact
  const float* t_resid = exact ? t_norms + 2 * N : nullptr;
  auto mask_of = [&](size_t q) -> __mmask16 {
    const size_t left = width - q * 16;
    return left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
  };
  alignas(64) float buf[32 * 32];
  for (const Group& g : groups) {
    const size_t rows = g.r1 - g.r0;
    if (S.size() < rows * kPoolCols) S.resize(rows * kPoolCols);
    for (size_t mb = g.r0; mb < g.r1; mb += 32) {
      const size_t rr = std::min<size_t>(32, g.r1 - mb);
      for (size_t nb = v0; nb < v1; nb += 32) {
        const uint16_t* b0 = E.data.data() + (nb / 16) * KB * 512;
        block32(buf, A + mb * lda, A + (mb + 16) * lda, lda * 2, 32, b0, b0 + KB * 512, KB);
        for (size_t r = 0; r < rr; ++r) std::copy(buf + r * 32, buf + r * 32 + 32, S.data() + (mb - g.r0 + r) * kPoolCols + (nb - v0));
      }
    }
    for (size_t b = g.b0; b < g.b1; ++b) {
      const size_t n0 = static_cast<size_t>(cu_seqlens[b]), n1 = static_cast<size_t>(cu_seqlens[b + 1]);
      float* wb = w + b * V + v0;
      int32_t* ab = argmax + b * V + v0;
      for (size_t q = 0; q < vecs; ++q) {
        const __mmask16 live = mask_of(q);
        const __m512 bv = _mm512_maskz_loadu_ps(live, bias + v0 + q * 16);
        const __m512 e_norm = _mm512_maskz_loadu_ps(live, e_norms + v0 + q * 16);
        const __m512 e_round = _mm512_maskz_loadu_ps(live, e_norms + V + v0 + q * 16);
        const __m512 e_resid = _mm512_maskz_loadu_ps(live, e_norms + 2 * V + v0 + q * 16);
        if (!exact) {  // max of the bf16 logits, first token on ties
          __m512 best = _mm512_setzero_ps();
          __m512i arg = _mm512_set1_epi32(-1);
          for (size_t n = n0; n < n1; ++n) {
            const __m512 x = _mm512_add_ps(_mm512_loadu_ps(S.data() + (n - g.r0) * kPoolCols + q * 16), bv);
            const __mmask16 gt = _mm512_cmp_ps_mask(x, best, _CMP_GT_OQ);
            best = _mm512_mask_mov_ps(best, gt, x);
            arg = _mm512_mask_mov_epi32(arg, gt, _mm512_set1_epi32(static_cast<int32_t>(n)));
          }
          _mm512_mask_storeu_ps(wb + q * 16, live, best);
          _mm512_mask_storeu_epi32(ab + q * 16, live, arg);
          continue;
        }
        auto bounds = [&](size_t n, __m512* lower, __m512* upper) {
          const __m512 s = _mm512_loadu_ps(S.data() + (n - g.r0) * kPoolCols + q * 16);
          const __m512 logit = _mm512_add_ps(s, bv);
          const __m512 mag = _mm512_add_ps(_mm512_andnot_ps(_mm512_set1_ps(-0.0f), s), _mm512_andnot_ps(_mm512_set1_ps(-0.0f), bv));
          __m512 m = _mm512_fmadd_ps(mag, _mm512_set1_ps(0x1p-20f), _mm512_set1_ps(1e-30f));
          m = _mm512_fmadd_ps(_mm512_set1_ps(1.01f * t_round[n]), e_resid, m);
          m = _mm512_fmadd_ps(_mm512_set1_ps(1.01f * (t_resid[n] + gamma * t_norm[n])), e_norm, m);
          m = _mm512_fmadd_ps(_mm512_set1_ps(1.01f * gamma * t_round[n]), e_round, m);
          *lower = _mm512_sub_ps(logit, m);
          *upper = _mm512_add_ps(logit, m);
        };
        __m512 floor = _mm512_setzero_ps(), lo, up;  // the best lower bound (and relu's 0)
        for (size_t n = n0; n < n1; ++n) {
          bounds(n, &lo, &up);
          floor = _mm512_max_ps(floor, lo);
        }
        alignas(64) float best[16] = {};
        alignas(64) int32_t arg[16];
        std::fill(arg, arg + 16, -1);
        for (size_t n = n0; n < n1; ++n) {
          bounds(n, &lo, &up);
          __mmask16 maybe = _mm512_mask_cmp_ps_mask(live, up, _mm512_max_ps(floor, _mm512_load_ps(best)), _CMP_GT_OQ);
          while (maybe) {  // the few tokens that might hold the max: scored in fp32
            const int j = __builtin_ctz(maybe);
            maybe &= static_cast<__mmask16>(maybe - 1);
            const size_t jj = v0 + q * 16 + static_cast<size_t>(j);
            const float x = dot(t + n * C, E32 + jj * C, C) + bias[jj];
            if (x > best[j]) best[j] = x, arg[j] = static_cast<int32_t>(n);
          }
        }
        _mm512_mask_storeu_ps(wb + q * 16, live, _mm512_load_ps(best));
        _mm512_mask_storeu_epi32(ab + q * 16, live, _mm512_load_si512(arg));
      }
    }
  }
  _tile_release();
}

}  // namespace

void round_rows(uint16_t* out, const float* A, size_t lda, size_t M, size_t K, size_t Kp, size_t Mp) {
  parallel_range(Mp, [&](size_t m0, size_t m1, int) {
    for (size_t m = m0; m < m1; ++m) {
      uint16_t* o = out + m * Kp;
      size_t k = 0;
      if (m < M) {
        const float* a = A + m * lda;
        for (; k + 16 <= K; k += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + k), round16(_mm512_loadu_ps(a + k)));
        for (; k < K; ++k) o[k] = bf16_round(a[k]);
      }
      std::fill(o + k, o + Kp, uint16_t{0});
    }
  });
}

void round_tiles(uint16_t* out, const float* A, size_t lda, size_t M, size_t K, size_t Kp, size_t Mp) {
  const size_t KB = Kp / 32;
  parallel_range(Mp, [&](size_t m0, size_t m1, int) {
    for (size_t m = m0; m < m1; ++m) {
      uint16_t* o = out + (m / 16) * KB * 512 + (m % 16) * 32;  // row m % 16 of each of its K-block tiles
      const float* a = A + m * lda;
      for (size_t kb = 0; kb < KB; ++kb, o += 512) {
        const size_t k0 = kb * 32;
        if (m < M && k0 + 32 <= K) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), round16(_mm512_loadu_ps(a + k0)));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 16), round16(_mm512_loadu_ps(a + k0 + 16)));
        } else {
          for (size_t k = 0; k < 32; ++k) o[k] = m < M && k0 + k < K ? bf16_round(a[k0 + k]) : uint16_t{0};
        }
      }
    }
  });
}

void gemm(float* C, size_t ldc, const uint16_t* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep) {
  const size_t cols = task_cols(W.Kp), mt = (M + kTaskRows - 1) / kTaskRows, nt = (W.N + cols - 1) / cols;
  parallel_for(mt * nt, [&](size_t task, int) {
    // column-chunk major: consecutive tasks share a W chunk (kept in L2) and stream A's row chunks
    gemm_task(C, ldc, A, lda, M, W, ep, (task % mt) * kTaskRows, (task / mt) * cols);
  });
}

void pool_max(float* w, int32_t* argmax, const uint16_t* A, size_t lda, const float* t, const float* t_norms,
              const Bf16Weight& E, const float* E32, const float* e_norms, const float* bias, const int32_t* cu_seqlens,
              int B, bool exact) {
  const size_t V = E.N;
  std::vector<Group> groups;
  for (int b = 0; b < B;) {
    Group g{static_cast<size_t>(cu_seqlens[b]), 0, static_cast<size_t>(b), 0};
    while (b < B && (b == static_cast<int>(g.b0) || static_cast<size_t>(cu_seqlens[b + 1]) - g.r0 <= kGroupRows)) ++b;
    g.b1 = static_cast<size_t>(b), g.r1 = static_cast<size_t>(cu_seqlens[b]);
    groups.push_back(g);
  }
  parallel_for((V + kPoolCols - 1) / kPoolCols, [&](size_t task, int) {
    thread_local std::vector<float> S;  // (group rows, kPoolCols)
    const size_t v0 = task * kPoolCols, v1 = std::min(V, v0 + kPoolCols);
    pool_task(w, argmax, A, lda, t, t_norms, E, E32, e_norms, bias, cu_seqlens, groups, exact, v0, S);
    for (int b = 0; b < B; ++b)
      for (size_t j = v0; j < v1; ++j) w[b * V + j] = std::log1p(w[b * V + j]);  // w >= 0: log1p(relu(max))
  });
}

}  // namespace splade::amx

#include "target_region_pop.h"

#else  // not x86-64: no AMX; gemm_bf16.cpp never calls these (bf16_fast_available() is false)

#include "../common/error.h"
#include "gemm_bf16.h"

namespace splade::amx {
[[noreturn]] static void no_amx() { fail(kUnsupported, "the AMX-BF16 kernels exist only on x86-64"); }
void round_rows(uint16_t*, const float*, size_t, size_t, size_t, size_t, size_t) { no_amx(); }
void round_tiles(uint16_t*, const float*, size_t, size_t, size_t, size_t, size_t) { no_amx(); }
void gemm(float*, size_t, const uint16_t*, size_t, size_t, const Bf16Weight&, const Epilogue&) { no_amx(); }
void pool_max(float*, int32_t*, const uint16_t*, size_t, const float*, const float*, const Bf16Weight&, const float*,
              const float*, const float*, const int32_t*, int, bool) { no_amx(); }
}  // namespace splade::amx

#endif  // SPLADE_X86
