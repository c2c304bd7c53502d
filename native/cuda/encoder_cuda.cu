// CudaEncoder (see encoder_cuda.h): the one forward schedule of every pass and its op tables (the CUDA twin
// of model/encoder_layer.cpp and cpu_ops.cpp), the device copies of the weights, the inference forward.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "attention.h"
#include "context.h"
#include "cuda_check.h"
#include "dropout.h"
#include "embed.h"
#include "encoder_cuda.h"
#include "encoder_cuda_state.cuh"
#include "gelu.h"
#include "gemm.h"
#include "layernorm.h"
#include "splade_pool.h"

namespace splade::cuda {
namespace {

void linear_f32(Act out, Act inp, size_t M, size_t Nout, size_t K, const float* W, const bf16*, const float* b,
                const float* residual, Activation act, cudaStream_t st) {
  GemmArgs g;
  g.ta = Trans::no; g.tb = Trans::yes; g.M = M; g.N = Nout; g.K = K;
  g.A = inp.f; g.lda = K; g.B = W; g.ldb = K; g.C = out.f; g.ldc = Nout;
  g.epilogue = {b, residual, residual ? Nout : 0, act};
  sgemm_cuda(g, st);
}

void linear_bf16(Act out, Act inp, size_t M, size_t Nout, size_t K, const float*, const bf16* Wb, const float* b,
                 const float* residual, Activation act, cudaStream_t st) {
  GemmBf16Args g;
  g.M = M; g.N = Nout; g.K = K; g.A = inp.b; g.lda = K; g.B = Wb; g.ldb = K;
  g.C = out.f; g.Cb = out.b; g.ldc = Nout; g.epilogue = {b, residual, residual ? Nout : 0, act};
  gemm_bf16_cuda(g, st);
}

void attention_f32(Act out, Act qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, size_t N, int max_len,
                   const DropoutMask& drop, cudaStream_t st) {
  attention_forward_cuda(out.f, qkv.f, cu_seqlens, B, C, NH, N, max_len, st, drop);
}

// on tensor cores where the head size allows; else the fp32 kernel, its output rounded for the next GEMM
void attention_bf16(Act out, Act qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, size_t N, int max_len,
                    const DropoutMask& drop, cudaStream_t st) {
  SPLADE_CHECK(!drop.active, "attention_bf16: dropout is the fp32 kernels'");
  if (attention_bf16_supported(C, NH))
    return attention_forward_bf16_cuda(out.b, nullptr, qkv.b, cu_seqlens, B, C, NH, max_len, st);
  attention_forward_cuda(out.f, qkv.f, cu_seqlens, B, C, NH, N, max_len, st);
  f32_to_bf16_cuda(out.b, out.f, N * C, st);
}

void splade_pool_f32(float* w, int32_t* argmax, Act t, const float* wte, const bf16*, const float* bias,
                     const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling, cudaStream_t st) {
  splade_pool_forward_cuda(w, argmax, t.f, wte, bias, cu_seqlens, B, C, V, pooling, st);
}

void splade_pool_bf16(float* w, int32_t* argmax, Act t, const float*, const bf16* wte_b, const float* bias,
                      const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling, cudaStream_t st) {
  splade_pool_forward_bf16_cuda(w, argmax, t.b, wte_b, bias, cu_seqlens, B, C, V, pooling, st);
}

// out (M,Nout) = drop(inp W^T + b) + residual: the GEMM's fused residual when no mask is active
void linear_dropout_residual(const CudaOps& ops, float* out, Act inp, size_t M, size_t Nout, size_t K, const float* W,
                             const bf16* Wb, const float* b, const float* residual, const DropoutMask* m, cudaStream_t st) {
  if (!m || !m->active) return ops.linear({out, nullptr}, inp, M, Nout, K, W, Wb, b, residual, Activation::none, st);
  ops.linear({out, nullptr}, inp, M, Nout, K, W, Wb, b, nullptr, Activation::none, st);
  dropout_residual_cuda(out, residual, M * Nout, *m, st);
}

// out (M,Nout) = GELU(inp W^T + b): fused into the GEMM, or through pre (M,Nout), kept for backward, when given
void linear_gelu(const CudaOps& ops, float* pre, Act out, Act inp, size_t M, size_t Nout, size_t K, const float* W,
                 const bf16* Wb, const float* b, cudaStream_t st) {
  if (!pre) return ops.linear(out, inp, M, Nout, K, W, Wb, b, nullptr, Activation::gelu, st);
  ops.linear({pre, nullptr}, inp, M, Nout, K, W, Wb, b, nullptr, Activation::none, st);
  gelu_forward_cuda(out.f, pre, M * Nout, st);
}

}  // namespace

const CudaOps& cuda_ops(bool tensor_cores) {
  static const CudaOps f32{&linear_f32, &attention_f32, &splade_pool_f32};
  static const CudaOps tc{&linear_bf16, &attention_bf16, &splade_pool_bf16};
  return tensor_cores ? tc : f32;
}

void CudaEncoder::State::encoder_forward(const CudaOps& ops, const CudaForwardBuffers& fb, const PackedBatch& batch,
                                         const DeviceBatch& in, const EncoderDropoutMasks* masks) {
  const ParamLayout& L = layout;
  const int B = batch.B;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate;
  int max_len = 0;
  for (int i = 0; i < B; ++i) max_len = std::max(max_len, batch.cu_seqlens[i + 1] - batch.cu_seqlens[i]);
  cudaStream_t st = ctx.stream;
  const float* P = params;
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  const Act x = fb.layers.front().in;
  embed_forward_cuda(fb.emb, in.ids, wtt ? in.type_ids : nullptr, in.cu_seqlens, B, N, P + L.wte, P + L.wpe, wtt, C, st);
  layernorm_forward_cuda(x.f, fb.emb_mean, fb.emb_rstd, fb.emb, P + L.emb_ln_w, P + L.emb_ln_b, N, C, cfg.eps, st, x.b);
  if (masks) dropout_apply_cuda(x.f, N * C, masks->emb, 0, st);
  for (size_t l = 0; l < cfg.layers; ++l) {
    const CudaLayerBuffers& b = fb.layers[l];
    const LayerOffsets& o = L.layer[l];
    const LayerBf16& wb = layer_b[l];
    ops.linear(b.qkv, b.in, N, 3 * C, C, P + o.qkv_w, wb.qkv_w, P + o.qkv_b, nullptr, Activation::none, st);
    ops.attention(b.att, b.qkv, in.cu_seqlens, B, C, cfg.heads, N, max_len, masks ? masks->probs[l] : DropoutMask{}, st);
    linear_dropout_residual(ops, b.res1, b.att, N, C, C, P + o.attn_out_w, wb.attn_out_w, P + o.attn_out_b, b.in.f,
                            masks ? &masks->attn_out[l] : nullptr, st);
    layernorm_forward_cuda(b.x1.f, b.ln1_mean, b.ln1_rstd, b.res1, P + o.ln1_w, P + o.ln1_b, N, C, cfg.eps, st, b.x1.b);
    linear_gelu(ops, b.fc1, b.gelu, b.x1, N, I, C, P + o.fc1_w, wb.fc1_w, P + o.fc1_b, st);
    linear_dropout_residual(ops, b.res2, b.gelu, N, C, I, P + o.fc2_w, wb.fc2_w, P + o.fc2_b, b.x1.f,
                            masks ? &masks->ffn_out[l] : nullptr, st);
    layernorm_forward_cuda(b.out.f, b.ln2_mean, b.ln2_rstd, b.res2, P + o.ln2_w, P + o.ln2_b, N, C, cfg.eps, st, b.out.b);
  }
  linear_gelu(ops, fb.head_pre, fb.head_gelu, fb.layers.back().out, N, C, C, P + L.head_w, head_w_b, P + L.head_b, st);
  layernorm_forward_cuda(fb.t.f, fb.head_mean, fb.head_rstd, fb.head_gelu.f, P + L.head_ln_w, P + L.head_ln_b, N, C,
                         cfg.eps, st, fb.t.b);
}

void CudaEncoder::State::upload_weights() {
  const size_t V = cfg.vocab, C = cfg.hidden, I = cfg.intermediate;
  CUDA_CHECK(cudaMemcpyAsync(params, host_params, layout.total * sizeof(float), cudaMemcpyHostToDevice, ctx.stream));
  f32_to_bf16_cuda(wte_b, params + layout.wte, V * C, ctx.stream);
  f32_to_bf16_cuda(head_w_b, params + layout.head_w, C * C, ctx.stream);
  for (size_t l = 0; l < cfg.layers; ++l) {
    const LayerOffsets& o = layout.layer[l];
    f32_to_bf16_cuda(layer_b[l].qkv_w, params + o.qkv_w, 3 * C * C, ctx.stream);
    f32_to_bf16_cuda(layer_b[l].attn_out_w, params + o.attn_out_w, C * C, ctx.stream);
    f32_to_bf16_cuda(layer_b[l].fc1_w, params + o.fc1_w, I * C, ctx.stream);
    f32_to_bf16_cuda(layer_b[l].fc2_w, params + o.fc2_w, C * I, ctx.stream);
  }
  ctx.synchronize();
}

void CudaEncoder::State::upload_params() {
  CUDA_CHECK(cudaMemcpyAsync(params, host_params, layout.total * sizeof(float), cudaMemcpyHostToDevice, ctx.stream));
}

CudaEncoder::State::DeviceBatch CudaEncoder::State::upload_batch(const PackedBatch& batch, Arena& a) {
  const size_t N = batch.num_ids, B = static_cast<size_t>(batch.B);
  DeviceBatch d{a.alloc_n<int32_t>(N), batch.type_ids ? a.alloc_n<int32_t>(N) : nullptr, a.alloc_n<int32_t>(B + 1)};
  int32_t* pin = ctx.pinned_in.get_n<int32_t>(2 * N + B + 1);
  std::copy(batch.ids, batch.ids + N, pin);
  std::copy(batch.cu_seqlens, batch.cu_seqlens + B + 1, pin + N);
  if (batch.type_ids) std::copy(batch.type_ids, batch.type_ids + N, pin + N + B + 1);
  CUDA_CHECK(cudaMemcpyAsync(d.ids, pin, N * 4, cudaMemcpyHostToDevice, ctx.stream));
  CUDA_CHECK(cudaMemcpyAsync(d.cu_seqlens, pin + N, (B + 1) * 4, cudaMemcpyHostToDevice, ctx.stream));
  if (d.type_ids) CUDA_CHECK(cudaMemcpyAsync(d.type_ids, pin + N + B + 1, N * 4, cudaMemcpyHostToDevice, ctx.stream));
  return d;
}

CudaEncoder::CudaEncoder(const EncoderConfig& cfg, const float* params, int device)
    : s_(std::make_unique<State>(device)) {
  State& s = *s_;
  s.cfg = cfg;
  s.layout = make_layout(cfg);
  const size_t V = cfg.vocab, C = cfg.hidden, I = cfg.intermediate;
  if (C % 8 != 0 || I % 8 != 0)
    fail(kUnsupported, "CUDA encoder: hidden (" + std::to_string(C) + ") and intermediate (" + std::to_string(I) +
                           ") sizes must be multiples of 8 for the tensor-core kernels");
  const size_t per_layer = slot(3 * C * C * 2) + slot(C * C * 2) + slot(I * C * 2) + slot(C * I * 2);
  s.ctx.weights.reserve(slot(s.layout.total * 4) + slot(V * C * 2) + slot(C * C * 2) + cfg.layers * per_layer);
  s.host_params = params;
  s.params = s.ctx.weights.alloc_n<float>(s.layout.total);
  s.wte_b = s.ctx.weights.alloc_n<bf16>(V * C);
  s.head_w_b = s.ctx.weights.alloc_n<bf16>(C * C);
  for (size_t l = 0; l < cfg.layers; ++l)
    s.layer_b.push_back({s.ctx.weights.alloc_n<bf16>(3 * C * C), s.ctx.weights.alloc_n<bf16>(C * C),
                         s.ctx.weights.alloc_n<bf16>(I * C), s.ctx.weights.alloc_n<bf16>(C * I)});
  s.upload_weights();
}

CudaEncoder::~CudaEncoder() = default;

size_t CudaEncoder::prepare(bool bf16) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  CUDA_CHECK(cudaSetDevice(s.ctx.device));
  s.upload_weights();
  s.prepared = true;
  s.prepared_bf16 = bf16;
  return s.ctx.weights.used();
}

void CudaEncoder::forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference,
                          bool packed) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  if (packed && !s.prepared) fail(kInvalidArgument, "forward: packed weights requested before prepare()");
  if (!s.begin(batch)) return;
  if (!packed) s.upload_weights();  // the arena as it is now
  const EncoderConfig& cfg = s.cfg;
  const int B = batch.B;
  cudaStream_t st = s.ctx.stream;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  const bool fast = packed && s.prepared_bf16 && !reference;  // tensor cores; a tensor only a GEMM reads in bf16 only
  const CudaOps& ops = cuda_ops(fast);

  // scratch: inputs, fp32 activations, bf16 activations, outputs
  Arena& a = s.ctx.scratch;
  a.reserve(State::batch_bytes(batch) + slot(N * C * 4) * 4 + slot(N * 3 * C * 4) + slot(N * I * 4) +
            slot(N * C * 2) * 3 + slot(N * I * 2) + slot(B * V * 4) * 2);
  const State::DeviceBatch in = s.upload_batch(batch, a);
  Act x{a.alloc_n<float>(N * C), fast ? a.alloc_n<bf16>(N * C) : nullptr};
  float* tmp = a.alloc_n<float>(N * C);
  Act att{a.alloc_n<float>(N * C), fast ? a.alloc_n<bf16>(N * C) : nullptr};
  // attention on tensor cores (fast, where the head size allows) reads a bf16 qkv, else the fp32 kernel
  const bool tc_attention = fast && attention_bf16_supported(C, cfg.heads);
  Act qkv = tc_attention ? Act{nullptr, a.alloc_n<bf16>(N * 3 * C)} : Act{a.alloc_n<float>(N * 3 * C), nullptr};
  Act h = fast ? Act{nullptr, a.alloc_n<bf16>(N * I)} : Act{a.alloc_n<float>(N * I), nullptr};
  Act t = fast ? Act{nullptr, a.alloc_n<bf16>(N * C)} : Act{a.alloc_n<float>(N * C), nullptr};
  float* d_w = a.alloc_n<float>(size_t(B) * V);
  int32_t* d_arg = argmax ? a.alloc_n<int32_t>(size_t(B) * V) : nullptr;

  // one set of buffers for every layer (in, x1, out: x; res1, res2: tmp), no statistics, GELU fused
  const CudaLayerBuffers layer{x, qkv, att, tmp, x, nullptr, h, tmp, x, nullptr, nullptr, nullptr, nullptr};
  s.encoder_forward(ops, {tmp, nullptr, nullptr, std::vector(cfg.layers, layer), nullptr, {tmp}, t}, batch, in, nullptr);
  ops.splade_pool(d_w, d_arg, t, s.params + s.layout.wte, s.wte_b, s.params + s.layout.decoder_bias, in.cu_seqlens, B,
                  C, V, pooling, st);

  // outputs through pinned memory
  float* pout = s.ctx.pinned_out.get_n<float>(size_t(B) * V * (argmax ? 2 : 1));
  CUDA_CHECK(cudaMemcpyAsync(pout, d_w, size_t(B) * V * 4, cudaMemcpyDeviceToHost, st));
  if (argmax) CUDA_CHECK(cudaMemcpyAsync(pout + size_t(B) * V, d_arg, size_t(B) * V * 4, cudaMemcpyDeviceToHost, st));
  s.ctx.synchronize();
  std::copy(pout, pout + size_t(B) * V, w);
  if (argmax) std::memcpy(argmax, pout + size_t(B) * V, size_t(B) * V * 4);
}

}  // namespace splade::cuda
