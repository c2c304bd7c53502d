// The SPLADE encoder forward on one GPU (the CUDA twin of encoder_splade_forward in model/encoder.h):
// embeddings -> L x [QKV GEMM, unpadded attention, output GEMM + bias + residual, LayerNorm, FFN GEMM +
// GELU, FFN GEMM + residual, LayerNorm] -> MLM transform -> tied decoder fused with SPLADE pooling.
// The device holds a copy of the parameter arena (and bf16 copies of the GEMM weights), made at
// construction and again by prepare() (the caller's protocol, as for the CPU encoder: prepare after
// the arena changes), by every forward on the arena (packed = false) and by every gradients() call.
//   bf16 (prepare(true), packed forward, reference = false): GEMMs, the head and (head size 32 or 64)
//     attention on tensor cores (bf16 inputs, fp32 accumulation, softmax and epilogues); LayerNorm and
//     residual sums in fp32.
//   fp32 (prepare(false), or reference = true, or packed = false): every op on the fp32 kernels
//     (sgemm_cuda, splade_pool_forward_cuda), to compare with the CPU at fp32 tolerances.
// Host-facing header: no CUDA types, so the binding compiles without the CUDA headers.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>

#include "../model/encoder.h"

namespace splade::cuda {

class CudaEncoder {
 public:
  // params: layout.total floats (host). SpladeError: no device (ERR_SPLADE_UNSUPPORTED), sizes the
  // kernels cannot take (hidden or intermediate not a multiple of 8), out of device memory.
  CudaEncoder(const EncoderConfig& cfg, const float* params, int device = 0);
  ~CudaEncoder();
  // Copies the arena (as it is now) to the device for the packed forwards, which then run in bf16 or
  // fp32; returns the device bytes the weights hold.
  size_t prepare(bool bf16);
  // w (B,V) and argmax (B,V) or null: host memory, filled when this returns. Batch checked as on the CPU.
  // packed: on the weights prepare() copied, in its precision (SpladeError before any prepare());
  // otherwise on the arena as it is now, in fp32. Serialised with the other calls.
  void forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference, bool packed);
  // Training forward + backward on the GPU, fp32 throughout (the reference kernels), as
  // encoder_splade_forward_train + encoder_splade_backward: w (B,V) receives the vectors, grads (host,
  // layout.total floats) += dLoss/dparams for dLoss/dw = dw (B,V, host).
  void gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling);

 private:
  struct State;
  std::unique_ptr<State> s_;
  std::mutex mu_;
};

}  // namespace splade::cuda
