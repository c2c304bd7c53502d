// The training forward and backward on the device (see encoder_cuda.h), as model/encoder_train.cpp on the
// CPU. hidden_forward runs the forward schedule (encoder_cuda.cu) on the fp32 table with dropout (the CPU's
// masks, made on the device from the seed) into buffers of its own, so queries and documents can both wait
// for their backward. The backward (sgemm_cuda for every product; temporaries in the scratch arena) adds
// into a device gradient arena: the Trainer's (encoder_cuda_optim.cu), or gradients()'s, then copied out.
#include <algorithm>
#include <string>
#include <vector>

#include "../cpu/splade_head_train.h"  // count_labels
#include "attention.h"
#include "cuda_check.h"
#include "dropout.h"
#include "embed.h"
#include "encoder_cuda_state.cuh"
#include "gelu.h"
#include "gemm.h"
#include "layernorm.h"
#include "mlm_head.h"
#include "splade_pool.h"

namespace splade::cuda {
namespace {

constexpr size_t kPoolTile = 2048;  // vocabulary terms per tile of the pooling backward

// C (+)= op(A) op(B) (beta 0: overwrite, 1: accumulate) with an optional epilogue
void gemm(cudaStream_t st, Trans ta, Trans tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
          const float* B, size_t ldb, float beta, float* C, size_t ldc, const Epilogue& ep = {}) {
  GemmArgs g;
  g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.A = A; g.lda = lda; g.B = B; g.ldb = ldb;
  g.beta = beta; g.C = C; g.ldc = ldc; g.epilogue = ep;
  sgemm_cuda(g, st);
}

// dinp (M,K) += dout W; dW (Nout,K) += dout^T inp; db (Nout) += column sums of dout (M,Nout)
void linear_backward(cudaStream_t st, float* dinp, float* dW, float* db, const float* dout, const float* inp,
                     const float* W, size_t M, size_t Nout, size_t K) {
  gemm(st, Trans::no, Trans::no, M, K, Nout, dout, Nout, W, K, 1.0f, dinp, K);
  gemm(st, Trans::yes, Trans::no, Nout, K, M, dout, Nout, inp, K, 1.0f, dW, K);
  bias_backward_cuda(db, dout, M, Nout, st);
}

}  // namespace

// One batch's forward state: the batch and every activation the backward reads (the forward's buffers), in mem.
struct CudaTrainActivations : CudaForwardBuffers {
  Arena mem;
  const void* owner = nullptr;                // the CudaEncoder::State whose parameters made them
  int B = 0;
  size_t N = 0;
  Pooling pooling = Pooling::max;
  TrainDropout drop;                          // the masks' probability and seed, for the backward
  bool consumed = false;                      // train_backward ran (or started): mem is gone
  int32_t *ids = nullptr, *type_ids = nullptr, *cu_seqlens = nullptr;  // (N) (N or null) (B+1)
  int32_t* argmax = nullptr;                                            // (B,V): max pooling's argmax
};

std::shared_ptr<CudaTrainActivations> CudaEncoder::State::hidden_forward(const PackedBatch& batch, const TrainDropout& drop,
                                                                         bool splade_head) {
  const int B = batch.B;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  const size_t NL = cfg.layers, BV = static_cast<size_t>(B) * V;
  auto acts = std::make_shared<CudaTrainActivations>();
  CudaTrainActivations& A = *acts;
  A.owner = this; A.B = B; A.N = N; A.drop = drop;
  const EncoderDropoutMasks masks(cfg, drop);
  // the batch, the activations (per layer 8 (N,C) + 2 (N,I) + 4 (N)), the head's, and for the SPLADE head w
  // and argmax (B,V); each allocation rounded up to 256 bytes: at most 256 bytes more per allocation (14 per
  // layer, 16 others)
  const size_t floats = NL * N * (8 * C + 2 * I + 4) + N * (5 * C + 4) + (splade_head ? 2 * BV : 0);
  A.mem.reserve(State::batch_bytes(batch) + floats * 4 + 256 * (16 + 14 * NL));
  const State::DeviceBatch in = upload_batch(batch, A.mem);
  A.ids = in.ids;
  A.cu_seqlens = in.cu_seqlens;
  A.type_ids = layout.wtt == SIZE_MAX ? nullptr : in.type_ids;
  auto f = [&](size_t n) { return A.mem.alloc_n<float>(n); };
  A.emb = f(N * C); A.emb_mean = f(N); A.emb_rstd = f(N);
  Act x{f(N * C)};  // each layer's input: the embeddings' output, then the previous layer's
  for (size_t l = 0; l < NL; ++l) {
    A.layers.push_back({x, {f(N * 3 * C)}, {f(N * C)}, f(N * C), {f(N * C)}, f(N * I), {f(N * I)}, f(N * C), {f(N * C)},
                        f(N), f(N), f(N), f(N)});
    x = A.layers.back().out;
  }
  A.head_pre = f(N * C); A.head_gelu = {f(N * C)}; A.t = {f(N * C)};
  A.head_mean = f(N); A.head_rstd = f(N);
  encoder_forward(cuda_ops(false), A, batch, in, &masks);
  return acts;
}

std::shared_ptr<CudaTrainActivations> CudaEncoder::State::train_forward(float* w, const PackedBatch& batch,
                                                                        Pooling pooling, const TrainDropout& drop) {
  std::shared_ptr<CudaTrainActivations> acts = hidden_forward(batch, drop, true);
  CudaTrainActivations& A = *acts;
  const int B = batch.B;
  const size_t C = cfg.hidden, V = cfg.vocab, BV = static_cast<size_t>(B) * V;
  cudaStream_t st = ctx.stream;
  A.pooling = pooling;
  float* d_w = A.mem.alloc_n<float>(BV);
  A.argmax = A.mem.alloc_n<int32_t>(BV);
  cuda_ops(false).splade_pool(d_w, A.argmax, A.t, params + layout.wte, wte_b, params + layout.decoder_bias,
                                     A.cu_seqlens, B, C, V, pooling, st);

  float* pin = ctx.pinned_out.get_n<float>(BV);
  CUDA_CHECK(cudaMemcpyAsync(pin, d_w, BV * 4, cudaMemcpyDeviceToHost, st));
  ctx.synchronize();
  std::copy(pin, pin + BV, w);
  return acts;
}

void CudaEncoder::State::train_backward(CudaTrainActivations& A, const float* dw, float* G) {
  if (A.consumed) fail(kInvalidArgument, "train_backward: these activations were already used by a backward");
  if (!A.argmax) fail(kInternal, "train_backward: activations without the SPLADE head");
  A.consumed = true;
  const ParamLayout& L = layout;
  const int B = A.B;
  const size_t N = A.N, C = cfg.hidden, V = cfg.vocab, BV = static_cast<size_t>(B) * V;
  cudaStream_t st = ctx.stream;
  const size_t tile = std::min(V, kPoolTile);
  // scratch: dw, dt, the pooling's, then hidden_backward's
  Arena& a = ctx.scratch;
  a.reserve((BV + N * C + N * tile) * 4 + 256 * 4 + hidden_backward_bytes(N));
  float* d_dw = a.alloc_n<float>(BV);
  CUDA_CHECK(cudaMemcpyAsync(d_dw, dw, BV * 4, cudaMemcpyHostToDevice, st));
  float *dt = a.alloc_n<float>(N * C), *pool_scratch = a.alloc_n<float>(N * tile);
  CUDA_CHECK(cudaMemsetAsync(dt, 0, N * C * 4, st));
  splade_pool_backward_cuda(dt, G + L.wte, G + L.decoder_bias, d_dw, A.t.f, params + L.wte, params + L.decoder_bias,
                            A.argmax, A.cu_seqlens, B, N, C, V, A.pooling, pool_scratch, N * tile, st);
  hidden_backward(A, dt, G, a);
}

size_t CudaEncoder::State::hidden_backward_bytes(size_t N) const {
  // 7 (N,C) + (N,3C) + 2 (N,I) and the attention's scratch: 11 allocations, each rounded up to 256 bytes
  return (N * (10 * cfg.hidden + 2 * cfg.intermediate) + attention_backward_scratch(N, cfg.heads)) * 4 + 256 * 11;
}

void CudaEncoder::State::hidden_backward(CudaTrainActivations& A, const float* dt, float* G, Arena& a) {
  const ParamLayout& L = layout;
  const int B = A.B;
  const size_t N = A.N, C = cfg.hidden, I = cfg.intermediate, NL = cfg.layers;
  cudaStream_t st = ctx.stream;
  const float* P = params;
  const EncoderDropoutMasks masks(cfg, A.drop);
  auto f = [&](size_t n) { return a.alloc_n<float>(n); };
  float *dg = f(N * C), *dpre = f(N * C), *dx = f(N * C), *dres = f(N * C), *dx1 = f(N * C);
  float *datt = f(N * C), *demb = f(N * C), *dh = f(N * I), *dfc1 = f(N * I), *dqkv = f(N * 3 * C);
  float* att_scratch = f(attention_backward_scratch(N, cfg.heads));
  auto zero = [&](float* p, size_t n) { CUDA_CHECK(cudaMemsetAsync(p, 0, n * 4, st)); };
  auto layernorm_bw = [&](float* dinp, size_t w_off, size_t b_off, const float* dout, const float* inp,
                          const float* mean, const float* rstd) {
    zero(dinp, N * C);
    layernorm_backward_cuda(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C, st);
  };
  layernorm_bw(dg, L.head_ln_w, L.head_ln_b, dt, A.head_gelu.f, A.head_mean, A.head_rstd);
  zero(dpre, N * C);
  gelu_backward_cuda(dpre, A.head_pre, dg, N * C, st);
  zero(dx, N * C);
  linear_backward(st, dx, G + L.head_w, G + L.head_b, dpre, A.layers.back().out.f, P + L.head_w, N, C, C);
  for (size_t l = NL; l-- > 0;) {
    const LayerOffsets& o = L.layer[l];
    const CudaLayerBuffers& La = A.layers[l];
    layernorm_bw(dres, o.ln2_w, o.ln2_b, dx, La.res2, La.ln2_mean, La.ln2_rstd);
    CUDA_CHECK(cudaMemcpyAsync(dx1, dres, N * C * 4, cudaMemcpyDeviceToDevice, st));  // res2 = drop(fc2(gelu)) + x1
    dropout_apply_cuda(dres, N * C, masks.ffn_out[l], 0, st);
    zero(dh, N * I);
    linear_backward(st, dh, G + o.fc2_w, G + o.fc2_b, dres, La.gelu.f, P + o.fc2_w, N, C, I);
    zero(dfc1, N * I);
    gelu_backward_cuda(dfc1, La.fc1, dh, N * I, st);
    linear_backward(st, dx1, G + o.fc1_w, G + o.fc1_b, dfc1, La.x1.f, P + o.fc1_w, N, I, C);
    layernorm_bw(dres, o.ln1_w, o.ln1_b, dx1, La.res1, La.ln1_mean, La.ln1_rstd);
    CUDA_CHECK(cudaMemcpyAsync(dx, dres, N * C * 4, cudaMemcpyDeviceToDevice, st));  // res1 = drop(out_proj(att)) + in
    dropout_apply_cuda(dres, N * C, masks.attn_out[l], 0, st);
    zero(datt, N * C);
    linear_backward(st, datt, G + o.attn_out_w, G + o.attn_out_b, dres, La.att.f, P + o.attn_out_w, N, C, C);
    zero(dqkv, N * 3 * C);
    attention_backward_cuda(dqkv, datt, La.qkv.f, A.cu_seqlens, B, C, cfg.heads, N, att_scratch, st, masks.probs[l]);
    linear_backward(st, dx, G + o.qkv_w, G + o.qkv_b, dqkv, La.in.f, P + o.qkv_w, N, 3 * C, C);
  }
  dropout_apply_cuda(dx, N * C, masks.emb, 0, st);
  layernorm_bw(demb, L.emb_ln_w, L.emb_ln_b, dx, A.emb, A.emb_mean, A.emb_rstd);
  // the token-type table (BERT) gets its gradient with or without type ids (none: every token is type 0)
  float* G_wtt = L.wtt == SIZE_MAX ? nullptr : G + L.wtt;
  embed_backward_cuda(G + L.wte, G + L.wpe, G_wtt, demb, A.ids, A.type_ids, A.cu_seqlens, B, N, C, st);
  ctx.synchronize();  // before the activations go, and so that a kernel's failure is this call's
  A.mem.release();
}

void CudaEncoder::gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  if (!s.begin(batch)) return;
  s.upload_weights();  // the arena changes between steps (the optimizer)
  const size_t total = s.layout.total;
  std::shared_ptr<CudaTrainActivations> acts = s.train_forward(w, batch, pooling, TrainDropout{});
  s.grads_tmp.reserve(total * 4);
  float* G = s.grads_tmp.alloc_n<float>(total);
  CUDA_CHECK(cudaMemsetAsync(G, 0, total * 4, s.ctx.stream));
  s.train_backward(*acts, dw, G);
  float* pin = s.ctx.pinned_out.get_n<float>(total);
  CUDA_CHECK(cudaMemcpyAsync(pin, G, total * 4, cudaMemcpyDeviceToHost, s.ctx.stream));
  s.ctx.synchronize();
  for (size_t i = 0; i < total; ++i) grads[i] += pin[i];
}

std::shared_ptr<CudaTrainActivations> CudaEncoder::train_forward(float* w, const PackedBatch& batch, Pooling pooling,
                                                                 bool upload, const TrainDropout& drop) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  validate_batch(s.cfg, batch);
  if (batch.B == 0) fail(kInvalidArgument, "train_forward: an empty batch");
  CUDA_CHECK(cudaSetDevice(s.ctx.device));
  if (!(drop.p >= 0.0f && drop.p < 1.0f)) fail(kInvalidArgument, "train_forward: dropout must be in [0, 1)");
  if (upload) s.upload_params();
  return s.train_forward(w, batch, pooling, drop);
}

void CudaEncoder::train_backward(CudaTrainActivations& acts, const float* dw, size_t dw_count) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  if (acts.owner != &s) fail(kInvalidArgument, "train_backward: activations of another CUDA encoder");
  if (dw_count != static_cast<size_t>(acts.B) * s.cfg.vocab)
    fail(kInvalidArgument, "train_backward: expected dw to hold B * vocab = " +
                               std::to_string(static_cast<size_t>(acts.B) * s.cfg.vocab) + " floats");
  s.for_training();
  s.train_backward(acts, dw, s.grads);
}

double CudaEncoder::mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool upload, const TrainDropout& drop,
                                  size_t* count) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  validate_batch(s.cfg, batch);
  if (batch.B == 0) fail(kInvalidArgument, "mlm_gradients: an empty batch");
  if (!(drop.p >= 0.0f && drop.p < 1.0f)) fail(kInvalidArgument, "mlm_gradients: dropout must be in [0, 1)");
  const ParamLayout& L = s.layout;
  const size_t N = batch.num_ids, C = s.cfg.hidden, V = s.cfg.vocab;
  const size_t labelled = count_labels(labels, N, V);
  if (count) *count = labelled;
  std::vector<int32_t> rows, row_labels;  // the labelled rows and their labels
  for (size_t n = 0; n < N; ++n) {
    if (labels[n] == -1) continue;
    rows.push_back(static_cast<int32_t>(n));
    row_labels.push_back(labels[n]);
  }
  s.for_training();
  if (upload) s.upload_params();
  if (rows.empty()) return 0.0;  // as the CPU: no loss, no gradient
  std::shared_ptr<CudaTrainActivations> acts = s.hidden_forward(batch, drop, false);
  Arena& a = s.ctx.scratch;
  a.reserve(N * C * 4 + 256 + s.hidden_backward_bytes(N));
  float* dt = a.alloc_n<float>(N * C);
  CUDA_CHECK(cudaMemsetAsync(dt, 0, N * C * 4, s.ctx.stream));
  const double loss = mlm_head_forward_backward_cuda(dt, s.grads + L.wte, s.grads + L.decoder_bias, acts->t.f,
                                                     s.params + L.wte, s.params + L.decoder_bias, rows.data(),
                                                     row_labels.data(), rows.size(), N, C, V, s.ctx.stream);
  acts->consumed = true;
  s.hidden_backward(*acts, dt, s.grads, a);
  return loss;
}

}  // namespace splade::cuda
