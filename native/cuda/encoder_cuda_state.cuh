// What CudaEncoder keeps on the device (shared by encoder_cuda.cu, the forward, encoder_cuda_train.cu,
// the training forward and backward, and encoder_cuda_optim.cu, the optimizer state).
#pragma once
#include <cuda_bf16.h>

#include <initializer_list>
#include <memory>
#include <vector>

#include "context.h"
#include "cuda_check.h"
#include "encoder_cuda.h"

namespace splade::cuda {

using bf16 = __nv_bfloat16;

inline size_t slot(size_t bytes) { return (bytes + 255) / 256 * 256; }  // an arena allocation's footprint

struct LayerBf16 {
  bf16 *qkv_w, *attn_out_w, *fc1_w, *fc2_w;
};

struct CudaEncoder::State {
  explicit State(int device) : ctx(device) {}
  // params <- host_params, then the bf16 copies; synchronous
  void upload_weights();
  // params <- host_params only (the training path: fp32; the bf16 copies wait for prepare()); asynchronous
  void upload_params();
  // Checks the batch (SpladeError) and makes this thread use the device; false: nothing to do (B == 0)
  bool begin(const PackedBatch& batch) {
    validate_batch(cfg, batch);
    if (batch.B == 0) return false;
    CUDA_CHECK(cudaSetDevice(ctx.device));  // the callers run on worker threads
    return true;
  }
  // ids, type ids (null when the batch has none) and cu_seqlens of a checked batch, copied through pinned
  // memory into arena slots (asynchronous on the stream)
  struct DeviceBatch {
    int32_t *ids, *type_ids, *cu_seqlens;
  };
  DeviceBatch upload_batch(const PackedBatch& batch, Arena& arena);
  // bytes upload_batch takes from an arena
  static size_t batch_bytes(const PackedBatch& batch) { return 2 * slot(batch.num_ids * 4) + slot((batch.B + 1) * 4); }

  Context ctx;
  EncoderConfig cfg;
  ParamLayout layout;
  const float* host_params = nullptr;  // the caller's arena (kept alive by the caller)
  bool prepared = false, prepared_bf16 = false;  // prepare() called, and its precision
  float* params = nullptr;             // device copy of the arena
  bf16* wte_b = nullptr;               // (V, C): the tied decoder
  bf16* head_w_b = nullptr;
  std::vector<LayerBf16> layer_b;

  // ---- training (encoder_cuda_train.cu) ----
  // the training forward of a checked, non-empty batch on params as they are, with drop's masks, up to the
  // MLM transform's output t (N,C); splade_head: room for the pooling's w and argmax (B,V) in acts
  std::shared_ptr<CudaTrainActivations> hidden_forward(const PackedBatch& batch, const TrainDropout& drop, bool splade_head);
  // hidden_forward, then the SPLADE pooling; w (B,V) host
  std::shared_ptr<CudaTrainActivations> train_forward(float* w, const PackedBatch& batch, Pooling pooling,
                                                      const TrainDropout& drop);
  // G (layout.total floats, device) += dLoss/dparams for dLoss/dw = dw (B,V, host); then frees acts' memory
  void train_backward(CudaTrainActivations& acts, const float* dw, float* G);
  // from dt (N,C) = dLoss/dt (device) down to the embeddings: G += ...; its temporaries from a (which must
  // have hidden_backward_bytes(N) free); then frees acts' memory
  void hidden_backward(CudaTrainActivations& acts, const float* dt, float* G, Arena& a);
  size_t hidden_backward_bytes(size_t N) const;
  Arena grads_tmp;  // gradients(): its own arena-shaped gradient, zeroed per call

  // ---- the optimizer state (encoder_cuda_optim.cu), allocated zeroed by ensure_train_state() ----
  void ensure_train_state();
  State& for_training();  // this thread on the device, the training state allocated
  void zero_arenas(std::initializer_list<float*> arenas);  // each layout.total floats <- 0, synchronously
  Arena train_state;                   // grads, m, v, the decay mask, the norm's scratch
  float *grads = nullptr, *m = nullptr, *v = nullptr;  // (layout.total) each
  uint8_t* decay_mask = nullptr;       // (layout.total)
  bool decay_mask_set = false;         // copied from the host by the first adamw_update
  double* norm_scratch = nullptr;      // kGradNormScratch doubles
};

}  // namespace splade::cuda
