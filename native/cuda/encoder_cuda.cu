// CudaEncoder (see encoder_cuda.h). Activations carry an fp32 and/or a bf16 buffer (Act): in the fast
// path a tensor only a GEMM reads exists in bf16 only; the reference path keeps everything in fp32.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "attention.h"
#include "context.h"
#include "cuda_check.h"
#include "embed.h"
#include "encoder_cuda.h"
#include "encoder_cuda_state.cuh"
#include "gemm.h"
#include "layernorm.h"
#include "splade_pool.h"

namespace splade::cuda {

namespace {

struct Act {  // one activation tensor: fp32 and/or bf16 (null: not kept)
  float* f = nullptr;
  bf16* b = nullptr;
};

}  // namespace

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
  const ParamLayout& L = s.layout;
  const int B = batch.B;
  cudaStream_t st = s.ctx.stream;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  int max_len = 0;
  for (int b = 0; b < B; ++b) max_len = std::max(max_len, batch.cu_seqlens[b + 1] - batch.cu_seqlens[b]);
  const bool fast = packed && s.prepared_bf16 && !reference;

  // scratch: inputs, fp32 activations, bf16 activations, outputs
  Arena& a = s.ctx.scratch;
  a.reserve(State::batch_bytes(batch) + slot(N * C * 4) * 4 + slot(N * 3 * C * 4) + slot(N * I * 4) +
            slot(N * C * 2) * 3 + slot(N * I * 2) + slot(B * V * 4) * 2);
  const State::DeviceBatch in = s.upload_batch(batch, a);
  int32_t *d_ids = in.ids, *d_types = in.type_ids, *d_cu = in.cu_seqlens;
  Act x{a.alloc_n<float>(N * C), fast ? a.alloc_n<bf16>(N * C) : nullptr};
  Act tmp{a.alloc_n<float>(N * C), nullptr};
  Act att{a.alloc_n<float>(N * C), fast ? a.alloc_n<bf16>(N * C) : nullptr};
  // fast: attention on tensor cores reads a bf16 qkv where the head size allows, else the fp32 kernel
  const bool tc_attention = fast && attention_bf16_supported(C, cfg.heads);
  Act qkv = tc_attention ? Act{nullptr, a.alloc_n<bf16>(N * 3 * C)} : Act{a.alloc_n<float>(N * 3 * C), nullptr};
  Act h = fast ? Act{nullptr, a.alloc_n<bf16>(N * I)} : Act{a.alloc_n<float>(N * I), nullptr};
  Act t = fast ? Act{nullptr, a.alloc_n<bf16>(N * C)} : Act{a.alloc_n<float>(N * C), nullptr};
  float* d_w = a.alloc_n<float>(size_t(B) * V);
  int32_t* d_arg = argmax ? a.alloc_n<int32_t>(size_t(B) * V) : nullptr;

  const float* P = s.params;
  // out (M, Nout) = inp (M, K) W^T + b [+ residual] [then GELU]; W (Nout, K) at w_off, wb its bf16 copy
  auto gemm = [&](Act out, Act inp, size_t M, size_t Nout, size_t K, size_t w_off, const bf16* wb, size_t b_off,
                  const float* residual, Activation act) {
    Epilogue ep;
    ep.bias = P + b_off;
    ep.residual = residual;
    ep.ldr = residual ? Nout : 0;
    ep.activation = act;
    if (fast) {
      GemmBf16Args g;
      g.M = M; g.N = Nout; g.K = K; g.A = inp.b; g.lda = K; g.B = wb; g.ldb = K;
      g.C = out.f; g.Cb = out.b; g.ldc = Nout; g.epilogue = ep;
      gemm_bf16_cuda(g, st);
    } else {
      GemmArgs g;
      g.ta = Trans::no; g.tb = Trans::yes; g.M = M; g.N = Nout; g.K = K;
      g.A = inp.f; g.lda = K; g.B = P + w_off; g.ldb = K; g.C = out.f; g.ldc = Nout; g.epilogue = ep;
      sgemm_cuda(g, st);
    }
  };
  auto layernorm = [&](Act out, const float* inp, size_t w_off, size_t b_off) {
    layernorm_forward_cuda(out.f, nullptr, nullptr, inp, P + w_off, P + b_off, N, C, cfg.eps,
                           st, out.b);
  };

  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  embed_forward_cuda(tmp.f, d_ids, wtt ? d_types : nullptr, d_cu, B, N, P + L.wte, P + L.wpe, wtt, C, st);
  layernorm(x, tmp.f, L.emb_ln_w, L.emb_ln_b);
  for (size_t l = 0; l < cfg.layers; ++l) {
    const LayerOffsets& o = L.layer[l];
    const LayerBf16& wb = s.layer_b[l];
    gemm(qkv, x, N, 3 * C, C, o.qkv_w, wb.qkv_w, o.qkv_b, nullptr, Activation::none);
    if (tc_attention) {
      attention_forward_bf16_cuda(att.b, nullptr, qkv.b, d_cu, B, C, cfg.heads, max_len, st);
    } else {
      attention_forward_cuda(att.f, qkv.f, d_cu, B, C, cfg.heads, N, max_len, st);
      if (fast) f32_to_bf16_cuda(att.b, att.f, N * C, st);
    }
    gemm(tmp, att, N, C, C, o.attn_out_w, wb.attn_out_w, o.attn_out_b, x.f, Activation::none);
    layernorm(x, tmp.f, o.ln1_w, o.ln1_b);
    gemm(h, x, N, I, C, o.fc1_w, wb.fc1_w, o.fc1_b, nullptr, Activation::gelu);
    gemm(tmp, h, N, C, I, o.fc2_w, wb.fc2_w, o.fc2_b, x.f, Activation::none);
    layernorm(x, tmp.f, o.ln2_w, o.ln2_b);
  }
  gemm(tmp, x, N, C, C, L.head_w, s.head_w_b, L.head_b, nullptr, Activation::gelu);
  layernorm(t, tmp.f, L.head_ln_w, L.head_ln_b);
  if (fast)
    splade_pool_forward_bf16_cuda(d_w, d_arg, t.b, s.wte_b, P + L.decoder_bias, d_cu, B, C, V, pooling, st);
  else
    splade_pool_forward_cuda(d_w, d_arg, t.f, P + L.wte, P + L.decoder_bias, d_cu, B, C, V, pooling, st);

  // outputs through pinned memory
  float* pout = s.ctx.pinned_out.get_n<float>(size_t(B) * V * (argmax ? 2 : 1));
  CUDA_CHECK(cudaMemcpyAsync(pout, d_w, size_t(B) * V * 4, cudaMemcpyDeviceToHost, st));
  if (argmax) CUDA_CHECK(cudaMemcpyAsync(pout + size_t(B) * V, d_arg, size_t(B) * V * 4, cudaMemcpyDeviceToHost, st));
  s.ctx.synchronize();
  std::copy(pout, pout + size_t(B) * V, w);
  if (argmax) std::memcpy(argmax, pout + size_t(B) * V, size_t(B) * V * 4);
}

}  // namespace splade::cuda
