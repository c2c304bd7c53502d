// Training forward (keeps activations) and backward of the SPLADE encoder; see encoder_train.h.
// Backward follows the forward in reverse: head (SPLADE pooling + tied decoder, or the MLM loss) ->
// MLM transform LayerNorm, GELU, dense -> per layer (LayerNorm 2, FFN, LayerNorm 1, output projection,
// attention, QKV) -> embedding LayerNorm -> embedding tables. Every gradient accumulates (+=) into the
// caller's arena-shaped buffer. Dropout (BERT's sites) multiplies by masks regenerated from the seed.
#include "encoder_train.h"

#include <algorithm>
#include <vector>

#include "../common/thread_pool.h"
#include "cpu_ops.h"
#include "encoder_layer.h"

namespace splade {

void transformer_train_forward(EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L, const float* P,
                               const PackedBatch& batch, const TrainDropout& drop, const CpuOps& ops) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  const size_t N = B ? static_cast<size_t>(batch.cu_seqlens[B]) : 0, C = cfg.hidden, I = cfg.intermediate;
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  const int32_t* type_ids = wtt ? batch.type_ids : nullptr;
  a.emb.assign(N * C, 0.0f);
  a.emb_mean.assign(N, 0.0f);
  a.emb_rstd.assign(N, 0.0f);
  a.layers.assign(cfg.layers, {});
  if (B == 0) return;
  const EncoderDropoutMasks masks(cfg, drop);
  auto layernorm = [&](float* out, float* mean, float* rstd, const float* inp, size_t w_off, size_t b_off) {
    ops.layernorm_forward(out, mean, rstd, inp, P + w_off, P + b_off, N, C, cfg.eps);
  };
  ops.embed_forward(a.emb.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  std::vector<float> x(N * C);
  layernorm(x.data(), a.emb_mean.data(), a.emb_rstd.data(), a.emb.data(), L.emb_ln_w, L.emb_ln_b);
  dropout_apply(x.data(), N * C, masks.emb);
  for (size_t l = 0; l < cfg.layers; ++l) {
    EncoderActivations::Layer& s = a.layers[l];
    s.in = x;
    s.qkv.resize(N * 3 * C);
    s.att.resize(N * C);
    s.res1.resize(N * C);
    s.x1.resize(N * C);
    s.fc1.resize(N * I);
    s.gelu.resize(N * I);
    s.res2.resize(N * C);
    s.ln1_mean.resize(N); s.ln1_rstd.resize(N); s.ln2_mean.resize(N); s.ln2_rstd.resize(N);
    const LayerMasks m{masks.probs[l], masks.attn_out[l], masks.ffn_out[l]};
    encoder_layer_forward(ops, LayerBuffers{s.in.data(), s.qkv.data(), s.att.data(), s.res1.data(), s.x1.data(), s.fc1.data(),
                                            s.gelu.data(), s.res2.data(), x.data(), s.ln1_mean.data(), s.ln1_rstd.data(),
                                            s.ln2_mean.data(), s.ln2_rstd.data()},
                          cfg, L, l, P, batch, &m, nullptr, nullptr);
  }
  a.head_in = std::move(x);
}

namespace {

// Embeddings -> layers -> MLM transform: fills acts up to acts.t (N,C).
void hidden_forward(EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L, const float* P,
                    const PackedBatch& batch, const TrainDropout& drop, const CpuOps& ops) {
  transformer_train_forward(a, cfg, L, P, batch, drop, ops);
  if (batch.B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden;
  auto layernorm = [&](float* out, float* mean, float* rstd, const float* inp, size_t w_off, size_t b_off) {
    ops.layernorm_forward(out, mean, rstd, inp, P + w_off, P + b_off, N, C, cfg.eps);
  };
  a.head_pre.resize(N * C);
  a.head_gelu.resize(N * C);
  a.t.resize(N * C);
  a.head_mean.resize(N);
  a.head_rstd.resize(N);
  linear_forward(ops, a.head_pre.data(), a.head_in.data(), P + L.head_w, P + L.head_b, N, C, C);
  ops.gelu_forward(a.head_gelu.data(), a.head_pre.data(), N * C);
  layernorm(a.t.data(), a.head_mean.data(), a.head_rstd.data(), a.head_gelu.data(), L.head_ln_w, L.head_ln_b);
}

// dt (N,C) = dLoss/dt -> grads; dt is used as scratch.
void hidden_backward(float* G, const EncoderActivations& a, std::vector<float>& dt, const EncoderConfig& cfg,
                     const ParamLayout& L, const float* P, const PackedBatch& batch, const TrainDropout& drop,
                     const CpuOps& ops) {
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden;
  std::vector<float> dg(N * C, 0.0f), dpre(N * C, 0.0f), dx(N * C, 0.0f);
  auto layernorm_bw = [&](float* dinp, size_t w_off, size_t b_off, const float* dout, const float* inp, const float* mean,
                          const float* rstd) {
    ops.layernorm_backward(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C);
  };
  layernorm_bw(dg.data(), L.head_ln_w, L.head_ln_b, dt.data(), a.head_gelu.data(), a.head_mean.data(), a.head_rstd.data());
  ops.gelu_backward(dpre.data(), a.head_pre.data(), dg.data(), N * C);
  linear_backward(ops, dx.data(), G + L.head_w, G + L.head_b, dpre.data(), a.head_in.data(), P + L.head_w, N, C, C);
  transformer_train_backward(G, a, dx, cfg, L, P, batch, drop, ops);
}

}  // namespace

void transformer_train_backward(float* G, const EncoderActivations& a, std::vector<float>& dx, const EncoderConfig& cfg,
                                const ParamLayout& L, const float* P, const PackedBatch& batch, const TrainDropout& drop,
                                const CpuOps& ops) {
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate;
  const EncoderDropoutMasks masks(cfg, drop);
  auto layernorm_bw = [&](float* dinp, size_t w_off, size_t b_off, const float* dout, const float* inp, const float* mean,
                          const float* rstd) {
    ops.layernorm_backward(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C);
  };
  std::vector<float> dres(N * C), dx1(N * C), dh(N * I), dfc1(N * I), datt(N * C), dqkv(N * 3 * C);
  for (size_t l = cfg.layers; l-- > 0;) {
    const LayerOffsets& o = L.layer[l];
    const EncoderActivations::Layer& s = a.layers[l];
    std::fill(dres.begin(), dres.end(), 0.0f);
    layernorm_bw(dres.data(), o.ln2_w, o.ln2_b, dx.data(), s.res2.data(), s.ln2_mean.data(), s.ln2_rstd.data());
    dx1 = dres;  // res2 = drop(fc2(gelu)) + x1
    dropout_apply(dres.data(), N * C, masks.ffn_out[l]);
    std::fill(dh.begin(), dh.end(), 0.0f);
    linear_backward(ops, dh.data(), G + o.fc2_w, G + o.fc2_b, dres.data(), s.gelu.data(), P + o.fc2_w, N, C, I);
    std::fill(dfc1.begin(), dfc1.end(), 0.0f);
    ops.gelu_backward(dfc1.data(), s.fc1.data(), dh.data(), N * I);
    linear_backward(ops, dx1.data(), G + o.fc1_w, G + o.fc1_b, dfc1.data(), s.x1.data(), P + o.fc1_w, N, I, C);
    std::fill(dres.begin(), dres.end(), 0.0f);
    layernorm_bw(dres.data(), o.ln1_w, o.ln1_b, dx1.data(), s.res1.data(), s.ln1_mean.data(), s.ln1_rstd.data());
    dx = dres;  // res1 = drop(out_proj(att)) + in
    dropout_apply(dres.data(), N * C, masks.attn_out[l]);
    std::fill(datt.begin(), datt.end(), 0.0f);
    linear_backward(ops, datt.data(), G + o.attn_out_w, G + o.attn_out_b, dres.data(), s.att.data(), P + o.attn_out_w, N, C, C);
    std::fill(dqkv.begin(), dqkv.end(), 0.0f);
    ops.attention_train_backward(dqkv.data(), datt.data(), s.qkv.data(), batch.cu_seqlens, B, C, cfg.heads, masks.probs[l]);
    linear_backward(ops, dx.data(), G + o.qkv_w, G + o.qkv_b, dqkv.data(), s.in.data(), P + o.qkv_w, N, 3 * C, C);
  }
  dropout_apply(dx.data(), N * C, masks.emb);
  std::vector<float> demb(N * C, 0.0f);
  layernorm_bw(demb.data(), L.emb_ln_w, L.emb_ln_b, dx.data(), a.emb.data(), a.emb_mean.data(), a.emb_rstd.data());
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  embed_backward(G + L.wte, G + L.wpe, wtt ? G + L.wtt : nullptr, demb.data(), batch.ids, wtt ? batch.type_ids : nullptr,
                     batch.cu_seqlens, B, C);
}

void encoder_train_forward(float* w, EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L,
                           const float* P, const PackedBatch& batch, Pooling pooling, const TrainDropout& drop, bool ref) {
  const CpuOps& ops = cpu_ops(ref);
  hidden_forward(a, cfg, L, P, batch, drop, ops);
  const int B = batch.B;
  const size_t C = cfg.hidden, V = cfg.vocab;
  a.argmax.assign(static_cast<size_t>(B) * V, -1);
  a.w.clear();
  if (B == 0) return;
  ops.splade_pool_forward(w, a.argmax.data(), a.t.data(), P + L.wte, P + L.decoder_bias, batch.cu_seqlens, B, C, V, pooling);
  if (!ref && pooling == Pooling::max) a.w.assign(w, w + static_cast<size_t>(B) * V);
}

void encoder_train_backward(float* G, const EncoderActivations& a, const float* dw, const EncoderConfig& cfg,
                            const ParamLayout& L, const float* P, const PackedBatch& batch, Pooling pooling,
                            const TrainDropout& drop, bool ref) {
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, V = cfg.vocab;
  std::vector<float> dt(N * C, 0.0f);
  const CpuOps& ops = cpu_ops(ref);
  if (!ref && pooling == Pooling::max && a.w.size() == static_cast<size_t>(B) * V)
    splade_max_pool_backward_sparse(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.w.data(), a.t.data(), P + L.wte,
                                    a.argmax.data(), B, N, C, V);
  else
    ops.splade_pool_backward(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.t.data(), P + L.wte, P + L.decoder_bias,
                             a.argmax.data(), batch.cu_seqlens, B, C, V, pooling);
  hidden_backward(G, a, dt, cfg, L, P, batch, drop, ops);
}

double encoder_mlm_train(float* G, const int32_t* labels, const EncoderConfig& cfg, const ParamLayout& L,
                         const float* P, const PackedBatch& batch, const TrainDropout& drop, bool ref, size_t* count) {
  EncoderActivations a;
  const CpuOps& ops = cpu_ops(ref);
  hidden_forward(a, cfg, L, P, batch, drop, ops);
  if (count) *count = 0;
  if (batch.B == 0) return 0.0;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden, V = cfg.vocab;
  std::vector<float> dt(N * C, 0.0f);
  size_t m = 0;
  const double loss = ops.mlm_head_forward_backward(dt.data(), G + L.wte, G + L.decoder_bias, a.t.data(), P + L.wte,
                                                    P + L.decoder_bias, labels, N, C, V, &m);
  if (count) *count = m;
  if (m > 0) hidden_backward(G, a, dt, cfg, L, P, batch, drop, ops);
  return loss;
}

// The dropout-free entry points of encoder.h.
void encoder_splade_forward_train(float* w, EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L,
                                  const float* P, const PackedBatch& batch, Pooling pooling, bool ref) {
  encoder_train_forward(w, a, cfg, L, P, batch, pooling, TrainDropout{}, ref);
}

void encoder_splade_backward(float* G, const EncoderActivations& a, const float* dw, const EncoderConfig& cfg,
                             const ParamLayout& L, const float* P, const PackedBatch& batch, Pooling pooling, bool ref) {
  encoder_train_backward(G, a, dw, cfg, L, P, batch, pooling, TrainDropout{}, ref);
}

}  // namespace splade
