// One transformer layer's forward; see encoder_layer.h.
#include "encoder_layer.h"

#include "../common/thread_pool.h"

namespace splade {
namespace {

// out (N,Nout) = drop(inp W^T + b) + residual: the GEMM's fused residual when no mask is active.
void linear_dropout_residual(const CpuOps& ops, float* out, const float* inp, const float* W, const float* b, size_t N,
                             size_t Nout, size_t K, const float* residual, const DropoutMask* m, const Bf16Weight* w16,
                             const PackedMatrix* w32, const I8Weight* w8) {
  if (!m || !m->active) return linear_forward(ops, out, inp, W, b, N, Nout, K, residual, Activation::none, w16, w32, w8);
  linear_forward(ops, out, inp, W, b, N, Nout, K);
  parallel_range(N * Nout, [&](size_t i0, size_t i1, int) {
    for (size_t i = i0; i < i1; ++i) out[i] = out[i] * m->factor(i) + residual[i];
  });
}

}  // namespace

void encoder_layer_forward(const CpuOps& ops, const LayerBuffers& b, const EncoderConfig& cfg, const ParamLayout& L,
                           size_t l, const float* P, const PackedBatch& batch, const LayerMasks* masks,
                           const EncoderPacked* packed, OpTimer* timer) {
  const int B = batch.B;
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]), C = cfg.hidden, I = cfg.intermediate;
  const LayerOffsets& o = L.layer[l];
  const bool bf16 = packed && packed->precision == Precision::bf16;
  const bool int8 = packed && packed->precision == Precision::int8;
  const bool f32_packed = packed && packed->head32.get();
  auto w16 = [&](const std::vector<Bf16Weight>& v) { return bf16 ? &v[l] : nullptr; };
  auto w32 = [&](const std::vector<PackedMatrix>& v) { return f32_packed ? &v[l] : nullptr; };
  auto w8 = [&](const std::vector<I8Weight>& v) { return int8 ? &v[l] : nullptr; };
  auto lap = [&](int op) {
    if (timer) timer->lap(op);
  };
  linear_forward(ops, b.qkv, b.in, P + o.qkv_w, P + o.qkv_b, N, 3 * C, C, nullptr, Activation::none,
                 packed ? w16(packed->qkv) : nullptr, packed ? w32(packed->qkv32) : nullptr,
                 packed ? w8(packed->qkv8) : nullptr);
  lap(kGemm);
  if (masks) ops.attention_train_forward(b.att, b.qkv, batch.cu_seqlens, B, C, cfg.heads, masks->probs);
  else ops.attention_forward(b.att, b.qkv, batch.cu_seqlens, B, C, cfg.heads);
  lap(kAttention);
  linear_dropout_residual(ops, b.res1, b.att, P + o.attn_out_w, P + o.attn_out_b, N, C, C, b.in, masks ? &masks->attn_out : nullptr,
                          packed ? w16(packed->attn_out) : nullptr, packed ? w32(packed->attn_out32) : nullptr,
                          packed ? w8(packed->attn_out8) : nullptr);
  lap(kGemm);
  ops.layernorm_forward(b.x1, b.ln1_mean, b.ln1_rstd, b.res1, P + o.ln1_w, P + o.ln1_b, N, C, cfg.eps);
  lap(kLayerNorm);
  if (b.fc1) {
    linear_forward(ops, b.fc1, b.x1, P + o.fc1_w, P + o.fc1_b, N, I, C);
    ops.gelu_forward(b.gelu, b.fc1, N * I);
  } else {
    linear_forward(ops, b.gelu, b.x1, P + o.fc1_w, P + o.fc1_b, N, I, C, nullptr, Activation::gelu,
                   packed ? w16(packed->fc1) : nullptr, packed ? w32(packed->fc1_32) : nullptr,
                   packed ? w8(packed->fc1_8) : nullptr);
  }
  linear_dropout_residual(ops, b.res2, b.gelu, P + o.fc2_w, P + o.fc2_b, N, C, I, b.x1, masks ? &masks->ffn_out : nullptr,
                          packed ? w16(packed->fc2) : nullptr, packed ? w32(packed->fc2_32) : nullptr,
                          packed ? w8(packed->fc2_8) : nullptr);
  lap(kGemm);
  ops.layernorm_forward(b.out, b.ln2_mean, b.ln2_rstd, b.res2, P + o.ln2_w, P + o.ln2_b, N, C, cfg.eps);
  lap(kLayerNorm);
}

}  // namespace splade
