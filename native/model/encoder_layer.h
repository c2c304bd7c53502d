// One transformer layer's forward: the layer schedule every CPU pass runs, the inference forward
// (encoder.cpp) and the training forward (encoder_train.cpp) alike: fused QKV GEMM, unpadded attention,
// output GEMM + residual, LayerNorm, FFN GEMM + GELU, FFN GEMM + residual, LayerNorm. What differs is
// where it writes (LayerBuffers), whether dropout runs (LayerMasks) and the weights' packed copies.
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "../cpu/dropout.h"
#include "cpu_ops.h"
#include "encoder.h"

namespace splade {

// SPLADE_PROFILE=1: milliseconds per op family of each inference forward, on stderr (for tuning).
struct OpTimer {
  const bool on = std::getenv("SPLADE_PROFILE") != nullptr;
  double ms[6] = {};
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  void lap(int op) {
    if (!on) return;
    const auto now = std::chrono::steady_clock::now();
    ms[op] += std::chrono::duration<double, std::milli>(now - t).count();
    t = now;
  }
  void report(size_t N) const {
    if (on)
      std::fprintf(stderr, "splade profile: %zu tokens: gemm %.1f ms, attention %.1f, layernorm %.1f, embed %.1f, decoder+pool %.1f\n",
                   N, ms[0], ms[1], ms[2], ms[3], ms[4]);
  }
};
enum { kGemm = 0, kAttention = 1, kLayerNorm = 2, kEmbed = 3, kDecoder = 4 };

// Where one layer reads and writes: the inference forward's workspace (in, x1 and out may be one buffer,
// each read before the next write; no statistics), or the training forward's saved tensors.
struct LayerBuffers {
  const float* in;                 // (N,C)
  float *qkv, *att, *res1, *x1;    // (N,3C) (N,C) (N,C) (N,C)
  float* fc1;                      // (N,I) the FFN pre-activation, kept for backward; null: GELU fused into the GEMM
  float *gelu, *res2, *out;        // (N,I) (N,C) (N,C)
  float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd;  // (N) each, or null
};

// The training forward's dropout masks of one layer (BERT's sites; inactive where p is 0).
struct LayerMasks {
  const DropoutMask &probs, &attn_out, &ffn_out;
};

// Layer l of the encoder: masks null for the inference forward; packed (inference only) selects the
// prepared weights as encoder_splade_forward does; timer (inference only) times each op family.
void encoder_layer_forward(const CpuOps& ops, const LayerBuffers& b, const EncoderConfig& cfg, const ParamLayout& L,
                           size_t l, const float* P, const PackedBatch& batch, const LayerMasks* masks,
                           const EncoderPacked* packed, OpTimer* timer);

}  // namespace splade
