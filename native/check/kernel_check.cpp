// Fast kernels against their references; see kernel_check.h.
#include "kernel_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "../common/error.h"
#include "../cpu/attention.h"
#include "../cpu/embed.h"
#include "../cpu/gelu.h"
#include "../cpu/gemm_bf16.h"
#include "../cpu/gemm_i8.h"
#include "../cpu/layernorm.h"
#include "../cpu/splade_pool.h"
#include "../index/bmp_bounds.h"
#include "../cpu/splade_pool_fused.h"
#include "../cpu/splade_pool_i8.h"
#include "../cpu/splade_pool_screen.h"
#include "../model/encoder.h"
#include "check_util.h"

namespace splade {
namespace {

// A GEMM on a packed weight (bf16, int8) against its reference on each shape {M, N, K} and each
// epilogue (bias; bias + residual; bias + GELU), with leading dimensions past the shapes; A's mean is
// a_mean (activations off zero give int8's zero point work to do).
template <class Weight, class Pack, class Ref, class Run>
void check_weight_gemm(KernelCheckResult& r, Rng& rng, const size_t (&shapes)[4][3], float a_mean, Pack pack, Ref ref,
                       Run run) {
  for (const auto& s : shapes) {
    const size_t M = s[0], Nn = s[1], K = s[2];
    auto A = rng.normal(M * (K + 3), 1.0f, a_mean), W = rng.normal(Nn * (K + 1), 0.3f), bias = rng.normal(Nn);
    auto res = rng.normal(M * Nn);
    const Weight P = pack(W.data(), Nn, K, K + 1);
    for (int variant = 0; variant < 3; ++variant) {
      Epilogue ep;
      if (variant >= 1) ep.bias = bias.data();
      if (variant == 1) ep.residual = res.data(), ep.ldr = Nn;
      if (variant == 2) ep.activation = Activation::gelu;
      std::vector<float> a(M * (Nn + 2)), b(M * (Nn + 2));
      run(a.data(), Nn + 2, A.data(), K + 3, M, P, ep);
      ref(b.data(), Nn + 2, A.data(), K + 3, M, W.data(), K + 1, Nn, K, ep);
      compare(r, a, b);
    }
  }
}

}  // namespace

KernelCheckResult kernel_check(const std::string& op, Isa isa, uint64_t seed) {
  if (!isa_supported(isa)) fail(kUnsupported, std::string("kernel_check: this CPU cannot run ") + isa_name(isa));
  if (op.find("modernbert") != std::string::npos) return modernbert_kernel_check(op, isa, seed);
  Rng rng(seed);
  KernelCheckResult r;
  const std::vector<int32_t> cu = {0, 1, 8, 45, 345};  // lengths 1, 7, 37, 300
  const int B = 4;
  const size_t N = 345;
  if (op == "embed") {
    const size_t V = 97, P = 300, C = 36;
    auto ids = rng.ints(N, 0, V), types = rng.ints(N, 0, 2);
    auto wte = rng.normal(V * C), wpe = rng.normal(P * C), wtt = rng.normal(2 * C);
    std::vector<float> a(N * C), b(N * C);
    embed_forward_isa(isa, a.data(), ids.data(), types.data(), cu.data(), B, wte.data(), wpe.data(), wtt.data(), C);
    embed_forward_ref(b.data(), ids.data(), types.data(), cu.data(), B, wte.data(), wpe.data(), wtt.data(), C);
    compare(r, a, b);
  } else if (op == "layernorm") {
    const size_t C = 77;
    auto x = rng.normal(N * C, 3.0f, 0.5f), w = rng.normal(C, 0.2f, 1.0f), bias = rng.normal(C, 0.2f);
    std::vector<float> a(N * C), b(N * C), ma(N), mb(N), ra(N), rb(N);
    layernorm_forward_isa(isa, a.data(), ma.data(), ra.data(), x.data(), w.data(), bias.data(), N, C, 1e-5f);
    layernorm_forward_ref(b.data(), mb.data(), rb.data(), x.data(), w.data(), bias.data(), N, C, 1e-5f);
    compare(r, a, b);
    compare(r, ma, mb);
    compare(r, ra, rb);
  } else if (op == "attention") {
    const size_t C = 36, NH = 3;
    auto qkv = rng.normal(N * 3 * C);
    std::vector<float> a(N * C), b(N * C);
    attention_forward_isa(isa, a.data(), qkv.data(), cu.data(), B, C, NH);
    attention_forward_ref(b.data(), qkv.data(), cu.data(), B, C, NH);
    compare(r, a, b);
  } else if (op == "splade_pool_max" || op == "splade_pool_sum") {
    const Pooling pooling = op == "splade_pool_max" ? Pooling::max : Pooling::sum;
    const size_t C = 24, V = 1500;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f), bias = rng.normal(V, 0.5f, -1.0f);
    std::vector<float> a(B * V), b(B * V);
    std::vector<int32_t> aa(B * V), ab(B * V);
    splade_pool_forward_isa(isa, a.data(), aa.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, pooling);
    splade_pool_forward_ref(b.data(), ab.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, pooling);
    compare(r, a, b);
    for (size_t i = 0; i < aa.size(); ++i) r.mismatches += aa[i] != ab[i];
  } else if (op == "splade_pool_max_fused") {
    // the fused decoder on its packing, with and without argmax, on sequences of 1..300 tokens (blocks
    // of 6 tokens inside one sequence and across two), a vocabulary off the 16-term panels
    const size_t C = 40, V = 1509;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f), bias = rng.normal(V, 0.5f, -1.0f);
    const PoolPanels P = splade_pool_pack(E.data(), V, C);
    std::vector<float> a(B * V), a2(B * V), b(B * V);
    std::vector<int32_t> aa(B * V), ab(B * V);
    splade_pool_max_fused(isa, a.data(), aa.data(), t.data(), P, bias.data(), cu.data(), B);
    splade_pool_max_fused(isa, a2.data(), nullptr, t.data(), P, bias.data(), cu.data(), B);
    splade_pool_forward_ref(b.data(), ab.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, Pooling::max);
    compare(r, a, b);
    compare(r, a2, b);
    for (size_t i = 0; i < aa.size(); ++i) r.mismatches += aa[i] != ab[i];
  } else if (op == "splade_pool_max_screen") {
    // the screened decoder against the fused one on the same isa: values bit for bit and the same
    // argmax (mismatches), with and without argmax; C off the screen's 16-dimension steps, V off the panels,
    // repeated and nearly repeated tokens (ties go to the first, near-ties inside the screen's bound),
    // rows of very different scales (per-row quantisation) and an all-zero row
    const size_t C = 97, V = 1509;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f), bias = rng.normal(V, 0.5f, -1.0f);
    auto pick = rng.ints(N, 0, 8);
    for (size_t n = 1; n < N; ++n) {
      float* row = t.data() + n * C;
      if (pick[n] == 0) std::copy(row - C, row, row);                                  // a tie
      if (pick[n] == 1) for (size_t k = 0; k < C; ++k) row[k] = row[k - C] * (1.0f + 0x1p-22f);  // a near tie
      if (pick[n] == 2) for (size_t k = 0; k < C; ++k) row[k] *= 40.0f;
      if (pick[n] == 3 && n % 7 == 0) std::fill(row, row + C, 0.0f);
    }
    for (size_t j = 0; j < V; j += 97) for (size_t k = 0; k < C; ++k) E[j * C + k] *= 1e-3f;
    // a panel of terms whose maxima sit just above or below zero, with bounds far below 1 (the
    // screen's tests near 0)
    for (size_t j = 32; j < 48; ++j) {
      for (size_t k = 0; k < C; ++k) E[j * C + k] *= 1e-4f;
      bias[j] = j % 2 ? 2e-3f : -2e-3f;
    }
    const PoolPanels P = splade_pool_pack(E.data(), V, C);
    const ScreenPanels Q = splade_pool_screen_pack(E.data(), V, C);
    // biases near zero (most rows reach the int16 stage and the first stage gives way to it), then far
    // below, for all but every fifth term (the first stage settles most rows and a few go on, gathered)
    auto low = bias;
    for (size_t j = 0; j < V; ++j) low[j] = j % 5 ? low[j] - 12.0f : low[j];
    for (const auto* bv : {&bias, &low}) {
      std::vector<float> a(B * V), a2(B * V), f(B * V), b(B * V);
      std::vector<int32_t> aa(B * V), fa(B * V), ab(B * V);
      splade_pool_max_screen(isa, a.data(), aa.data(), t.data(), P, Q, bv->data(), cu.data(), B);
      splade_pool_max_screen(isa, a2.data(), nullptr, t.data(), P, Q, bv->data(), cu.data(), B);
      splade_pool_max_fused(isa, f.data(), fa.data(), t.data(), P, bv->data(), cu.data(), B);
      splade_pool_forward_ref(b.data(), ab.data(), t.data(), E.data(), bv->data(), cu.data(), B, C, V, Pooling::max);
      compare(r, a, b);
      for (size_t i = 0; i < aa.size(); ++i)
        r.mismatches += (std::memcmp(&a[i], &f[i], sizeof(float)) != 0) +
                        (std::memcmp(&a2[i], &f[i], sizeof(float)) != 0) + (aa[i] != fa[i]);
    }
  } else if (op == "splade_pool_screen_logits") {
    // each stage of the screen, kernel against its plain reference, bit for bit (exact integer sums):
    // C off the 16-dimension steps and the 64-dimension blocks, V off the panels, rows of very
    // different scales, an all-zero row, and rows and terms at full scale with one sign (every
    // product at its largest: the 16-bit lanes' limit)
    const size_t C = 203, V = 333;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f);
    auto pick = rng.ints(N, 0, 5);
    for (size_t n = 0; n < N; ++n) {
      float* row = t.data() + n * C;
      if (pick[n] == 0) for (size_t k = 0; k < C; ++k) row[k] *= 300.0f;
      if (pick[n] == 1) std::fill(row, row + C, n % 2 ? 1.5f : -1.5f);
      if (pick[n] == 2 && n % 5 == 0) std::fill(row, row + C, 0.0f);
    }
    for (size_t j = 0; j < V; j += 7) std::fill(E.begin() + j * C, E.begin() + (j + 1) * C, j % 2 ? 0.25f : -0.25f);
    const ScreenPanels Q = splade_pool_screen_pack(E.data(), V, C);
    for (int bits : {8, 16}) {
      std::vector<float> a(N * Q.Vp), b(N * Q.Vp);
      splade_pool_screen_logits(isa, a.data(), t.data(), N, Q, bits);
      splade_pool_screen_logits(Isa::generic, b.data(), t.data(), N, Q, bits);
      compare(r, a, b);
      for (size_t i = 0; i < a.size(); ++i) r.mismatches += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
    }
  } else if (op == "splade_pool_max_i8") {
    // the int8 decoder (int8's on x86 without AMX) against its reference (gemm_i8_reference, the same
    // reduction): the same bits, argmax included (mismatches); the error against the fp32 decoder is
    // the check's error (int8 rows and 7-bit tokens); C odd, V off the panels, more tokens than a chunk,
    // rows of very different scales, repeated tokens (ties)
    const size_t C = 97, V = 1509;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f), bias = rng.normal(V, 0.5f, -1.0f);
    auto pick = rng.ints(N, 0, 8);
    for (size_t n = 1; n < N; ++n) {
      if (pick[n] == 0) std::copy(t.begin() + (n - 1) * C, t.begin() + n * C, t.begin() + n * C);
      if (pick[n] == 2) for (size_t k = 0; k < C; ++k) t[n * C + k] *= 4.0f;
    }
    std::vector<float> f(B * V);
    std::vector<int32_t> fa(B * V);
    splade_pool_forward_ref(f.data(), fa.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, Pooling::max);
    for (int qmax : {127, 63}) {  // 8-bit decoder rows, and the 7-bit ones AVX2 packs
      const I8Weight Q = i8_pack_weight(E.data(), V, C, C, qmax);
      std::vector<float> a(B * V), a2(B * V), g(B * V);
      std::vector<int32_t> aa(B * V), ga(B * V);
      {
        IsaScope scope(isa);
        splade_pool_max_i8(a.data(), aa.data(), t.data(), Q, bias.data(), cu.data(), B);
        splade_pool_max_i8(a2.data(), nullptr, t.data(), Q, bias.data(), cu.data(), B);
      }
      splade_pool_max_i8_ref(g.data(), ga.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, qmax);
      compare(r, a, f);
      for (size_t i = 0; i < a.size(); ++i)
        r.mismatches += (std::memcmp(&a[i], &g[i], sizeof(float)) != 0) +
                        (std::memcmp(&a2[i], &g[i], sizeof(float)) != 0) + (aa[i] != ga[i]);
    }
  } else if (op == "encoder") {
    EncoderConfig cfg;
    cfg.arch = Arch::bert; cfg.vocab = 1100; cfg.hidden = 48; cfg.layers = 2; cfg.heads = 4; cfg.intermediate = 192;
    cfg.max_positions = 320; cfg.type_vocab = 2; cfg.eps = 1e-12f;
    ParamLayout L = make_layout(cfg);
    std::vector<float> params = rng.normal(L.total, 0.15f);
    for (const ParamEntry& e : L.entries)  // LayerNorm weights near 1
      if (e.name.find("LayerNorm.weight") != std::string::npos)
        for (size_t i = 0; i < e.numel(); ++i) params[e.offset + i] += 1.0f;
    auto ids = rng.ints(N, 0, static_cast<int32_t>(cfg.vocab));
    PackedBatch batch{ids.data(), nullptr, cu.data(), B, N};
    for (Pooling pooling : {Pooling::max, Pooling::sum}) {
      std::vector<float> a(B * cfg.vocab), b(B * cfg.vocab);
      {
        IsaScope scope(isa);
        encoder_splade_forward(a.data(), nullptr, cfg, L, params.data(), batch, pooling, false);
      }
      encoder_splade_forward(b.data(), nullptr, cfg, L, params.data(), batch, pooling, true);
      compare(r, a, b);
      {  // the fp32 inference path on packed weights (decoder screened in bf16 with AMX, else fused)
        IsaScope scope(isa);
        const auto packed = pack_encoder(cfg, L, params.data(), Precision::fp32);
        encoder_splade_forward(a.data(), nullptr, cfg, L, params.data(), batch, pooling, false, packed.get());
      }
      compare(r, a, b);
    }
  } else if (op == "gelu") {
    auto x = rng.normal(N * 37, 3.0f);  // tails far out on both sides, and an odd length (the scalar tail)
    std::vector<float> a(x.size()), b(x.size());
    gelu_forward_isa(isa, a.data(), x.data(), x.size());
    gelu_forward_ref(b.data(), x.data(), x.size());
    compare(r, a, b);
  } else if (op == "backward_gelu") {
    auto x = rng.normal(N * 37, 3.0f), g = rng.normal(N * 37);
    std::vector<float> a(x.size(), 0.5f), b(x.size(), 0.5f);  // += onto nonzero
    gelu_backward_isa(isa, a.data(), x.data(), g.data(), x.size());
    gelu_backward_ref(b.data(), x.data(), g.data(), x.size());
    compare(r, a, b);
  } else if (op == "backward_layernorm") {
    const size_t C = 77;
    auto x = rng.normal(N * C, 3.0f, 0.5f), w = rng.normal(C, 0.2f, 1.0f), bias = rng.normal(C, 0.2f), g = rng.normal(N * C);
    std::vector<float> out(N * C), mean(N), rstd(N);
    layernorm_forward_ref(out.data(), mean.data(), rstd.data(), x.data(), w.data(), bias.data(), N, C, 1e-5f);
    std::vector<float> da(N * C, 0.5f), db(N * C, 0.5f), dwa(C, 0.25f), dwb(C, 0.25f), dba(C), dbb(C);  // += onto nonzero
    layernorm_backward_isa(isa, da.data(), dwa.data(), dba.data(), g.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
    layernorm_backward_ref(db.data(), dwb.data(), dbb.data(), g.data(), x.data(), w.data(), mean.data(), rstd.data(), N, C);
    compare(r, da, db);
    compare(r, dwa, dwb);
    compare(r, dba, dbb);
  } else if (op == "backward_attention") {
    const size_t C = 36, NH = 3;
    auto qkv = rng.normal(N * 3 * C), g = rng.normal(N * C);
    std::vector<float> a(N * 3 * C, 0.1f), b(N * 3 * C, 0.1f);
    attention_backward_isa(isa, a.data(), g.data(), qkv.data(), cu.data(), B, C, NH);
    attention_backward_ref(b.data(), g.data(), qkv.data(), cu.data(), B, C, NH);
    compare(r, a, b);
  } else if (op == "backward_splade_pool_max" || op == "backward_splade_pool_sum") {
    const Pooling pooling = op == "backward_splade_pool_max" ? Pooling::max : Pooling::sum;
    const size_t C = 24, V = 1500;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f), bias = rng.normal(V, 0.5f, -1.0f), dw = rng.normal(B * V);
    // Keep every logit clear of the relu kink at 0, where float32 and double could take different sides.
    for (size_t j = 0; j < V; ++j)
      for (int pass = 0; pass < 8; ++pass) {
        bool near = false;
        for (size_t n = 0; n < N && !near; ++n) {
          double logit = bias[j];
          for (size_t c = 0; c < C; ++c) logit += double(t[n * C + c]) * E[j * C + c];
          near = std::fabs(logit) < 1e-3;
        }
        if (!near) break;
        bias[j] += 3e-3f;
      }
    std::vector<float> w(B * V);
    std::vector<int32_t> am(B * V);
    splade_pool_forward_ref(w.data(), am.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, pooling);
    std::vector<float> dta(N * C), dtb(N * C), dEa(V * C), dEb(V * C), dba(V), dbb(V);
    splade_pool_backward_isa(isa, dta.data(), dEa.data(), dba.data(), dw.data(), t.data(), E.data(), bias.data(), am.data(),
                             cu.data(), B, C, V, pooling);
    splade_pool_backward_ref(dtb.data(), dEb.data(), dbb.data(), dw.data(), t.data(), E.data(), bias.data(), am.data(),
                             cu.data(), B, C, V, pooling);
    compare(r, dta, dtb);
    compare(r, dEa, dEb);
    compare(r, dba, dbb);
  } else if (op == "encoder_backward") {
    EncoderConfig cfg;
    cfg.arch = Arch::distilbert; cfg.vocab = 1100; cfg.hidden = 48; cfg.layers = 2; cfg.heads = 4; cfg.intermediate = 192;
    cfg.max_positions = 320; cfg.type_vocab = 0; cfg.eps = 1e-12f;
    ParamLayout L = make_layout(cfg);
    std::vector<float> params = rng.normal(L.total, 0.15f);
    for (const ParamEntry& e : L.entries)
      if (e.name.find("layer_norm.weight") != std::string::npos || e.name.find("LayerNorm.weight") != std::string::npos)
        for (size_t i = 0; i < e.numel(); ++i) params[e.offset + i] += 1.0f;
    auto ids = rng.ints(N, 0, static_cast<int32_t>(cfg.vocab));
    auto dw = rng.normal(B * cfg.vocab);
    PackedBatch batch{ids.data(), nullptr, cu.data(), B, N};
    for (Pooling pooling : {Pooling::max, Pooling::sum}) {
      std::vector<float> wa(B * cfg.vocab), wb(B * cfg.vocab), ga(L.total), gb(L.total);
      EncoderActivations aa, ab;
      {
        IsaScope scope(isa);
        encoder_splade_forward_train(wa.data(), aa, cfg, L, params.data(), batch, pooling, false);
        encoder_splade_backward(ga.data(), aa, dw.data(), cfg, L, params.data(), batch, pooling, false);
      }
      encoder_splade_forward_train(wb.data(), ab, cfg, L, params.data(), batch, pooling, true);
      // The reference backward runs on the fast forward's activations (argmax included), so the
      // check compares the backward kernels alone; the forwards are compared just below.
      encoder_splade_backward(gb.data(), aa, dw.data(), cfg, L, params.data(), batch, pooling, true);
      compare(r, wa, wb);
      for (const ParamEntry& e : L.entries) {  // per tensor, each against its own scale
        std::vector<float> a(ga.begin() + e.offset, ga.begin() + e.offset + e.numel());
        std::vector<float> b(gb.begin() + e.offset, gb.begin() + e.offset + e.numel());
        if (e.name.find("k_lin.bias") != std::string::npos) continue;  // exactly zero in exact arithmetic
        compare(r, a, b);
      }
    }
  } else if (op == "grad_embed") {
    const std::vector<int32_t> cu2 = {0, 3, 10};
    const size_t N2 = 10, V = 11, P = 8, C = 6;
    auto ids = rng.ints(N2, 0, V), types = rng.ints(N2, 0, 2);
    auto wte = rng.normal(V * C), wpe = rng.normal(P * C), wtt = rng.normal(2 * C), R = rng.normal(N2 * C);
    std::vector<float> out(N2 * C), dwte(V * C), dwpe(P * C), dwtt(2 * C);
    auto loss = [&] {
      embed_forward_ref(out.data(), ids.data(), types.data(), cu2.data(), 2, wte.data(), wpe.data(), wtt.data(), C);
      return dot(out, R);
    };
    embed_backward(dwte.data(), dwpe.data(), dwtt.data(), R.data(), ids.data(), types.data(), cu2.data(), 2, C);
    grad_check(r, rng, wte, dwte, loss);
    grad_check(r, rng, wpe, dwpe, loss);
    grad_check(r, rng, wtt, dwtt, loss);
  } else if (op == "grad_layernorm") {
    const size_t N2 = 7, C = 13;
    auto x = rng.normal(N2 * C, 1.0f, 0.3f), w = rng.normal(C, 0.2f, 1.0f), bias = rng.normal(C, 0.2f), R = rng.normal(N2 * C);
    std::vector<float> out(N2 * C), mean(N2), rstd(N2), dx(N2 * C), dw(C), db(C);
    auto loss = [&] {
      layernorm_forward_ref(out.data(), mean.data(), rstd.data(), x.data(), w.data(), bias.data(), N2, C, 1e-5f);
      return dot(out, R);
    };
    loss();
    layernorm_backward_ref(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), mean.data(), rstd.data(), N2, C);
    grad_check(r, rng, x, dx, loss);
    grad_check(r, rng, w, dw, loss);
    grad_check(r, rng, bias, db, loss);
  } else if (op == "grad_attention") {
    const std::vector<int32_t> cu2 = {0, 1, 6, 15};
    const size_t N2 = 15, C = 12, NH = 3;
    auto qkv = rng.normal(N2 * 3 * C), R = rng.normal(N2 * C);
    std::vector<float> out(N2 * C), dqkv(N2 * 3 * C);
    auto loss = [&] {
      attention_forward_ref(out.data(), qkv.data(), cu2.data(), 3, C, NH);
      return dot(out, R);
    };
    attention_backward_ref(dqkv.data(), R.data(), qkv.data(), cu2.data(), 3, C, NH);
    grad_check(r, rng, qkv, dqkv, loss, 60);
  } else if (op == "grad_gelu") {
    auto x = rng.normal(64, 2.0f), R = rng.normal(64);
    std::vector<float> out(64), dx(64);
    auto loss = [&] {
      gelu_forward_ref(out.data(), x.data(), 64);
      return dot(out, R);
    };
    gelu_backward_ref(dx.data(), x.data(), R.data(), 64);
    grad_check(r, rng, x, dx, loss);
  } else if (op == "grad_splade_pool_max" || op == "grad_splade_pool_sum") {
    const Pooling pooling = op == "grad_splade_pool_max" ? Pooling::max : Pooling::sum;
    const std::vector<int32_t> cu2 = {0, 4, 13};
    const size_t N2 = 13, C = 8, V = 40;
    auto t = rng.normal(N2 * C, 0.7f), E = rng.normal(V * C, 0.7f), bias = rng.normal(V, 0.5f, -0.5f), R = rng.normal(2 * V);
    std::vector<float> w(2 * V), dt(N2 * C), dE(V * C), db(V);
    std::vector<int32_t> am(2 * V);
    // The loss in double throughout (a float32 w would bury eps = 1e-4 steps in rounding). Each
    // evaluation records its pattern of non-differentiable choices (which logits are > 0, which token
    // is each max); a step whose two evaluations differ there crossed a kink and is skipped.
    std::vector<int32_t> pattern, previous;
    auto loss = [&] {
      previous.swap(pattern);
      pattern.clear();
      double L = 0;
      for (int b = 0; b < 2; ++b)
        for (size_t j = 0; j < V; ++j) {
          double acc = 0;
          int32_t arg = -1;
          for (int32_t n = cu2[b]; n < cu2[b + 1]; ++n) {
            double logit = bias[j];
            for (size_t c = 0; c < C; ++c) logit += double(t[n * C + c]) * E[j * C + c];
            pattern.push_back(logit > 0);
            const double v = std::log1p(std::max(0.0, logit));
            if (pooling == Pooling::sum) {
              acc += v;
            } else if (v > acc) {
              acc = v;
              arg = n;
            }
          }
          pattern.push_back(arg);
          L += acc * R[b * V + j];
        }
      return L;
    };
    auto smooth = [&] { return pattern == previous; };
    splade_pool_forward_ref(w.data(), am.data(), t.data(), E.data(), bias.data(), cu2.data(), 2, C, V, pooling);
    splade_pool_backward_ref(dt.data(), dE.data(), db.data(), R.data(), t.data(), E.data(), bias.data(), am.data(),
                             cu2.data(), 2, C, V, pooling);
    grad_check(r, rng, t, dt, loss, 24, 1e-4f, smooth);
    grad_check(r, rng, E, dE, loss, 24, 1e-4f, smooth);
    grad_check(r, rng, bias, db, loss, 24, 1e-4f, smooth);
  } else if (op == "gemm_bf16" || op == "gemm_bf16_fallback" || op == "gemm_bf16_avx512") {
    // The AMX kernel (or, for _fallback, the portable path on this isa's SGEMM) against the plain loop,
    // on shapes off every tile size: M 1 and 77 (a partial 32-row block), N 50 and 33 (partial
    // 32-column strips), K 40 and 7 (partial 32-k blocks), with each epilogue.
    const bool amx = op == "gemm_bf16";
    if (amx && !bf16_fast_available()) fail(kUnsupported, "kernel_check: this CPU (or OS) cannot run the AMX-BF16 kernels");
    IsaScope scope(isa);
    const size_t shapes[][3] = {{77, 50, 40}, {1, 33, 7}, {300, 290, 96}, {64, 64, 768}};
    check_weight_gemm<Bf16Weight>(r, rng, shapes, 0.0f, bf16_pack_weight, gemm_bf16_reference,
                                  [&](float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& P,
                                      const Epilogue& ep) {
                                    if (op == "gemm_bf16_avx512") gemm_bf16_dp(C, ldc, A, lda, M, P, ep);
                                    else gemm_bf16_variant(amx, C, ldc, A, lda, M, P, ep);
                                  });
  } else if (op == "splade_pool_max_bf16" || op == "splade_pool_max_bf16_exact") {
    // bf16: against the reference pooling of the bf16-rounded t and E. exact: against the fp32
    // reference itself (values and argmax), on logits spread like a SPLADE head's.
    if (!bf16_fast_available()) fail(kUnsupported, "kernel_check: this CPU (or OS) cannot run the AMX-BF16 kernels");
    const bool exact = op == "splade_pool_max_bf16_exact";
    const size_t C = 72, V = 1500;
    auto t = rng.normal(N * C, 1.0f), E = rng.normal(V * C, 0.1f), bias = rng.normal(V, 0.3f, -0.5f);
    const std::vector<float> norm = bf16_row_norms(E.data(), V, C, C);
    const Bf16Weight P = bf16_pack_weight(E.data(), V, C, C);
    std::vector<float> a(B * V), b(B * V);
    std::vector<int32_t> aa(B * V), ab(B * V);
    splade_pool_max_bf16(a.data(), aa.data(), t.data(), P, E.data(), norm.data(), bias.data(), cu.data(), B, exact);
    if (!exact) {
      for (float& v : t) v = bf16_to_float(bf16_round(v));
      for (float& v : E) v = bf16_to_float(bf16_round(v));
    }
    splade_pool_forward_ref(b.data(), ab.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, Pooling::max);
    compare(r, a, b);
    for (size_t i = 0; i < aa.size(); ++i) r.mismatches += aa[i] != ab[i];
  } else if (op == "bmp_group_bounds") {
    // 400 superblocks of 1-40 groups: masks from empty to full (each block present with a random
    // density), maxima 0-255, weights of both signs; bounds must be bit for bit the reference's.
    const index::BmpGroupBoundsFn fast = index::bmp_group_bounds_kernel(isa);
    std::uniform_int_distribution<int> groups_d(1, 40), byte_d(0, 255);
    std::uniform_real_distribution<float> density_d(0.0f, 1.0f), w_d(-4.0f, 8.0f);
    for (int sb = 0; sb < 400; ++sb) {
      std::vector<float> a(64, 0.0f), b(64, 0.0f);
      for (int g = groups_d(rng.gen); g > 0; --g) {
        const float density = sb % 10 == 0 ? 1.0f : density_d(rng.gen);
        uint64_t mask = 0;
        for (int k = 0; k < 64; ++k)
          if (density_d(rng.gen) < density) mask |= uint64_t{1} << k;
        std::vector<uint8_t> max(static_cast<size_t>(__builtin_popcountll(mask)));
        for (uint8_t& m : max) m = static_cast<uint8_t>(byte_d(rng.gen));
        const float w = w_d(rng.gen);
        fast(a.data(), mask, max.data(), w);
        index::bmp_group_bounds_ref(b.data(), mask, max.data(), w);
      }
      for (size_t i = 0; i < 64; ++i) r.mismatches += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
      compare(r, a, b);
    }
  } else if (op == "bmp_group_mask") {
    // 2000 packed groups of 1-64 blocks (strictly ascending within the superblock, each with a count
    // class 0-3), each in a buffer of exactly its bytes: mask and class-3 count must equal the
    // reference's.
    const index::BmpGroupMaskFn fast = index::bmp_group_mask_kernel(isa);
    std::uniform_int_distribution<int> blocks_d(1, 64), cls_d(0, 3);
    for (int g = 0; g < 2000; ++g) {
      const uint32_t blocks = g % 20 == 0 ? 64u : static_cast<uint32_t>(blocks_d(rng.gen));
      std::vector<uint8_t> ids(64);
      std::iota(ids.begin(), ids.end(), uint8_t{0});
      std::shuffle(ids.begin(), ids.end(), rng.gen);
      std::sort(ids.begin(), ids.begin() + blocks);
      std::vector<uint8_t> bytes(blocks);
      for (uint32_t k = 0; k < blocks; ++k) bytes[k] = static_cast<uint8_t>(ids[k] | cls_d(rng.gen) << 6);
      uint32_t more_fast = 0, more_ref = 0;
      const uint64_t a = fast(bytes.data(), blocks, &more_fast);
      const uint64_t b = index::bmp_group_mask_ref(bytes.data(), blocks, &more_ref);
      r.mismatches += (a != b) + (more_fast != more_ref);
      r.checked += 1;
    }
  } else if (op.rfind("gemm_i8_", 0) == 0) {
    // One int8 kernel (gemm_i8_generic | _avx2 | _avx_vnni | _avx512_vnni; isa is ignored) against the
    // plain loop on shapes off every block size: M 1, 5 and 77 (partial 6- and 4-row blocks, a partial
    // 48-row task), N 50, 33 and 290 (partial 16-column panels and 8-panel tasks), K 7 and 41 (partial
    // 4-k groups), with each epilogue. The integers are exact, so only the float epilogue may differ.
    I8Kernel kernel = I8Kernel::generic;
    bool known = false;
    for (I8Kernel k : {I8Kernel::generic, I8Kernel::avx2, I8Kernel::avx_vnni, I8Kernel::avx512_vnni})
      if (op == std::string("gemm_i8_") + i8_kernel_name(k)) kernel = k, known = true;
    if (!known) fail(kInvalidArgument, "kernel_check: unknown op " + op);
    if (!i8_kernel_supported(kernel)) fail(kUnsupported, "kernel_check: this CPU cannot run the " + op.substr(8) + " int8 kernels");
    // Both weight ranges: 8-bit, and the 7-bit codes AVX2's paired kernel takes (K 41 and 7: an odd
    // number of 4-k groups, the pair loop's tail).
    const size_t shapes[][3] = {{77, 50, 41}, {1, 33, 7}, {5, 290, 96}, {300, 64, 768}};
    for (int qmax : {127, 63})
      check_weight_gemm<I8Weight>(
          r, rng, shapes, 0.3f,
          [&](const float* W, size_t N, size_t K, size_t ldw) { return i8_pack_weight(W, N, K, ldw, qmax); },
          [&](float* C, size_t ldc, const float* A, size_t lda, size_t M, const float* W, size_t ldw, size_t N, size_t K,
              const Epilogue& ep) { gemm_i8_reference(C, ldc, A, lda, M, W, ldw, N, K, ep, qmax); },
          [&](float* C, size_t ldc, const float* A, size_t lda, size_t M, const I8Weight& P, const Epilogue& ep) {
            gemm_i8_variant(kernel, C, ldc, A, lda, M, P, ep);
          });
  } else {
    fail(kInvalidArgument, "kernel_check: unknown op " + op);
  }
  return r;
}

}  // namespace splade
