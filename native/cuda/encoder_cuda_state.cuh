// What CudaEncoder keeps on the device, and the forward schedule's op tables and buffers (shared by
// encoder_cuda.cu, encoder_cuda_train.cu and encoder_cuda_optim.cu).
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

struct Act { float* f = nullptr; bf16* b = nullptr; };  // one activation tensor: fp32 and/or bf16 (null: not kept)

// The kernels that differ between encoder_cuda.h's two precisions, a table chosen per pass (as model/cpu_ops.h)
// instead of a flag at each call. The fp32 ops read and write the Acts' f; the bf16 ones (cuda_ops(true):
// tensor cores) read their b (a tensor only a GEMM reads exists in bf16 only).
struct CudaOps {
  // out (M,Nout) = inp (M,K) W^T + b [+ residual (M,Nout)] [then act]; W (Nout,K), Wb its bf16 copy
  void (*linear)(Act out, Act inp, size_t M, size_t Nout, size_t K, const float* W, const bf16* Wb, const float* b,
                 const float* residual, Activation act, cudaStream_t st);
  // out (N,C) from qkv (N,3C) (bf16 where attention_bf16_supported); drop: the probabilities' mask (fp32 only)
  void (*attention)(Act out, Act qkv, const int32_t* cu_seqlens, int B, size_t C, size_t NH, size_t N, int max_len,
                    const DropoutMask& drop, cudaStream_t st);
  // w, argmax (B,V) from t (N,C): the tied decoder (wte (V,C), wte_b its bf16 copy) fused with SPLADE pooling
  void (*splade_pool)(float* w, int32_t* argmax, Act t, const float* wte, const bf16* wte_b, const float* bias,
                      const int32_t* cu_seqlens, int B, size_t C, size_t V, Pooling pooling, cudaStream_t st);
};
const CudaOps& cuda_ops(bool tensor_cores);

// Where one layer reads and writes (as LayerBuffers in model/encoder_layer.h): the inference forward's
// workspace (one set for every layer, no statistics), or the training forward's saved tensors (one per layer).
struct CudaLayerBuffers {
  Act in, qkv, att;                  // (N,C) (N,3C) (N,C)
  float* res1; Act x1;               // (N,C) (N,C)
  float* fc1;                        // (N,I) the FFN pre-activation, kept for backward (fp32 ops); null: GELU fused
  Act gelu; float* res2; Act out;    // (N,I) (N,C) (N,C)
  float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd;  // (N) each, or null
};

// Where the forward reads and writes: embeddings (into layers[0].in) -> layers -> MLM transform (of the last out)
struct CudaForwardBuffers {
  float *emb = nullptr, *emb_mean = nullptr, *emb_rstd = nullptr;  // (N,C): before the embeddings' LN; (N) (N) or null
  std::vector<CudaLayerBuffers> layers;
  float* head_pre = nullptr;         // (N,C) the transform's pre-activation, kept for backward; null: GELU fused
  Act head_gelu, t;                  // (N,C) each: t the transform's output, the decoder's input
  float *head_mean = nullptr, *head_rstd = nullptr;  // (N) or null
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
  // The one forward schedule of every pass (encoder_cuda.cu): embeddings -> L x [QKV GEMM, attention, output
  // GEMM + residual, LayerNorm, FFN GEMM + GELU, FFN GEMM + residual, LayerNorm] -> MLM transform, on params
  // as they are, into fb. in: the checked, non-empty batch on the device; masks: dropout (null: inference).
  void encoder_forward(const CudaOps& ops, const CudaForwardBuffers& fb, const PackedBatch& batch, const DeviceBatch& in,
                       const EncoderDropoutMasks* masks);

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
