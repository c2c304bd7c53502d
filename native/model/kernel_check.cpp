// Fast kernels against their references; see kernel_check.h.
#include "kernel_check.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "../common/error.h"
#include "../cpu/attention.h"
#include "../cpu/embed.h"
#include "../cpu/layernorm.h"
#include "../cpu/splade_pool.h"
#include "encoder.h"

namespace splade {
namespace {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  std::vector<float> normal(size_t n, float std = 1.0f, float mean = 0.0f) {
    std::normal_distribution<float> d(mean, std);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }
  std::vector<int32_t> ints(size_t n, int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> d(lo, hi - 1);
    std::vector<int32_t> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }
};

// Relative error against the output's own scale: |fast - ref| / (|ref| + rms(ref)). A plain
// |fast - ref| / |ref| is meaningless where an output crosses zero (LayerNorm's b + (x - m) r w,
// attention's weighted averages), where float rounding of O(1) terms leaves O(1e-7) absolute error.
void compare(KernelCheckResult& r, const std::vector<float>& fast, const std::vector<float>& ref) {
  double ss = 0;
  for (float v : ref) ss += std::isfinite(v) ? double(v) * v : 0.0;
  const double rms = std::sqrt(ss / std::max<size_t>(ref.size(), 1)) + 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(fast[i])) {
      ++r.non_finite;
      continue;
    }
    if (!std::isfinite(ref[i])) continue;
    r.max_error = std::max(r.max_error, std::fabs(double(fast[i]) - ref[i]) / (std::fabs(double(ref[i])) + rms));
    ++r.checked;
  }
}

class IsaScope {  // runs the whole encoder on one variant, restoring the active one after
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { set_active_isa(isa); }
  ~IsaScope() { set_active_isa(saved_); }

 private:
  Isa saved_;
};

}  // namespace

KernelCheckResult kernel_check(const std::string& op, Isa isa, uint64_t seed) {
  if (!isa_supported(isa)) fail(kUnsupported, std::string("kernel_check: this CPU cannot run ") + isa_name(isa));
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
    embed_forward_cpu(b.data(), ids.data(), types.data(), cu.data(), B, wte.data(), wpe.data(), wtt.data(), C);
    compare(r, a, b);
  } else if (op == "layernorm") {
    const size_t C = 77;
    auto x = rng.normal(N * C, 3.0f, 0.5f), w = rng.normal(C, 0.2f, 1.0f), bias = rng.normal(C, 0.2f);
    std::vector<float> a(N * C), b(N * C), ma(N), mb(N), ra(N), rb(N);
    layernorm_forward_isa(isa, a.data(), ma.data(), ra.data(), x.data(), w.data(), bias.data(), N, C, 1e-5f);
    layernorm_forward_cpu(b.data(), mb.data(), rb.data(), x.data(), w.data(), bias.data(), N, C, 1e-5f);
    compare(r, a, b);
    compare(r, ma, mb);
    compare(r, ra, rb);
  } else if (op == "attention") {
    const size_t C = 36, NH = 3;
    auto qkv = rng.normal(N * 3 * C);
    std::vector<float> a(N * C), b(N * C);
    attention_forward_isa(isa, a.data(), qkv.data(), cu.data(), B, C, NH);
    attention_forward_cpu(b.data(), qkv.data(), cu.data(), B, C, NH);
    compare(r, a, b);
  } else if (op == "splade_pool_max" || op == "splade_pool_sum") {
    const Pooling pooling = op == "splade_pool_max" ? Pooling::max : Pooling::sum;
    const size_t C = 24, V = 1500;
    auto t = rng.normal(N * C, 0.5f), E = rng.normal(V * C, 0.5f), bias = rng.normal(V, 0.5f, -1.0f);
    std::vector<float> a(B * V), b(B * V);
    std::vector<int32_t> aa(B * V), ab(B * V);
    splade_pool_forward_isa(isa, a.data(), aa.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, pooling);
    splade_pool_forward_cpu(b.data(), ab.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, pooling);
    compare(r, a, b);
    for (size_t i = 0; i < aa.size(); ++i) r.mismatches += aa[i] != ab[i];
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
    }
  } else {
    fail(kInvalidArgument, "kernel_check: unknown op " + op);
  }
  return r;
}

}  // namespace splade
