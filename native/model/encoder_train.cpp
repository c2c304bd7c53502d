// Training forward (keeps activations) and backward of the SPLADE encoder; see encoder_train.h.
// Backward follows the forward in reverse: head (SPLADE pooling + tied decoder, or the MLM loss) ->
// MLM transform LayerNorm, GELU, dense -> per layer (LayerNorm 2, FFN, LayerNorm 1, output projection,
// attention, QKV) -> embedding LayerNorm -> embedding tables. Every gradient accumulates (+=) into the
// caller's arena-shaped buffer. Dropout (BERT's sites) multiplies by masks regenerated from the seed.
#include "encoder_train.h"

#include <algorithm>
#include <vector>

#include "../common/thread_pool.h"
#include "../cpu/attention.h"
#include "../cpu/embed.h"
#include "../cpu/gelu.h"
#include "../cpu/gemm.h"
#include "../cpu/layernorm.h"
#include "../train/attention_train.h"
#include "../train/splade_head_train.h"

namespace splade {
namespace {

// out (M,Nout) = inp (M,K) W^T + b [+ residual], W (Nout,K) as nn.Linear stores it
void linear_forward(bool ref, float* out, const float* inp, const float* W, const float* b, size_t M, size_t Nout,
                    size_t K, const float* residual = nullptr) {
  GemmArgs g;
  g.ta = Trans::no; g.tb = Trans::yes; g.M = M; g.N = Nout; g.K = K;
  g.A = inp; g.lda = K; g.B = W; g.ldb = K; g.C = out; g.ldc = Nout;
  g.epilogue.bias = b;
  g.epilogue.residual = residual;
  g.epilogue.ldr = residual ? Nout : 0;
  if (ref) sgemm_reference(g); else sgemm(g);
}

void gemm(bool ref, Trans ta, Trans tb, size_t M, size_t N, size_t K, const float* A, size_t lda, const float* B,
          size_t ldb, float* C, size_t ldc) {  // C += op(A) op(B)
  GemmArgs g;
  g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.A = A; g.lda = lda; g.B = B; g.ldb = ldb;
  g.beta = 1.0f; g.C = C; g.ldc = ldc;
  if (ref) sgemm_reference(g); else sgemm(g);
}

// dinp (M,K) += dout W; dW (Nout,K) += dout^T inp; db (Nout) += column sums of dout (M,Nout)
void linear_backward(bool ref, float* dinp, float* dW, float* db, const float* dout, const float* inp, const float* W,
                     size_t M, size_t Nout, size_t K) {
  if (dinp) gemm(ref, Trans::no, Trans::no, M, K, Nout, dout, Nout, W, K, dinp, K);
  gemm(ref, Trans::yes, Trans::no, Nout, K, M, dout, Nout, inp, K, dW, K);
  // each thread owns a range of columns; rows in order, so the sums do not depend on the thread count
  parallel_range(Nout, [&](size_t n0, size_t n1, int) {
    for (size_t m = 0; m < M; ++m)
      for (size_t n = n0; n < n1; ++n) db[n] += dout[m * Nout + n];
  });
}

// out (N,C) = drop(inp W^T + b) + residual: the GEMM's fused residual when no mask is active.
void linear_dropout_residual(bool ref, float* out, const float* inp, const float* W, const float* b, size_t N,
                             size_t Nout, size_t K, const float* residual, const DropoutMask& m) {
  if (!m.active) return linear_forward(ref, out, inp, W, b, N, Nout, K, residual);
  linear_forward(ref, out, inp, W, b, N, Nout, K);
  parallel_range(N * Nout, [&](size_t i0, size_t i1, int) {
    for (size_t i = i0; i < i1; ++i) out[i] = out[i] * m.factor(i) + residual[i];
  });
}

}  // namespace

void transformer_train_forward(EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L, const float* P,
                               const PackedBatch& batch, const TrainDropout& drop, bool ref) {
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
    if (ref) layernorm_forward_cpu(out, mean, rstd, inp, P + w_off, P + b_off, N, C, cfg.eps);
    else layernorm_forward(out, mean, rstd, inp, P + w_off, P + b_off, N, C, cfg.eps);
  };
  if (ref) embed_forward_cpu(a.emb.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  else embed_forward(a.emb.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  std::vector<float> x(N * C);
  layernorm(x.data(), a.emb_mean.data(), a.emb_rstd.data(), a.emb.data(), L.emb_ln_w, L.emb_ln_b);
  dropout_apply(x.data(), N * C, masks.emb);
  for (size_t l = 0; l < cfg.layers; ++l) {
    const LayerOffsets& o = L.layer[l];
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
    linear_forward(ref, s.qkv.data(), s.in.data(), P + o.qkv_w, P + o.qkv_b, N, 3 * C, C);
    (ref ? attention_train_forward_cpu : attention_train_forward)(s.att.data(), s.qkv.data(), batch.cu_seqlens, B, C,
                                                                  cfg.heads, masks.probs[l]);
    linear_dropout_residual(ref, s.res1.data(), s.att.data(), P + o.attn_out_w, P + o.attn_out_b, N, C, C, s.in.data(),
                            masks.attn_out[l]);
    layernorm(s.x1.data(), s.ln1_mean.data(), s.ln1_rstd.data(), s.res1.data(), o.ln1_w, o.ln1_b);
    linear_forward(ref, s.fc1.data(), s.x1.data(), P + o.fc1_w, P + o.fc1_b, N, I, C);
    (ref ? gelu_forward_cpu : gelu_forward)(s.gelu.data(), s.fc1.data(), N * I);
    linear_dropout_residual(ref, s.res2.data(), s.gelu.data(), P + o.fc2_w, P + o.fc2_b, N, C, I, s.x1.data(),
                            masks.ffn_out[l]);
    layernorm(x.data(), s.ln2_mean.data(), s.ln2_rstd.data(), s.res2.data(), o.ln2_w, o.ln2_b);
  }
  a.head_in = std::move(x);
}

namespace {

// Embeddings -> layers -> MLM transform: fills acts up to acts.t (N,C).
void hidden_forward(EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L, const float* P,
                    const PackedBatch& batch, const TrainDropout& drop, bool ref) {
  transformer_train_forward(a, cfg, L, P, batch, drop, ref);
  if (batch.B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden;
  auto layernorm = [&](float* out, float* mean, float* rstd, const float* inp, size_t w_off, size_t b_off) {
    if (ref) layernorm_forward_cpu(out, mean, rstd, inp, P + w_off, P + b_off, N, C, cfg.eps);
    else layernorm_forward(out, mean, rstd, inp, P + w_off, P + b_off, N, C, cfg.eps);
  };
  a.head_pre.resize(N * C);
  a.head_gelu.resize(N * C);
  a.t.resize(N * C);
  a.head_mean.resize(N);
  a.head_rstd.resize(N);
  linear_forward(ref, a.head_pre.data(), a.head_in.data(), P + L.head_w, P + L.head_b, N, C, C);
  (ref ? gelu_forward_cpu : gelu_forward)(a.head_gelu.data(), a.head_pre.data(), N * C);
  layernorm(a.t.data(), a.head_mean.data(), a.head_rstd.data(), a.head_gelu.data(), L.head_ln_w, L.head_ln_b);
}

// dt (N,C) = dLoss/dt -> grads; dt is used as scratch.
void hidden_backward(float* G, const EncoderActivations& a, std::vector<float>& dt, const EncoderConfig& cfg,
                     const ParamLayout& L, const float* P, const PackedBatch& batch, const TrainDropout& drop, bool ref) {
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden;
  std::vector<float> dg(N * C, 0.0f), dpre(N * C, 0.0f), dx(N * C, 0.0f);
  auto layernorm_bw = [&](float* dinp, size_t w_off, size_t b_off, const float* dout, const float* inp, const float* mean,
                          const float* rstd) {
    if (ref) layernorm_backward_cpu(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C);
    else layernorm_backward(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C);
  };
  layernorm_bw(dg.data(), L.head_ln_w, L.head_ln_b, dt.data(), a.head_gelu.data(), a.head_mean.data(), a.head_rstd.data());
  (ref ? gelu_backward_cpu : gelu_backward)(dpre.data(), a.head_pre.data(), dg.data(), N * C);
  linear_backward(ref, dx.data(), G + L.head_w, G + L.head_b, dpre.data(), a.head_in.data(), P + L.head_w, N, C, C);
  transformer_train_backward(G, a, dx, cfg, L, P, batch, drop, ref);
}

}  // namespace

void transformer_train_backward(float* G, const EncoderActivations& a, std::vector<float>& dx, const EncoderConfig& cfg,
                                const ParamLayout& L, const float* P, const PackedBatch& batch, const TrainDropout& drop,
                                bool ref) {
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate;
  const EncoderDropoutMasks masks(cfg, drop);
  auto layernorm_bw = [&](float* dinp, size_t w_off, size_t b_off, const float* dout, const float* inp, const float* mean,
                          const float* rstd) {
    if (ref) layernorm_backward_cpu(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C);
    else layernorm_backward(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C);
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
    linear_backward(ref, dh.data(), G + o.fc2_w, G + o.fc2_b, dres.data(), s.gelu.data(), P + o.fc2_w, N, C, I);
    std::fill(dfc1.begin(), dfc1.end(), 0.0f);
    (ref ? gelu_backward_cpu : gelu_backward)(dfc1.data(), s.fc1.data(), dh.data(), N * I);
    linear_backward(ref, dx1.data(), G + o.fc1_w, G + o.fc1_b, dfc1.data(), s.x1.data(), P + o.fc1_w, N, I, C);
    std::fill(dres.begin(), dres.end(), 0.0f);
    layernorm_bw(dres.data(), o.ln1_w, o.ln1_b, dx1.data(), s.res1.data(), s.ln1_mean.data(), s.ln1_rstd.data());
    dx = dres;  // res1 = drop(out_proj(att)) + in
    dropout_apply(dres.data(), N * C, masks.attn_out[l]);
    std::fill(datt.begin(), datt.end(), 0.0f);
    linear_backward(ref, datt.data(), G + o.attn_out_w, G + o.attn_out_b, dres.data(), s.att.data(), P + o.attn_out_w, N, C, C);
    std::fill(dqkv.begin(), dqkv.end(), 0.0f);
    (ref ? attention_train_backward_cpu : attention_train_backward)(dqkv.data(), datt.data(), s.qkv.data(),
                                                                    batch.cu_seqlens, B, C, cfg.heads, masks.probs[l]);
    linear_backward(ref, dx.data(), G + o.qkv_w, G + o.qkv_b, dqkv.data(), s.in.data(), P + o.qkv_w, N, 3 * C, C);
  }
  dropout_apply(dx.data(), N * C, masks.emb);
  std::vector<float> demb(N * C, 0.0f);
  layernorm_bw(demb.data(), L.emb_ln_w, L.emb_ln_b, dx.data(), a.emb.data(), a.emb_mean.data(), a.emb_rstd.data());
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  embed_backward_cpu(G + L.wte, G + L.wpe, wtt ? G + L.wtt : nullptr, demb.data(), batch.ids, wtt ? batch.type_ids : nullptr,
                     batch.cu_seqlens, B, C);
}

void encoder_train_forward(float* w, EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L,
                           const float* P, const PackedBatch& batch, Pooling pooling, const TrainDropout& drop, bool ref) {
  hidden_forward(a, cfg, L, P, batch, drop, ref);
  const int B = batch.B;
  const size_t C = cfg.hidden, V = cfg.vocab;
  a.argmax.assign(static_cast<size_t>(B) * V, -1);
  a.w.clear();
  if (B == 0) return;
  if (ref) splade_pool_forward_cpu(w, a.argmax.data(), a.t.data(), P + L.wte, P + L.decoder_bias, batch.cu_seqlens, B, C, V, pooling);
  else splade_pool_forward(w, a.argmax.data(), a.t.data(), P + L.wte, P + L.decoder_bias, batch.cu_seqlens, B, C, V, pooling);
  if (!ref && pooling == Pooling::max) a.w.assign(w, w + static_cast<size_t>(B) * V);
}

void encoder_train_backward(float* G, const EncoderActivations& a, const float* dw, const EncoderConfig& cfg,
                            const ParamLayout& L, const float* P, const PackedBatch& batch, Pooling pooling,
                            const TrainDropout& drop, bool ref) {
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, V = cfg.vocab;
  std::vector<float> dt(N * C, 0.0f);
  if (ref)
    splade_pool_backward_cpu(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.t.data(), P + L.wte, P + L.decoder_bias,
                             a.argmax.data(), batch.cu_seqlens, B, C, V, pooling);
  else if (pooling == Pooling::max && a.w.size() == static_cast<size_t>(B) * V)
    splade_max_pool_backward_sparse(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.w.data(), a.t.data(), P + L.wte,
                                    a.argmax.data(), B, N, C, V);
  else
    splade_pool_backward(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.t.data(), P + L.wte, P + L.decoder_bias,
                         a.argmax.data(), batch.cu_seqlens, B, C, V, pooling);
  hidden_backward(G, a, dt, cfg, L, P, batch, drop, ref);
}

double encoder_mlm_train(float* G, const int32_t* labels, const EncoderConfig& cfg, const ParamLayout& L,
                         const float* P, const PackedBatch& batch, const TrainDropout& drop, bool ref, size_t* count) {
  EncoderActivations a;
  hidden_forward(a, cfg, L, P, batch, drop, ref);
  if (count) *count = 0;
  if (batch.B == 0) return 0.0;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[batch.B]), C = cfg.hidden, V = cfg.vocab;
  std::vector<float> dt(N * C, 0.0f);
  size_t m = 0;
  const double loss = (ref ? mlm_head_forward_backward_cpu : mlm_head_forward_backward)(
      dt.data(), G + L.wte, G + L.decoder_bias, a.t.data(), P + L.wte, P + L.decoder_bias, labels, N, C, V, &m);
  if (count) *count = m;
  if (m > 0) hidden_backward(G, a, dt, cfg, L, P, batch, drop, ref);
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
