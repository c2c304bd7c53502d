// ModernBERT encoder: config checks, the parameter layout, the layer forward and the inference forward
// (see modernbert.h): embeddings -> L x [attn_norm, Wqkv, rotary, global or sliding-window attention,
// Wo + residual, mlp_norm, Wi, GeGLU, Wo + residual] -> final_norm -> head (dense + GELU fused, norm)
// -> tied decoder fused with SPLADE pooling.
#include "modernbert.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "modernbert_layer.h"

namespace splade {

ModernBertLayout make_modernbert_layout(const EncoderConfig& cfg) {
  validate_config(cfg);
  SPLADE_CHECK(cfg.arch == Arch::modernbert, "make_modernbert_layout: a ModernBERT config");
  ModernBertLayout L;
  const size_t V = cfg.vocab, C = cfg.hidden, I = cfg.intermediate;
  auto add = [&](const std::string& name, std::vector<size_t> shape) {  // 16-float (64-byte) aligned slots
    ParamEntry e{name, L.total, std::move(shape)};
    L.total += (e.numel() + 15) / 16 * 16;
    L.entries.push_back(e);
    return e.offset;
  };
  L.wte = add("model.embeddings.tok_embeddings.weight", {V, C});
  L.emb_norm = add("model.embeddings.norm.weight", {C});
  for (size_t l = 0; l < cfg.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    ModernBertLayerOffsets o;
    if (l > 0) o.attn_norm = add(p + "attn_norm.weight", {C});
    o.wqkv = add(p + "attn.Wqkv.weight", {3 * C, C});
    o.wo = add(p + "attn.Wo.weight", {C, C});
    o.mlp_norm = add(p + "mlp_norm.weight", {C});
    o.wi = add(p + "mlp.Wi.weight", {2 * I, C});
    o.mlp_wo = add(p + "mlp.Wo.weight", {C, I});
    L.layer.push_back(o);
  }
  L.final_norm = add("model.final_norm.weight", {C});
  L.head_w = add("head.dense.weight", {C, C});
  L.head_norm = add("head.norm.weight", {C});
  L.decoder_bias = add("decoder.bias", {V});
  return L;
}

const ModernBertOps& modernbert_ops(bool reference) {
  static const ModernBertOps fast{cpu_ops(false),  &rotary_forward,          &rotary_backward,          &geglu_forward,
                                  &geglu_backward, &attention_window_forward, &attention_window_backward};
  static const ModernBertOps ref{cpu_ops(true),        &rotary_forward_ref,          &rotary_backward_ref,
                                 &geglu_forward_ref,   &geglu_backward_ref,          &attention_window_forward_ref,
                                 &attention_window_backward_ref};
  return reference ? ref : fast;
}

void modernbert_layer_forward(const ModernBertOps& ops, const ModernBertLayerBuffers& b, const EncoderConfig& cfg,
                              const ModernBertLayout& L, size_t l, const float* P, const PackedBatch& batch,
                              const float* zeros, const EncoderPacked* packed) {
  const int B = batch.B;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, NH = cfg.heads;
  const ModernBertLayerOffsets& o = L.layer[l];
  const CpuOps& base = ops.base;
  const float* h = b.in;
  if (l > 0) {
    base.layernorm_forward(b.hn, b.mean1, b.rstd1, b.in, P + o.attn_norm, zeros, N, C, cfg.eps);
    h = b.hn;
  }
  auto w32 = [&](const std::vector<PackedMatrix> EncoderPacked::*v) { return packed ? &(packed->*v)[l] : nullptr; };
  linear_forward(base, b.qkv, h, P + o.wqkv, nullptr, N, 3 * C, C, nullptr, Activation::none, nullptr, w32(&EncoderPacked::qkv32));
  ops.rotary_forward(b.qkv, batch.cu_seqlens, B, C, NH, modernbert_theta(cfg, l));
  ops.attention_forward(b.att, b.qkv, batch.cu_seqlens, B, C, NH, modernbert_window(cfg, l));
  linear_forward(base, b.x1, b.att, P + o.wo, nullptr, N, C, C, b.in, Activation::none, nullptr, w32(&EncoderPacked::attn_out32));
  base.layernorm_forward(b.hm, b.mean2, b.rstd2, b.x1, P + o.mlp_norm, zeros, N, C, cfg.eps);
  linear_forward(base, b.wi, b.hm, P + o.wi, nullptr, N, 2 * I, C, nullptr, Activation::none, nullptr, w32(&EncoderPacked::fc1_32));
  ops.geglu_forward(b.act, b.wi, N, I);
  linear_forward(base, b.out, b.act, P + o.mlp_wo, nullptr, N, C, I, b.x1, Activation::none, nullptr, w32(&EncoderPacked::fc2_32));
}

std::shared_ptr<const EncoderPacked> pack_modernbert(const EncoderConfig& cfg, const ModernBertLayout& L, const float* P) {
  auto out = std::make_shared<EncoderPacked>();
  const size_t C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  auto pack = [&](size_t off, size_t nout, size_t k) { return pack_linear32(P + off, nout, k); };
  for (const ModernBertLayerOffsets& o : L.layer) {
    out->qkv32.push_back(pack(o.wqkv, 3 * C, C));
    out->attn_out32.push_back(pack(o.wo, C, C));
    out->fc1_32.push_back(pack(o.wi, 2 * I, C));
    out->fc2_32.push_back(pack(o.mlp_wo, C, I));
  }
  out->head32 = pack(L.head_w, C, C);
  pack_decoder(*out, P + L.wte, V, C);
  return out;
}

void modernbert_splade_forward(float* w, int32_t* argmax, const EncoderConfig& cfg, const ModernBertLayout& L,
                               const float* P, const PackedBatch& batch, Pooling pooling, bool reference,
                               const EncoderPacked* packed) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  if (B == 0) return;
  if (reference || (packed && !packed->head32.get())) packed = nullptr;
  const ModernBertOps& ops = modernbert_ops(reference);
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  // one workspace per call: x (the residual stream, in and out of every layer), hn (both norms' output),
  // qkv, att, x1, wi, act
  std::vector<float> x(N * C), hn(N * C), qkv(N * 3 * C), att(N * C), x1(N * C), wi(N * 2 * I), act(N * I);
  const std::vector<float> zeros(C, 0.0f);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n) std::copy_n(P + L.wte + static_cast<size_t>(batch.ids[n]) * C, C, hn.data() + n * C);
  });
  ops.base.layernorm_forward(x.data(), nullptr, nullptr, hn.data(), P + L.emb_norm, zeros.data(), N, C, cfg.eps);
  const ModernBertLayerBuffers buf{x.data(), hn.data(), nullptr, nullptr, qkv.data(), att.data(), x1.data(),
                                   hn.data(), nullptr,   nullptr, wi.data(),  act.data(), x.data()};
  for (size_t l = 0; l < cfg.layers; ++l) modernbert_layer_forward(ops, buf, cfg, L, l, P, batch, zeros.data(), packed);
  ops.base.layernorm_forward(hn.data(), nullptr, nullptr, x.data(), P + L.final_norm, zeros.data(), N, C, cfg.eps);
  linear_forward(ops.base, x1.data(), hn.data(), P + L.head_w, nullptr, N, C, C, nullptr, Activation::gelu, nullptr,
                 packed ? &packed->head32 : nullptr);
  ops.base.layernorm_forward(att.data(), nullptr, nullptr, x1.data(), P + L.head_norm, zeros.data(), N, C, cfg.eps);
  decoder_pool_forward(w, argmax, att.data(), P + L.wte, P + L.decoder_bias, batch, C, V, pooling, reference, packed);
}

}  // namespace splade
