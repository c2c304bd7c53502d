// Training-path kernel checks; declared in kernel_check.h.
#include "kernel_check.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "../common/error.h"
#include "../cpu/attention_train.h"
#include "../cpu/splade_head_train.h"
#include "../cpu/splade_pool.h"
#include "../model/encoder_train.h"

namespace splade {
namespace {

std::vector<float> randn(std::mt19937_64& gen, size_t n, float std = 1.0f, float mean = 0.0f) {
  std::normal_distribution<float> d(mean, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

// |a - b| / (|b| + rms(b)) over the outputs, b the reference.
void compare_to(KernelCheckResult& r, const float* a, const float* b, size_t n) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += double(b[i]) * b[i];
  const double rms = std::sqrt(ss / std::max<size_t>(n, 1)) + 1e-30;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) {
      ++r.non_finite;
      continue;
    }
    r.max_error = std::max(r.max_error, std::fabs(double(a[i]) - b[i]) / (std::fabs(double(b[i])) + rms));
    ++r.checked;
  }
}

// The central difference (step eps) of loss() in x[i], x restored after.
template <class Loss>
double central_difference(std::vector<float>& x, size_t i, float eps, Loss& loss) {
  const float saved = x[i];
  double sides[2];
  for (int k = 0; k < 2; ++k) {
    x[i] = k == 0 ? saved + eps : saved - eps;
    sides[k] = loss();
  }
  x[i] = saved;
  return (sides[0] - sides[1]) / (2.0 * eps);
}

// grad against central differences of loss() at `count` random entries of x; error
// |numeric - analytic| / (max of both + 1e-2) (float32 forwards: a loose floor).
template <class Loss>
void numeric_check(KernelCheckResult& r, std::mt19937_64& gen, std::vector<float>& x, const std::vector<float>& grad,
                   Loss loss, size_t count, float eps) {
  std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
  for (size_t k = 0; k < count; ++k) {
    const size_t i = pick(gen);
    if (!std::isfinite(grad[i])) {
      ++r.non_finite;
      continue;
    }
    const double numeric = central_difference(x, i, eps, loss), analytic = grad[i];
    const double scale = std::max(std::fabs(numeric), std::fabs(analytic)) + 1e-2;
    r.max_error = std::max(r.max_error, std::fabs(numeric - analytic) / scale);
    ++r.checked;
  }
}

double weighted_sum(const std::vector<float>& a, const std::vector<float>& w) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * w[i];
  return s;
}

EncoderConfig tiny_config(Arch arch) {
  EncoderConfig cfg;
  cfg.arch = arch; cfg.vocab = 300; cfg.hidden = 32; cfg.layers = 2; cfg.heads = 4; cfg.intermediate = 64;
  cfg.max_positions = 64; cfg.type_vocab = arch == Arch::bert ? 2 : arch == Arch::roberta ? 1 : 0; cfg.eps = 1e-12f;
  cfg.position_offset = arch == Arch::roberta ? 2 : 0;
  return cfg;
}

std::vector<float> tiny_params(std::mt19937_64& gen, const ParamLayout& L, float std) {
  std::vector<float> params = randn(gen, L.total, std);
  for (const ParamEntry& e : L.entries)
    if (e.name.find("layer_norm.weight") != std::string::npos || e.name.find("LayerNorm.weight") != std::string::npos)
      for (size_t i = 0; i < e.numel(); ++i) params[e.offset + i] += 1.0f;
  return params;
}

}  // namespace

KernelCheckResult train_kernel_check(const std::string& op, uint64_t seed) {
  std::mt19937_64 gen(seed);
  KernelCheckResult r;
  const std::vector<int32_t> cu = {0, 1, 8, 45, 145};  // lengths 1, 7, 37, 100
  const int B = 4;
  const size_t N = 145;
  if (op == "attention_dropout") {
    const size_t C = 40, NH = 4;  // head size 10: not a multiple of the vector width
    auto qkv = randn(gen, N * 3 * C), dout = randn(gen, N * C);
    for (float p : {0.0f, 0.25f}) {
      const DropoutMask m(p, seed, 1, DropSite::attention_probs);
      std::vector<float> oa(N * C), ob(N * C), da(N * 3 * C, 0.5f), db(N * 3 * C, 0.5f);
      attention_train_forward(oa.data(), qkv.data(), cu.data(), B, C, NH, m);
      attention_train_forward_ref(ob.data(), qkv.data(), cu.data(), B, C, NH, m);
      compare_to(r, oa.data(), ob.data(), oa.size());
      attention_train_backward(da.data(), dout.data(), qkv.data(), cu.data(), B, C, NH, m);
      attention_train_backward_ref(db.data(), dout.data(), qkv.data(), cu.data(), B, C, NH, m);
      compare_to(r, da.data(), db.data(), da.size());
    }
  } else if (op == "grad_attention_dropout") {
    const std::vector<int32_t> cu2 = {0, 5, 12};
    const size_t N2 = 12, C = 12, NH = 2;
    auto qkv = randn(gen, N2 * 3 * C), R = randn(gen, N2 * C);
    const DropoutMask m(0.3f, seed, 0, DropSite::attention_probs);
    std::vector<float> out(N2 * C), dqkv(N2 * 3 * C, 0.0f);
    attention_train_backward_ref(dqkv.data(), R.data(), qkv.data(), cu2.data(), 2, C, NH, m);
    numeric_check(r, gen, qkv, dqkv, [&] {
      attention_train_forward_ref(out.data(), qkv.data(), cu2.data(), 2, C, NH, m);
      return weighted_sum(out, R);
    }, 40, 1e-2f);
  } else if (op == "splade_pool_sparse") {
    const size_t C = 24, V = 1500;
    auto t = randn(gen, N * C, 0.5f), E = randn(gen, V * C, 0.5f), bias = randn(gen, V, 0.5f, -1.0f), dw = randn(gen, B * V);
    for (size_t i = 0; i < dw.size(); i += 7) dw[i] = 0.0f;  // zero gradients are skipped
    std::vector<float> w(B * V);
    std::vector<int32_t> am(B * V);
    splade_pool_forward(w.data(), am.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, Pooling::max);
    std::vector<float> dta(N * C, 0.1f), dtb(N * C, 0.1f), dEa(V * C, 0.1f), dEb(V * C, 0.1f), dba(V, 0.1f), dbb(V, 0.1f);
    splade_max_pool_backward_sparse(dta.data(), dEa.data(), dba.data(), dw.data(), w.data(), t.data(), E.data(), am.data(),
                                    B, N, C, V);
    splade_pool_backward_ref(dtb.data(), dEb.data(), dbb.data(), dw.data(), t.data(), E.data(), bias.data(), am.data(),
                             cu.data(), B, C, V, Pooling::max);
    compare_to(r, dta.data(), dtb.data(), dta.size());
    compare_to(r, dEa.data(), dEb.data(), dEa.size());
    compare_to(r, dba.data(), dbb.data(), dba.size());
  } else if (op == "mlm_head" || op == "grad_mlm_head") {
    const bool grad = op == "grad_mlm_head";
    const size_t C = grad ? 8 : 24, V = grad ? 37 : 1500, M = grad ? 9 : 145;  // 145 rows: blocks of 64, 64, 17
    auto t = randn(gen, M * C), E = randn(gen, V * C, 0.5f), bias = randn(gen, V, 0.5f);
    std::vector<int32_t> labels(M, -1);
    std::uniform_int_distribution<int32_t> word(0, static_cast<int32_t>(V) - 1);
    for (size_t n = 0; n < M; ++n)
      if (n % 3 != 1) labels[n] = word(gen);
    std::vector<float> dta(M * C, 0.0f), dEa(V * C, 0.0f), dba(V, 0.0f);
    size_t ca = 0, cb = 0;
    const double la = mlm_head_forward_backward_ref(dta.data(), dEa.data(), dba.data(), t.data(), E.data(), bias.data(),
                                                    labels.data(), M, C, V, &ca);
    if (grad) {
      std::vector<float> scratch_t(M * C), scratch_E(V * C), scratch_b(V);
      auto loss = [&] {
        size_t c = 0;
        return mlm_head_forward_backward_ref(scratch_t.data(), scratch_E.data(), scratch_b.data(), t.data(), E.data(),
                                             bias.data(), labels.data(), M, C, V, &c);
      };
      numeric_check(r, gen, t, dta, loss, 20, 1e-2f);
      numeric_check(r, gen, E, dEa, loss, 20, 1e-2f);
      numeric_check(r, gen, bias, dba, loss, 10, 1e-2f);
    } else {
      std::vector<float> dtb(M * C, 0.0f), dEb(V * C, 0.0f), dbb(V, 0.0f);
      const double lb = mlm_head_forward_backward(dtb.data(), dEb.data(), dbb.data(), t.data(), E.data(), bias.data(),
                                                  labels.data(), M, C, V, &cb);
      const float fa = static_cast<float>(la), fb = static_cast<float>(lb);
      compare_to(r, &fb, &fa, 1);
      if (ca != cb) ++r.mismatches;
      compare_to(r, dtb.data(), dta.data(), dta.size());
      compare_to(r, dEb.data(), dEa.data(), dEa.size());
      compare_to(r, dbb.data(), dba.data(), dba.size());
    }
  } else if (op == "encoder_dropout" || op == "encoder_mlm") {
    const bool mlm = op == "encoder_mlm";
    for (Arch arch : {Arch::bert, Arch::distilbert, Arch::roberta}) {
      const EncoderConfig cfg = tiny_config(arch);
      const ParamLayout L = make_layout(cfg);
      const std::vector<int32_t> cu2 = {0, 3, 20, 64};
      const size_t N2 = 64;
      std::uniform_int_distribution<int32_t> word(0, static_cast<int32_t>(cfg.vocab) - 1), type(0, 1);
      std::vector<int32_t> ids(N2), types(N2), labels(N2, -1);
      for (size_t n = 0; n < N2; ++n) ids[n] = word(gen), types[n] = type(gen), labels[n] = n % 4 == 0 ? word(gen) : -1;
      auto params = tiny_params(gen, L, 0.15f);
      auto dw = randn(gen, 3 * cfg.vocab);
      const PackedBatch batch{ids.data(), arch == Arch::bert ? types.data() : nullptr, cu2.data(), 3, N2};
      const TrainDropout drop{0.2f, seed};
      std::vector<float> ga(L.total, 0.0f), gb(L.total, 0.0f);
      if (mlm) {
        size_t ca = 0, cb = 0;
        const float la = static_cast<float>(encoder_mlm_train(ga.data(), labels.data(), cfg, L, params.data(), batch, drop, false, &ca));
        const float lb = static_cast<float>(encoder_mlm_train(gb.data(), labels.data(), cfg, L, params.data(), batch, drop, true, &cb));
        compare_to(r, &la, &lb, 1);
        if (ca != cb) ++r.mismatches;
      } else {
        for (Pooling pooling : {Pooling::max, Pooling::sum}) {
          std::vector<float> wa(3 * cfg.vocab), wb(3 * cfg.vocab);
          EncoderActivations aa, ab;
          encoder_train_forward(wa.data(), aa, cfg, L, params.data(), batch, pooling, drop, false);
          encoder_train_forward(wb.data(), ab, cfg, L, params.data(), batch, pooling, drop, true);
          compare_to(r, wa.data(), wb.data(), wa.size());
          for (size_t i = 0; i < aa.argmax.size(); ++i) r.mismatches += aa.argmax[i] != ab.argmax[i];
          // the reference backward on the fast forward's activations: the backward kernels alone
          encoder_train_backward(ga.data(), aa, dw.data(), cfg, L, params.data(), batch, pooling, drop, false);
          ab.w = aa.w;
          encoder_train_backward(gb.data(), aa, dw.data(), cfg, L, params.data(), batch, pooling, drop, true);
        }
      }
      for (const ParamEntry& e : L.entries) {
        if (e.name.find("key.bias") != std::string::npos || e.name.find("k_lin.bias") != std::string::npos) continue;
        compare_to(r, ga.data() + e.offset, gb.data() + e.offset, e.numel());
      }
    }
  } else if (op == "grad_encoder_dropout" || op == "grad_encoder_mlm") {
    // Whole network, reference kernels, dropout 0.2 with a fixed mask: backward vs central
    // differences. Sum pooling keeps the SPLADE loss smooth away from relu's kink.
    const bool mlm = op == "grad_encoder_mlm";
    const EncoderConfig cfg = tiny_config(Arch::bert);
    const ParamLayout L = make_layout(cfg);
    const std::vector<int32_t> cu2 = {0, 4, 11};
    const size_t N2 = 11;
    std::uniform_int_distribution<int32_t> word(0, static_cast<int32_t>(cfg.vocab) - 1), type(0, 1);
    std::vector<int32_t> ids(N2), types(N2), labels(N2, -1);
    for (size_t n = 0; n < N2; ++n) ids[n] = word(gen), types[n] = type(gen), labels[n] = n % 3 == 0 ? word(gen) : -1;
    auto params = tiny_params(gen, L, 0.3f);
    for (size_t j = 0; j < cfg.vocab; ++j) params[L.decoder_bias + j] += 8.0f;  // logits positive: no relu kink
    const PackedBatch batch{ids.data(), types.data(), cu2.data(), 2, N2};
    const TrainDropout drop{0.2f, seed};
    auto R = randn(gen, 2 * cfg.vocab);
    for (size_t i = 0; i < R.size(); ++i)
      if (i % 16 != 0) R[i] = 0.0f;  // few terms in the loss: less float32 rounding noise in the differences
    std::vector<float> grads(L.total, 0.0f), w(2 * cfg.vocab), scratch(L.total);
    size_t count = 0;
    if (mlm) {
      encoder_mlm_train(grads.data(), labels.data(), cfg, L, params.data(), batch, drop, true, &count);
    } else {
      EncoderActivations a;
      encoder_train_forward(w.data(), a, cfg, L, params.data(), batch, Pooling::sum, drop, true);
      encoder_train_backward(grads.data(), a, R.data(), cfg, L, params.data(), batch, Pooling::sum, drop, true);
    }
    auto loss = [&]() -> double {
      if (mlm) return encoder_mlm_train(scratch.data(), labels.data(), cfg, L, params.data(), batch, drop, true, &count);
      EncoderActivations a;
      encoder_train_forward(w.data(), a, cfg, L, params.data(), batch, Pooling::sum, drop, true);
      return weighted_sum(w, R);
    };
    for (const ParamEntry& e : L.entries) {  // a few entries of every tensor (each has its own scale)
      if (e.name.find("position_embeddings") != std::string::npos || e.name.find("word_embeddings") != std::string::npos) {
        continue;  // most rows unused: checked through the used rows below
      }
      std::vector<float> x(params.begin() + e.offset, params.begin() + e.offset + e.numel());
      std::vector<float> g(grads.begin() + e.offset, grads.begin() + e.offset + e.numel());
      numeric_check(r, gen, x, g, [&] {
        std::copy(x.begin(), x.end(), params.begin() + e.offset);
        return loss();
      }, 3, 1e-2f);
      std::copy(x.begin(), x.end(), params.begin() + e.offset);
    }
    for (size_t n = 0; n < N2; ++n) {  // the used rows of the word embeddings (token rows and decoder)
      std::vector<float> x(params.begin() + L.wte + ids[n] * cfg.hidden, params.begin() + L.wte + (ids[n] + 1) * cfg.hidden);
      std::vector<float> g(grads.begin() + L.wte + ids[n] * cfg.hidden, grads.begin() + L.wte + (ids[n] + 1) * cfg.hidden);
      numeric_check(r, gen, x, g, [&] {
        std::copy(x.begin(), x.end(), params.begin() + L.wte + ids[n] * cfg.hidden);
        return loss();
      }, 2, 1e-2f);
      std::copy(x.begin(), x.end(), params.begin() + L.wte + ids[n] * cfg.hidden);
    }
  } else {
    fail(kInvalidArgument, "train_kernel_check: unknown op " + op);
  }
  return r;
}

}  // namespace splade
