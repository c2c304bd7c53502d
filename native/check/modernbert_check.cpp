// ModernBERT's kernels against their references, and its reference backwards against central
// differences; see kernel_check.h (modernbert_kernel_check). Shapes as kernel_check's: sequence lengths
// 1, 7, 37 and 300, a head size (12) that is not a multiple of the vector width, a local window (+-20)
// shorter than the longest sequence, so the window's clipping at both ends and its blocks all run.
#include <string>
#include <vector>

#include "../common/error.h"
#include "../cpu/attention_window.h"
#include "../cpu/geglu.h"
#include "../cpu/rotary.h"
#include "../model/modernbert.h"
#include "check_util.h"

namespace splade {
namespace {

// A random ModernBERT: 3 layers (global, local, local), window +-6, norms near 1, a negative decoder bias.
struct RandomModel {
  EncoderConfig cfg;
  ModernBertLayout layout;
  std::vector<float> params;
  explicit RandomModel(Rng& rng) {
    cfg.arch = Arch::modernbert, cfg.eps = 1e-5f;
    cfg.vocab = 97, cfg.hidden = 32, cfg.layers = 3, cfg.heads = 4, cfg.intermediate = 40, cfg.max_positions = 300;
    cfg.modernbert.window = 6, cfg.modernbert.global_every = 3;
    layout = make_modernbert_layout(cfg);
    params.assign(layout.total, 0.0f);
    for (const ParamEntry& e : layout.entries) {
      const bool norm = e.name.size() > 11 && e.name.compare(e.name.size() - 11, 11, "norm.weight") == 0;
      const bool bias = e.name == "decoder.bias";
      const float std = norm ? 0.1f : bias ? 0.5f : e.shape.size() == 2 ? 1.0f / std::sqrt(float(e.shape[1])) : 0.5f;
      const auto v = rng.normal(e.numel(), std, norm ? 1.0f : bias ? -1.5f : 0.0f);
      std::copy(v.begin(), v.end(), params.begin() + static_cast<std::ptrdiff_t>(e.offset));
    }
  }
};

}  // namespace

KernelCheckResult modernbert_kernel_check(const std::string& op, Isa isa, uint64_t seed) {
  Rng rng(seed);
  KernelCheckResult r;
  const std::vector<int32_t> cu = {0, 1, 8, 45, 345};  // lengths 1, 7, 37, 300
  const int B = 4;
  const size_t N = 345, C = 36, NH = 3, I = 77;
  IsaScope scope(isa);
  if (op == "modernbert_rotary" || op == "backward_modernbert_rotary") {
    const bool bw = op == "backward_modernbert_rotary";
    auto a = rng.normal(N * 3 * C), b = a;
    (bw ? rotary_backward : rotary_forward)(a.data(), cu.data(), B, C, NH, 10000.0f);
    (bw ? rotary_backward_ref : rotary_forward_ref)(b.data(), cu.data(), B, C, NH, 10000.0f);
    compare(r, a, b);
  } else if (op == "modernbert_geglu") {
    auto h = rng.normal(N * 2 * I, 2.0f);
    std::vector<float> a(N * I), b(N * I);
    geglu_forward(a.data(), h.data(), N, I);
    geglu_forward_ref(b.data(), h.data(), N, I);
    compare(r, a, b);
  } else if (op == "backward_modernbert_geglu") {
    auto h = rng.normal(N * 2 * I, 2.0f), g = rng.normal(N * I), a = rng.normal(N * 2 * I), b = a;
    geglu_backward(a.data(), g.data(), h.data(), N, I);
    geglu_backward_ref(b.data(), g.data(), h.data(), N, I);
    compare(r, a, b);
  } else if (op == "modernbert_attention_window" || op == "backward_modernbert_attention_window") {
    auto qkv = rng.normal(N * 3 * C), g = rng.normal(N * C);
    for (size_t window : {size_t{20}, size_t{300}}) {  // local, then global
      if (op == "modernbert_attention_window") {
        std::vector<float> a(N * C), b(N * C);
        attention_window_forward(a.data(), qkv.data(), cu.data(), B, C, NH, window);
        attention_window_forward_ref(b.data(), qkv.data(), cu.data(), B, C, NH, window);
        compare(r, a, b);
      } else {
        auto a = rng.normal(N * 3 * C), b = a;
        attention_window_backward(a.data(), g.data(), qkv.data(), cu.data(), B, C, NH, window);
        attention_window_backward_ref(b.data(), g.data(), qkv.data(), cu.data(), B, C, NH, window);
        compare(r, a, b);
      }
    }
  } else if (op == "modernbert_encoder" || op == "modernbert_encoder_backward") {
    const RandomModel m(rng);
    const size_t V = m.cfg.vocab;
    const auto ids = rng.ints(N, 0, static_cast<int32_t>(V));
    const PackedBatch batch{ids.data(), nullptr, cu.data(), B, N};
    for (Pooling pooling : {Pooling::max, Pooling::sum}) {
      std::vector<float> a(B * V), b(B * V);
      if (op == "modernbert_encoder") {  // on the arena, then on pack_modernbert's copies
        const auto packed = pack_modernbert(m.cfg, m.layout, m.params.data());
        std::vector<float> c(B * V);
        modernbert_splade_forward(a.data(), nullptr, m.cfg, m.layout, m.params.data(), batch, pooling, false);
        modernbert_splade_forward(c.data(), nullptr, m.cfg, m.layout, m.params.data(), batch, pooling, false, packed.get());
        modernbert_splade_forward(b.data(), nullptr, m.cfg, m.layout, m.params.data(), batch, pooling, true);
        compare(r, a, b);
        compare(r, c, b);
        continue;
      }
      const auto dw = rng.normal(B * V);
      std::vector<float> ga(m.layout.total, 0.0f), gb(m.layout.total, 0.0f);
      ModernBertActivations acts;
      modernbert_train_forward(a.data(), acts, m.cfg, m.layout, m.params.data(), batch, pooling, false);
      modernbert_train_backward(ga.data(), acts, dw.data(), m.cfg, m.layout, m.params.data(), batch, pooling, false);
      modernbert_train_forward(b.data(), acts, m.cfg, m.layout, m.params.data(), batch, pooling, true);
      modernbert_train_backward(gb.data(), acts, dw.data(), m.cfg, m.layout, m.params.data(), batch, pooling, true);
      compare(r, a, b);
      for (const ParamEntry& e : m.layout.entries)  // each parameter's gradient against its own scale
        compare(r, std::vector<float>(ga.begin() + e.offset, ga.begin() + e.offset + e.numel()),
                std::vector<float>(gb.begin() + e.offset, gb.begin() + e.offset + e.numel()));
    }
  } else if (op == "grad_modernbert_rotary") {
    const std::vector<int32_t> cu2 = {0, 3, 11};
    const size_t N2 = 11, C2 = 12, NH2 = 2;
    auto x = rng.normal(N2 * 3 * C2), R = rng.normal(N2 * 3 * C2);
    std::vector<float> y, dx = R;
    auto loss = [&] {
      y = x;
      rotary_forward_ref(y.data(), cu2.data(), 2, C2, NH2, 10000.0f);
      return dot(y, R);
    };
    rotary_backward_ref(dx.data(), cu2.data(), 2, C2, NH2, 10000.0f);
    grad_check(r, rng, x, dx, loss, 60);
  } else if (op == "grad_modernbert_geglu") {
    const size_t N2 = 4, I2 = 16;
    auto h = rng.normal(N2 * 2 * I2, 2.0f), R = rng.normal(N2 * I2);
    std::vector<float> out(N2 * I2), dh(N2 * 2 * I2);
    auto loss = [&] {
      geglu_forward_ref(out.data(), h.data(), N2, I2);
      return dot(out, R);
    };
    geglu_backward_ref(dh.data(), R.data(), h.data(), N2, I2);
    grad_check(r, rng, h, dh, loss, 60);
  } else if (op == "grad_modernbert_attention_window") {
    const std::vector<int32_t> cu2 = {0, 1, 6, 15};
    const size_t N2 = 15, C2 = 12, NH2 = 3;
    auto qkv = rng.normal(N2 * 3 * C2), R = rng.normal(N2 * C2);
    std::vector<float> out(N2 * C2), dqkv(N2 * 3 * C2);
    auto loss = [&] {
      attention_window_forward_ref(out.data(), qkv.data(), cu2.data(), 3, C2, NH2, 2);
      return dot(out, R);
    };
    attention_window_backward_ref(dqkv.data(), R.data(), qkv.data(), cu2.data(), 3, C2, NH2, 2);
    grad_check(r, rng, qkv, dqkv, loss, 60);
  } else {
    fail(kInvalidArgument, "kernel_check: unknown op " + op);
  }
  return r;
}

}  // namespace splade
