// Training forward (keeps activations) and backward of the SPLADE encoder; see encoder.h. Backward
// follows the forward in reverse: SPLADE pooling + tied decoder -> head LayerNorm, GELU, dense -> per
// layer (LayerNorm 2, FFN, LayerNorm 1, output projection, attention, QKV) -> embedding LayerNorm ->
// embedding tables. Every gradient accumulates (+=) into the caller's arena-shaped buffer.
#include <algorithm>
#include <vector>

#include "../cpu/attention.h"
#include "../cpu/embed.h"
#include "../cpu/gelu.h"
#include "../cpu/gemm.h"
#include "../cpu/layernorm.h"
#include "encoder.h"

namespace splade {
namespace {

// out (M,Nout) = inp (M,K) W^T + b, W (Nout,K) as nn.Linear stores it
void linear_forward(float* out, const float* inp, const float* W, const float* b, size_t M, size_t Nout, size_t K,
                    const float* residual = nullptr) {
  GemmArgs g;
  g.ta = Trans::no; g.tb = Trans::yes; g.M = M; g.N = Nout; g.K = K;
  g.A = inp; g.lda = K; g.B = W; g.ldb = K; g.C = out; g.ldc = Nout;
  g.epilogue.bias = b;
  g.epilogue.residual = residual;
  g.epilogue.ldr = residual ? Nout : 0;
  sgemm(g);
}

// dinp (M,K) += dout W; dW (Nout,K) += dout^T inp; db (Nout) += column sums of dout (M,Nout)
void linear_backward(float* dinp, float* dW, float* db, const float* dout, const float* inp, const float* W, size_t M,
                     size_t Nout, size_t K) {
  if (dinp) sgemm(Trans::no, Trans::no, M, K, Nout, 1.0f, dout, Nout, W, K, 1.0f, dinp, K);
  sgemm(Trans::yes, Trans::no, Nout, K, M, 1.0f, dout, Nout, inp, K, 1.0f, dW, K);
  for (size_t m = 0; m < M; ++m)
    for (size_t n = 0; n < Nout; ++n) db[n] += dout[m * Nout + n];
}

}  // namespace

void encoder_splade_forward_train(float* w, EncoderActivations& a, const EncoderConfig& cfg, const ParamLayout& L,
                                  const float* P, const PackedBatch& batch, Pooling pooling) {
  validate_batch(cfg, batch);
  const int B = batch.B;
  const size_t N = B ? static_cast<size_t>(batch.cu_seqlens[B]) : 0, C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  const int32_t* type_ids = wtt ? batch.type_ids : nullptr;
  a.emb.assign(N * C, 0.0f);
  a.emb_mean.assign(N, 0.0f);
  a.emb_rstd.assign(N, 0.0f);
  a.layers.assign(cfg.layers, {});
  if (B == 0) return;
  embed_forward_cpu(a.emb.data(), batch.ids, type_ids, batch.cu_seqlens, B, P + L.wte, P + L.wpe, wtt, C);
  std::vector<float> x(N * C);
  layernorm_forward_cpu(x.data(), a.emb_mean.data(), a.emb_rstd.data(), a.emb.data(), P + L.emb_ln_w, P + L.emb_ln_b, N, C, cfg.eps);
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
    linear_forward(s.qkv.data(), s.in.data(), P + o.qkv_w, P + o.qkv_b, N, 3 * C, C);
    attention_forward_cpu(s.att.data(), s.qkv.data(), batch.cu_seqlens, B, C, cfg.heads);
    linear_forward(s.res1.data(), s.att.data(), P + o.attn_out_w, P + o.attn_out_b, N, C, C, s.in.data());
    layernorm_forward_cpu(s.x1.data(), s.ln1_mean.data(), s.ln1_rstd.data(), s.res1.data(), P + o.ln1_w, P + o.ln1_b, N, C, cfg.eps);
    linear_forward(s.fc1.data(), s.x1.data(), P + o.fc1_w, P + o.fc1_b, N, I, C);
    gelu_forward_cpu(s.gelu.data(), s.fc1.data(), N * I);
    linear_forward(s.res2.data(), s.gelu.data(), P + o.fc2_w, P + o.fc2_b, N, C, I, s.x1.data());
    layernorm_forward_cpu(x.data(), s.ln2_mean.data(), s.ln2_rstd.data(), s.res2.data(), P + o.ln2_w, P + o.ln2_b, N, C, cfg.eps);
  }
  a.head_in = x;
  a.head_pre.resize(N * C);
  a.head_gelu.resize(N * C);
  a.t.resize(N * C);
  a.head_mean.resize(N);
  a.head_rstd.resize(N);
  linear_forward(a.head_pre.data(), a.head_in.data(), P + L.head_w, P + L.head_b, N, C, C);
  gelu_forward_cpu(a.head_gelu.data(), a.head_pre.data(), N * C);
  layernorm_forward_cpu(a.t.data(), a.head_mean.data(), a.head_rstd.data(), a.head_gelu.data(), P + L.head_ln_w, P + L.head_ln_b, N, C, cfg.eps);
  a.argmax.assign(static_cast<size_t>(B) * V, -1);
  splade_pool_forward_cpu(w, a.argmax.data(), a.t.data(), P + L.wte, P + L.decoder_bias, batch.cu_seqlens, B, C, V, pooling);
}

void encoder_splade_backward(float* G, const EncoderActivations& a, const float* dw, const EncoderConfig& cfg,
                             const ParamLayout& L, const float* P, const PackedBatch& batch, Pooling pooling) {
  const int B = batch.B;
  if (B == 0) return;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  std::vector<float> dt(N * C, 0.0f), dg(N * C, 0.0f), dpre(N * C, 0.0f), dx(N * C, 0.0f);
  splade_pool_backward_cpu(dt.data(), G + L.wte, G + L.decoder_bias, dw, a.t.data(), P + L.wte, P + L.decoder_bias,
                           a.argmax.data(), batch.cu_seqlens, B, C, V, pooling);
  layernorm_backward_cpu(dg.data(), G + L.head_ln_w, G + L.head_ln_b, dt.data(), a.head_gelu.data(), P + L.head_ln_w,
                         a.head_mean.data(), a.head_rstd.data(), N, C);
  gelu_backward_cpu(dpre.data(), a.head_pre.data(), dg.data(), N * C);
  linear_backward(dx.data(), G + L.head_w, G + L.head_b, dpre.data(), a.head_in.data(), P + L.head_w, N, C, C);
  std::vector<float> dres(N * C), dx1(N * C), dh(N * I), dfc1(N * I), datt(N * C), dqkv(N * 3 * C);
  for (size_t l = cfg.layers; l-- > 0;) {
    const LayerOffsets& o = L.layer[l];
    const EncoderActivations::Layer& s = a.layers[l];
    std::fill(dres.begin(), dres.end(), 0.0f);
    layernorm_backward_cpu(dres.data(), G + o.ln2_w, G + o.ln2_b, dx.data(), s.res2.data(), P + o.ln2_w,
                           s.ln2_mean.data(), s.ln2_rstd.data(), N, C);
    dx1 = dres;  // res2 = fc2(gelu) + x1
    std::fill(dh.begin(), dh.end(), 0.0f);
    linear_backward(dh.data(), G + o.fc2_w, G + o.fc2_b, dres.data(), s.gelu.data(), P + o.fc2_w, N, C, I);
    std::fill(dfc1.begin(), dfc1.end(), 0.0f);
    gelu_backward_cpu(dfc1.data(), s.fc1.data(), dh.data(), N * I);
    linear_backward(dx1.data(), G + o.fc1_w, G + o.fc1_b, dfc1.data(), s.x1.data(), P + o.fc1_w, N, I, C);
    std::fill(dres.begin(), dres.end(), 0.0f);
    layernorm_backward_cpu(dres.data(), G + o.ln1_w, G + o.ln1_b, dx1.data(), s.res1.data(), P + o.ln1_w,
                           s.ln1_mean.data(), s.ln1_rstd.data(), N, C);
    dx = dres;  // res1 = out_proj(att) + in
    std::fill(datt.begin(), datt.end(), 0.0f);
    linear_backward(datt.data(), G + o.attn_out_w, G + o.attn_out_b, dres.data(), s.att.data(), P + o.attn_out_w, N, C, C);
    std::fill(dqkv.begin(), dqkv.end(), 0.0f);
    attention_backward_cpu(dqkv.data(), datt.data(), s.qkv.data(), batch.cu_seqlens, B, C, cfg.heads);
    linear_backward(dx.data(), G + o.qkv_w, G + o.qkv_b, dqkv.data(), s.in.data(), P + o.qkv_w, N, 3 * C, C);
  }
  std::vector<float> demb(N * C, 0.0f);
  layernorm_backward_cpu(demb.data(), G + L.emb_ln_w, G + L.emb_ln_b, dx.data(), a.emb.data(), P + L.emb_ln_w,
                         a.emb_mean.data(), a.emb_rstd.data(), N, C);
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  embed_backward_cpu(G + L.wte, G + L.wpe, wtt ? G + L.wtt : nullptr, demb.data(), batch.ids, wtt ? batch.type_ids : nullptr,
                     batch.cu_seqlens, B, C);
}

}  // namespace splade
