// CudaEncoder::gradients (see encoder_cuda.h): the training forward keeping every activation on the device,
// then the backward in reverse, as model/encoder_train.cpp does on the CPU, with the fp32 kernels
// (sgemm_cuda for every product). Gradients accumulate into a zeroed device arena, which is then added
// to the caller's host buffer.
#include <algorithm>
#include <vector>

#include "attention.h"
#include "cuda_check.h"
#include "embed.h"
#include "encoder_cuda_state.cuh"
#include "gelu.h"
#include "gemm.h"
#include "layernorm.h"
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

// out (M,Nout) = inp (M,K) W^T + b [+ residual]
void linear_forward(cudaStream_t st, float* out, const float* inp, const float* W, const float* b, size_t M,
                    size_t Nout, size_t K, const float* residual = nullptr) {
  Epilogue ep;
  ep.bias = b;
  ep.residual = residual;
  ep.ldr = residual ? Nout : 0;
  gemm(st, Trans::no, Trans::yes, M, Nout, K, inp, K, W, K, 0.0f, out, Nout, ep);
}

// dinp (M,K) += dout W; dW (Nout,K) += dout^T inp; db (Nout) += column sums of dout (M,Nout)
void linear_backward(cudaStream_t st, float* dinp, float* dW, float* db, const float* dout, const float* inp,
                     const float* W, size_t M, size_t Nout, size_t K) {
  gemm(st, Trans::no, Trans::no, M, K, Nout, dout, Nout, W, K, 1.0f, dinp, K);
  gemm(st, Trans::yes, Trans::no, Nout, K, M, dout, Nout, inp, K, 1.0f, dW, K);
  bias_backward_cuda(db, dout, M, Nout, st);
}

struct LayerActs {
  float *in, *qkv, *att, *res1, *x1, *fc1, *gelu, *res2;  // (N,C) (N,3C) (N,C) (N,C) (N,C) (N,I) (N,I) (N,C)
  float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd;       // (N)
};

}  // namespace

void CudaEncoder::gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  if (!s.begin(batch)) return;
  s.upload_weights();  // the arena changes between steps (the optimizer)
  const EncoderConfig& cfg = s.cfg;
  const ParamLayout& L = s.layout;
  const int B = batch.B;
  cudaStream_t st = s.ctx.stream;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate, V = cfg.vocab;
  const size_t NL = cfg.layers, BV = static_cast<size_t>(B) * V;
  int max_len = 0;
  for (int b = 0; b < B; ++b) max_len = std::max(max_len, batch.cu_seqlens[b + 1] - batch.cu_seqlens[b]);

  // scratch: batch, activations, gradients, temporaries (each slot rounded up: + 256 bytes per allocation)
  const size_t floats = NL * (N * (8 * C + 2 * I) + 4 * N) + N * (5 * C + 4) + 2 * BV + L.total +
                        N * (8 * C + 2 * I + 3 * C) + N * std::min(V, kPoolTile) + attention_backward_scratch(N, cfg.heads);
  Arena& a = s.ctx.scratch;
  a.reserve(State::batch_bytes(batch) + floats * 4 + BV * 4 + 256 * (64 + 16 * NL));
  const State::DeviceBatch in = s.upload_batch(batch, a);
  auto f = [&](size_t n) { return a.alloc_n<float>(n); };
  const float* P = s.params;
  const float* wtt = L.wtt == SIZE_MAX ? nullptr : P + L.wtt;
  const int32_t* type_ids = wtt ? in.type_ids : nullptr;

  // ---- forward, keeping what backward needs ----
  float *emb = f(N * C), *emb_mean = f(N), *emb_rstd = f(N), *x = f(N * C);
  embed_forward_cuda(emb, in.ids, type_ids, in.cu_seqlens, B, N, P + L.wte, P + L.wpe, wtt, C, st);
  layernorm_forward_cuda(x, emb_mean, emb_rstd, emb, P + L.emb_ln_w, P + L.emb_ln_b, N, C, cfg.eps, st);
  std::vector<LayerActs> acts(NL);
  const float* cur = x;
  for (size_t l = 0; l < NL; ++l) {
    const LayerOffsets& o = L.layer[l];
    LayerActs& A = acts[l];
    A = {const_cast<float*>(cur), f(N * 3 * C), f(N * C), f(N * C), f(N * C), f(N * I), f(N * I), f(N * C),
         f(N), f(N), f(N), f(N)};
    float* out = f(N * C);  // this layer's output: the next layer's input
    linear_forward(st, A.qkv, A.in, P + o.qkv_w, P + o.qkv_b, N, 3 * C, C);
    attention_forward_cuda(A.att, A.qkv, in.cu_seqlens, B, C, cfg.heads, N, max_len, st);
    linear_forward(st, A.res1, A.att, P + o.attn_out_w, P + o.attn_out_b, N, C, C, A.in);
    layernorm_forward_cuda(A.x1, A.ln1_mean, A.ln1_rstd, A.res1, P + o.ln1_w, P + o.ln1_b, N, C, cfg.eps, st);
    linear_forward(st, A.fc1, A.x1, P + o.fc1_w, P + o.fc1_b, N, I, C);
    gelu_forward_cuda(A.gelu, A.fc1, N * I, st);
    linear_forward(st, A.res2, A.gelu, P + o.fc2_w, P + o.fc2_b, N, C, I, A.x1);
    layernorm_forward_cuda(out, A.ln2_mean, A.ln2_rstd, A.res2, P + o.ln2_w, P + o.ln2_b, N, C, cfg.eps, st);
    cur = out;
  }
  const float* head_in = cur;
  float *head_pre = f(N * C), *head_gelu = f(N * C), *t = f(N * C), *head_mean = f(N), *head_rstd = f(N);
  linear_forward(st, head_pre, head_in, P + L.head_w, P + L.head_b, N, C, C);
  gelu_forward_cuda(head_gelu, head_pre, N * C, st);
  layernorm_forward_cuda(t, head_mean, head_rstd, head_gelu, P + L.head_ln_w, P + L.head_ln_b, N, C, cfg.eps, st);
  float* d_w = f(BV);
  int32_t* d_arg = a.alloc_n<int32_t>(BV);
  splade_pool_forward_cuda(d_w, d_arg, t, P + L.wte, P + L.decoder_bias, in.cu_seqlens, B, C, V, pooling, st);

  // ---- backward ----
  float *G = f(L.total), *d_dw = f(BV);
  CUDA_CHECK(cudaMemsetAsync(G, 0, L.total * 4, st));
  CUDA_CHECK(cudaMemcpyAsync(d_dw, dw, BV * 4, cudaMemcpyHostToDevice, st));
  float *dt = f(N * C), *dg = f(N * C), *dpre = f(N * C), *dx = f(N * C), *dres = f(N * C), *dx1 = f(N * C);
  float *datt = f(N * C), *demb = f(N * C), *dh = f(N * I), *dfc1 = f(N * I), *dqkv = f(N * 3 * C);
  const size_t tile = std::min(V, kPoolTile);
  float *pool_scratch = f(N * tile), *att_scratch = f(attention_backward_scratch(N, cfg.heads));
  auto zero = [&](float* p, size_t n) { CUDA_CHECK(cudaMemsetAsync(p, 0, n * 4, st)); };
  auto layernorm_bw = [&](float* dinp, size_t w_off, size_t b_off, const float* dout, const float* inp,
                          const float* mean, const float* rstd) {
    zero(dinp, N * C);
    layernorm_backward_cuda(dinp, G + w_off, G + b_off, dout, inp, P + w_off, mean, rstd, N, C, st);
  };
  zero(dt, N * C);
  splade_pool_backward_cuda(dt, G + L.wte, G + L.decoder_bias, d_dw, t, P + L.wte, P + L.decoder_bias, d_arg,
                            in.cu_seqlens, B, N, C, V, pooling, pool_scratch, N * tile, st);
  layernorm_bw(dg, L.head_ln_w, L.head_ln_b, dt, head_gelu, head_mean, head_rstd);
  zero(dpre, N * C);
  gelu_backward_cuda(dpre, head_pre, dg, N * C, st);
  zero(dx, N * C);
  linear_backward(st, dx, G + L.head_w, G + L.head_b, dpre, head_in, P + L.head_w, N, C, C);
  for (size_t l = NL; l-- > 0;) {
    const LayerOffsets& o = L.layer[l];
    const LayerActs& A = acts[l];
    layernorm_bw(dres, o.ln2_w, o.ln2_b, dx, A.res2, A.ln2_mean, A.ln2_rstd);
    CUDA_CHECK(cudaMemcpyAsync(dx1, dres, N * C * 4, cudaMemcpyDeviceToDevice, st));  // res2 = fc2(gelu) + x1
    zero(dh, N * I);
    linear_backward(st, dh, G + o.fc2_w, G + o.fc2_b, dres, A.gelu, P + o.fc2_w, N, C, I);
    zero(dfc1, N * I);
    gelu_backward_cuda(dfc1, A.fc1, dh, N * I, st);
    linear_backward(st, dx1, G + o.fc1_w, G + o.fc1_b, dfc1, A.x1, P + o.fc1_w, N, I, C);
    layernorm_bw(dres, o.ln1_w, o.ln1_b, dx1, A.res1, A.ln1_mean, A.ln1_rstd);
    CUDA_CHECK(cudaMemcpyAsync(dx, dres, N * C * 4, cudaMemcpyDeviceToDevice, st));  // res1 = out_proj(att) + in
    zero(datt, N * C);
    linear_backward(st, datt, G + o.attn_out_w, G + o.attn_out_b, dres, A.att, P + o.attn_out_w, N, C, C);
    zero(dqkv, N * 3 * C);
    attention_backward_cuda(dqkv, datt, A.qkv, in.cu_seqlens, B, C, cfg.heads, N, att_scratch, st);
    linear_backward(st, dx, G + o.qkv_w, G + o.qkv_b, dqkv, A.in, P + o.qkv_w, N, 3 * C, C);
  }
  layernorm_bw(demb, L.emb_ln_w, L.emb_ln_b, dx, emb, emb_mean, emb_rstd);
  embed_backward_cuda(G + L.wte, G + L.wpe, wtt ? G + L.wtt : nullptr, demb, in.ids, type_ids, in.cu_seqlens, B, N, C, st);

  // ---- results to the host: w, and grads += G ----
  float* pin = s.ctx.pinned_out.get_n<float>(std::max(BV, L.total));
  CUDA_CHECK(cudaMemcpyAsync(pin, d_w, BV * 4, cudaMemcpyDeviceToHost, st));
  s.ctx.synchronize();
  std::copy(pin, pin + BV, w);
  CUDA_CHECK(cudaMemcpyAsync(pin, G, L.total * 4, cudaMemcpyDeviceToHost, st));
  s.ctx.synchronize();
  for (size_t i = 0; i < L.total; ++i) grads[i] += pin[i];
}

}  // namespace splade::cuda
