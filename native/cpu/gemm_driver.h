// The cache-blocked SGEMM loops (GotoBLAS/BLIS order), shared by every ISA. Each ISA file includes
// this AFTER its `#pragma GCC target`, so these templates compile with that ISA's instructions; every
// template takes the ISA's kernel policy K (a type in the ISA's namespace), so instantiations of
// different ISAs are distinct symbols and the linker can never mix them up.
//
// K provides:
//   MR, NR              micro-tile: C is updated MR rows x NR columns at a time
//   MC, KC, NC          cache blocks: packed B block KC x NC (L3), packed A block MC x KC (L2),
//                       one B micro-panel KC x NR (L1)
//   kernel(kc, a, b, c, ldc, alpha, beta)   full tile: c = alpha * a.b + beta * c (beta 0: c not read)
//   kRowKernels, kernel_rows(rows, ...)     when kRowKernels: the first rows < MR rows of a full-width
//                                           tile (else such tiles go through a scratch tile)
//   kPrefetchNextB, kernel_next(..., next_b, every) when kPrefetchNextB: kernel that also fetches rows of
//                                           the next B micro-panel into L2, from next_b one row every
//                                           `every` k (used on a pre-packed B's first pass)
//   pack_a(g, m, mr, k0, kc, dst)           one MR-row panel of op(A), zero-padded to MR rows
//   pack_b(g, n0, nc, k0, kc, dst)          the B block: ceil(nc / NR) NR-column panels of op(B), the
//                                           last zero-padded to NR columns
//   epilogue(c, ldc, rows, cols, bias, residual, ldr, act)   bias, residual, activation on a tile
// Packed layouts: an A panel is (kc, MR) row-major, a B panel is (kc, NR) row-major.
#pragma once
#include <algorithm>
#include <cstddef>

#include "../common/thread_pool.h"
#include "gemm_isa.h"

namespace splade::gemm_driver {

// Below this many flops (about 0.2 ms on one Zen3 core) the whole product runs on the calling thread:
// measured from JS, 100^3 and 128^3 ran slower on 2 threads than on 1 (45 against 32 us, 69 against 53),
// 200^3 about even, 256^3 1.9x faster.
inline constexpr double kParallelMinFlops = 2.0e7;
// A task over a column range repacks all of A; 1536 columns keep that under 1% of its flops.
inline constexpr size_t kMinTaskCols = 1536;
// Packed A kept across column blocks up to 2 Mi floats (8 MiB): 512 tokens x 3072 is 1.5 Mi.
inline constexpr size_t kKeepPackedAFloats = size_t{1} << 21;

template <class K>
struct Driver {
  static constexpr size_t MR = K::MR, NR = K::NR;
  static_assert(K::MC % K::MR == 0, "a kept, packed A is addressed in whole MR-row panels per MC block");

  static bool has_epilogue(const GemmArgs& g) {
    return g.epilogue.bias || g.epilogue.residual || g.epilogue.activation != Activation::none;
  }

  // Bias / residual / activation over rows [m, m+rows) and columns [n, n+cols) of a finished C.
  static void finish(const GemmArgs& g, size_t m, size_t n, size_t rows, size_t cols) {
    const Epilogue& e = g.epilogue;
    K::epilogue(g.C + m * g.ldc + n, g.ldc, rows, cols, e.bias ? e.bias + n : nullptr,
                e.residual ? e.residual + m * e.ldr + n : nullptr, e.ldr, e.activation);
  }

  // C = beta * C (+ epilogue): the product is empty (K == 0) or scaled away (alpha == 0).
  static void scale_only(const GemmArgs& g) {
    for (size_t m = 0; m < g.M; ++m) {
      float* c = g.C + m * g.ldc;
      if (g.beta == 0.0f) std::fill(c, c + g.N, 0.0f);
      else for (size_t n = 0; n < g.N; ++n) c[n] *= g.beta;
    }
    if (has_epilogue(g)) finish(g, 0, 0, g.M, g.N);
  }

  // One MR x NR tile of C, of which only rows x cols exist: computed whole into a scratch tile.
  static void edge_tile(size_t kc, const float* a, const float* b, float* c, size_t ldc, size_t rows, size_t cols,
                        float alpha, float beta) {
    alignas(64) float tile[MR * NR];
    K::kernel(kc, a, b, tile, NR, 1.0f, 0.0f);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < cols; ++j) {
        const float v = alpha * tile[i * NR + j];
        c[i * ldc + j] = beta == 0.0f ? v : v + beta * c[i * ldc + j];
      }
    }
  }

  static size_t round_up_nr(size_t n) { return (n + NR - 1) / NR * NR; }

  // All of op(B) packed (GemmArgs::packed_b): K block pc starts at pc * round_up_nr(N), and within it
  // the panel of columns [n, n + NR) at n * kc, the layout pack_b gives one block.
  static size_t packed_b_floats(size_t depth, size_t cols) { return depth * round_up_nr(cols); }
  static void pack_b_all(const GemmArgs& g, float* dst) {
    const size_t n_pad = round_up_nr(g.N), chunk = 64 * NR;  // column chunks run on the pool
    for (size_t pc = 0; pc < g.K; pc += K::KC) {
      const size_t kc = std::min(K::KC, g.K - pc);
      parallel_for((g.N + chunk - 1) / chunk, [&](size_t t, int) {
        const size_t n0 = t * chunk;
        K::pack_b(g, n0, std::min(chunk, g.N - n0), pc, kc, dst + pc * n_pad + n0 * kc);
      });
    }
  }

  // The serial blocked product over rows [m_begin, m_end) and columns [n_begin, n_end) of C.
  static void block(const GemmArgs& g, size_t m_begin, size_t m_end, size_t n_begin, size_t n_end) {
    const size_t nc_max = std::min(K::NC, n_end - n_begin), mc_max = std::min(K::MC, m_end - m_begin);
    const size_t kc_max = std::min(K::KC, g.K);
    const float* packed_b = g.packed_b ? g.packed_b->data : nullptr;
    float* bbuf = packed_b ? nullptr : gemm_scratch(1, kc_max * round_up_nr(nc_max));
    // When there are several column blocks, A would be packed again for each; if all of this task's A fits
    // the budget, it is packed once (during the first column block) and reused: the MLM head's 30522
    // columns are 40 blocks at NC 768, so A would otherwise be transposed 40 times.
    const size_t m_pad = (m_end - m_begin + MR - 1) / MR * MR;
    const bool keep_a = n_end - n_begin > K::NC && m_pad * g.K <= kKeepPackedAFloats;
    float* abuf = gemm_scratch(0, keep_a ? m_pad * g.K : kc_max * ((mc_max + MR - 1) / MR) * MR);
    const bool epi = has_epilogue(g);
    for (size_t jc = n_begin; jc < n_end; jc += K::NC) {
      const size_t nc = std::min(K::NC, n_end - jc);
      for (size_t pc = 0; pc < g.K; pc += K::KC) {
        const size_t kc = std::min(K::KC, g.K - pc);
        const bool last = pc + kc == g.K;
        const float beta = pc == 0 ? g.beta : 1.0f;  // later K blocks accumulate onto the first
        const float* bblk = packed_b ? packed_b + pc * round_up_nr(g.N) + jc * kc : bbuf;
        if (!packed_b) K::pack_b(g, jc, nc, pc, kc, bbuf);
        for (size_t ic = m_begin; ic < m_end; ic += K::MC) {
          const size_t mc = std::min(K::MC, m_end - ic);
          // Kept: the (pc, ic) block sits at pc * m_pad + (ic - m_begin) * kc (panels of MR rows x kc).
          float* ablk = keep_a ? abuf + pc * m_pad + (ic - m_begin) * kc : abuf;
          if (!keep_a || jc == n_begin)
            for (size_t ir = 0; ir < mc; ir += MR) K::pack_a(g, ic + ir, std::min(MR, mc - ir), pc, kc, ablk + ir * kc);
          // A pre-packed B comes from memory: the first `spread` full tiles over a panel each fetch
          // 1 / spread of the next panel (a power of two, at most 8, so the fetch is spread out).
          size_t spread = 1;
          while (spread * 2 <= std::min<size_t>(8, mc / MR)) spread *= 2;
          const size_t spread_rows = (kc + spread - 1) / spread;
          // jr outer, ir inner: one B micro-panel stays in L1 while the A block streams from L2.
          for (size_t jr = 0; jr < nc; jr += NR) {
            const size_t cols = std::min(NR, nc - jr);
            const float* bp = bblk + jr * kc;
            for (size_t ir = 0; ir < mc; ir += MR) {
              const size_t rows = std::min(MR, mc - ir);
              float* c = g.C + (ic + ir) * g.ldc + jc + jr;
              if constexpr (K::kPrefetchNextB) {
                if (packed_b && ir / MR < spread && jc + jr + NR < n_end && rows == MR && cols == NR) {
                  K::kernel_next(kc, ablk + ir * kc, bp, c, g.ldc, g.alpha, beta, bp + NR * kc + ir / MR * spread_rows * NR, spread);
                  if (last && epi) finish(g, ic + ir, jc + jr, rows, cols);
                  continue;
                }
              }
              if (rows == MR && cols == NR) K::kernel(kc, ablk + ir * kc, bp, c, g.ldc, g.alpha, beta);
              else if (K::kRowKernels && cols == NR) K::kernel_rows(rows, kc, ablk + ir * kc, bp, c, g.ldc, g.alpha, beta);
              else edge_tile(kc, ablk + ir * kc, bp, c, g.ldc, rows, cols, g.alpha, beta);
              // Fused epilogue while the tile is still in L1.
              if (last && epi) finish(g, ic + ir, jc + jr, rows, cols);
            }
          }
        }
      }
    }
  }

  static void run(const GemmArgs& g) {
    if (g.M == 0 || g.N == 0) return;
    if (g.K == 0 || g.alpha == 0.0f) return scale_only(g);
    const size_t threads = static_cast<size_t>(num_threads());
    const double flops = 2.0 * g.M * g.N * g.K;
    if (threads == 1 || flops < kParallelMinFlops) return block(g, 0, g.M, 0, g.N);
    // Independent tasks, each packing its own operands: splitting N repacks A once per task, splitting M
    // repacks B (unless pre-packed), so split the longer side (the smaller operand is packed again). A pool region
    // has no barriers, so sharing one packed block between threads is not an option. A wide N (the
    // 30522-column MLM head) gets up to 4 tasks per thread of at least kMinTaskCols columns each, so a
    // thread that loses its core for a while (a shared machine) does not hold up the whole call.
    const size_t n_units = (g.N + NR - 1) / NR, m_units = (g.M + MR - 1) / MR;
    size_t n_tasks, m_tasks;
    if (g.N >= g.M && n_units >= threads) {
      n_tasks = std::clamp(g.N / kMinTaskCols, threads, 4 * threads);
      n_tasks = std::min(n_tasks, n_units);
      m_tasks = 1;
    } else if (m_units >= threads) {
      m_tasks = threads, n_tasks = 1;
    } else {
      n_tasks = std::min(n_units, threads), m_tasks = std::min(m_units, (threads + n_tasks - 1) / n_tasks);
    }
    parallel_for(n_tasks * m_tasks, [&](size_t t, int) {
      const size_t tn = t % n_tasks, tm = t / n_tasks;
      const size_t n0 = n_units * tn / n_tasks * NR, n1 = std::min(g.N, n_units * (tn + 1) / n_tasks * NR);
      const size_t m0 = m_units * tm / m_tasks * MR, m1 = std::min(g.M, m_units * (tm + 1) / m_tasks * MR);
      if (n0 < n1 && m0 < m1) block(g, m0, m1, n0, n1);
    });
  }
};

// Portable packers (the ISA's compiler flags vectorise what they can); ISAs override the transposing ones.
// Templated on the policy K (not on MR alone) so that two ISAs with equal MR never share a symbol.
template <class K>
inline void pack_a_plain(const GemmArgs& g, size_t m, size_t mr, size_t k0, size_t kc, float* dst) {
  constexpr size_t MR = K::MR;
  if (g.ta == Trans::yes) {  // A is (K, M): a row of the panel is contiguous
    const float* src = g.A + k0 * g.lda + m;
    for (size_t k = 0; k < kc; ++k, src += g.lda, dst += MR) {
      for (size_t i = 0; i < mr; ++i) dst[i] = src[i];
      for (size_t i = mr; i < MR; ++i) dst[i] = 0.0f;
    }
  } else {  // A is (M, K): transpose mr rows
    const float* src = g.A + m * g.lda + k0;
    for (size_t k = 0; k < kc; ++k, dst += MR) {
      for (size_t i = 0; i < mr; ++i) dst[i] = src[i * g.lda + k];
      for (size_t i = mr; i < MR; ++i) dst[i] = 0.0f;
    }
  }
}

template <class K>
inline void pack_b_plain(const GemmArgs& g, size_t n, size_t nr, size_t k0, size_t kc, float* dst) {
  constexpr size_t NR = K::NR;
  if (g.tb == Trans::no) {  // B is (K, N): a row of the panel is contiguous
    const float* src = g.B + k0 * g.ldb + n;
    for (size_t k = 0; k < kc; ++k, src += g.ldb, dst += NR) {
      for (size_t j = 0; j < nr; ++j) dst[j] = src[j];
      for (size_t j = nr; j < NR; ++j) dst[j] = 0.0f;
    }
  } else {  // B is (N, K): transpose nr rows
    const float* src = g.B + n * g.ldb + k0;
    for (size_t k = 0; k < kc; ++k, dst += NR) {
      for (size_t j = 0; j < nr; ++j) dst[j] = src[j * g.ldb + k];
      for (size_t j = nr; j < NR; ++j) dst[j] = 0.0f;
    }
  }
}

}  // namespace splade::gemm_driver
