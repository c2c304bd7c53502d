// The SPLADE encoder on one GPU (the CUDA twin of model/encoder.h and encoder_train.h, behind
// cuda_backend.h). Every pass runs the one forward schedule (encoder_cuda.cu) on one of two op tables,
// then the tied decoder fused with SPLADE pooling (or the MLM loss):
//   bf16 (prepare(true), packed forward, reference = false): GEMMs, the head and (head size 32 or 64)
//     attention on tensor cores (bf16 inputs, fp32 accumulation, softmax and epilogues); LayerNorm and
//     residual sums in fp32.
//   fp32 (every other forward, and training): every op on the fp32 kernels (sgemm_cuda,
//     splade_pool_forward_cuda), to compare with the CPU at fp32 tolerances.
// The device holds a copy of the parameter arena (and bf16 copies of the GEMM weights), made at
// construction and again by prepare() (the caller's protocol, as for the CPU encoder: prepare after the
// arena changes), by every forward on the arena (packed = false), by gradients() and by uploads.
// Host-facing header: no CUDA types, so the binding compiles without the CUDA headers.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>

#include "../model/encoder.h"
#include "../model/encoder_train.h"  // TrainDropout

namespace splade::cuda {

// One batch's training activations on the device, between train_forward and train_backward (its own device
// memory, freed with it). Opaque outside encoder_cuda_train.cu.
struct CudaTrainActivations;

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
  // Training forward + backward (EncoderBackend::gradients): w (B,V) receives the vectors, grads (host,
  // layout.total floats) += dLoss/dparams for dLoss/dw = dw (B,V, host).
  void gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling);

  // ---- The Trainer's step on the device (encoder_cuda_train.cu, encoder_cuda_optim.cu) ----
  // EncoderBackend's methods of the same names (model/encoder_backend.h: the step's protocol), with the
  // parameters, their gradients and the AdamW moments on the device, arena-shaped (gradients and moments
  // allocated zeroed on first use). upload: the parameters refreshed from the host arena first. Dropout as
  // encoder_train_forward draws it. The activations stay on the device until the object is released.
  std::shared_ptr<CudaTrainActivations> train_forward(float* w, const PackedBatch& batch, Pooling pooling, bool upload,
                                                      const TrainDropout& drop = {});
  void train_backward(CudaTrainActivations& acts, const float* dw, size_t dw_count);
  double mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool upload, const TrainDropout& drop,
                       size_t* count);
  void zero_grads();
  void reset_optimizer();
  double grad_norm_sq();  // of the device gradients (double sums, fixed order: deterministic)
  // as adamw_update_ref over the whole arena; decay_mask (host) copied to the device on the first call
  void adamw_update(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                    float grad_scale, const uint8_t* decay_mask);
  // host (layout.total floats each) <- the device parameters / gradients / moments, and moments <- host
  void read_params(float* params);
  void read_grads(float* grads);
  void read_moments(float* m, float* v);
  void write_moments(const float* m, const float* v);

 private:
  struct State;
  std::unique_ptr<State> s_;
  std::mutex mu_;
};

}  // namespace splade::cuda
