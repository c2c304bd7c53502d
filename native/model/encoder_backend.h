// The encoder backend: what one encoder handle does, whatever runs it. The one N-API class
// (native/binding/model_binding.cpp, `Encoder`) checks arguments and calls these methods in workers;
// the CPU implements them in cpu_encoder.cpp and CUDA in native/cuda/cuda_backend.h, so a new device is
// one class here and nothing in the binding or in TypeScript.
//
// The protocol, as the Trainer drives it: the caller's parameter arena (layout.total floats) is the
// truth between steps. pack() copies it for the inference forwards. A training step: zero_grads();
// train_forward of each sequence set (upload: refresh the backend's copy of the arena first, where it
// has one); the losses on the host; train_backward of each; grad_norm_sq(); adamw_update() over the
// backend's gradients and moments; read_params() brings the arena level with the backend's parameters.
// Gradients and moments are arena-shaped and live in the backend (zero until first written).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "encoder.h"
#include "encoder_train.h"

namespace splade {

// The weights pack() prepared for the inference forwards (in their precision). Forwards hold a reference
// while they run, so a later pack() never frees weights in use.
struct PackedWeights {
  virtual ~PackedWeights() = default;
  virtual size_t bytes() const = 0;  // memory (host or device) the weights hold
};

// One batch's training activations between train_forward and train_backward (owned by the caller).
struct TrainActivations {
  virtual ~TrainActivations() = default;
};

// One AdamW step's settings (torch.optim.AdamW's; grad_scale: clipping's coefficient, 1 for none).
struct AdamwStep {
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t step;
};

class EncoderBackend {
 public:
  virtual ~EncoderBackend() = default;
  virtual const EncoderConfig& config() const = 0;
  virtual size_t total() const = 0;  // the arena's floats (layout.total)

  // The arena as it is now, packed for the inference forwards in precision.
  virtual std::shared_ptr<const PackedWeights> pack(Precision precision) = 0;
  // w (B,V) and argmax (B,V) or null: host memory. packed (from this backend's pack) or null: on the
  // arena as it is, in fp32. reference: the plain reference kernels.
  virtual void forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference,
                       const PackedWeights* packed) = 0;
  // Training forward + backward on the reference kernels, fp32: w (B,V) receives the vectors, grads
  // (host, total() floats) += dLoss/dparams for dLoss/dw = dw (B,V).
  virtual void gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling) = 0;

  // Training forward with drop's masks: w (B,V) host; the activations (and whatever of the batch the
  // backward needs: the caller's arrays may change in between) for one train_backward.
  virtual std::shared_ptr<TrainActivations> train_forward(float* w, const PackedBatch& batch, Pooling pooling,
                                                          bool upload, const TrainDropout& drop) = 0;
  // The backend's gradients += dLoss/dparams for dLoss/dw = dw (dw_count floats, checked against B*V);
  // consumes acts (SpladeError on a second use, or on another backend's activations).
  virtual void train_backward(TrainActivations& acts, const float* dw, size_t dw_count) = 0;
  // The masked-LM objective: forward, mean cross-entropy over the labelled rows (labels (N): an id or -1),
  // backward into the gradients. Returns the mean loss; *count the labelled rows.
  virtual double mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool upload, const TrainDropout& drop,
                               size_t* count) = 0;
  virtual void zero_grads() = 0;
  virtual void read_grads(float* out) = 0;  // total() floats

  // ---- The optimizer over the whole arena ----
  virtual void reset_optimizer() = 0;  // moments to zero; the next adamw_update reads its decay mask again
  virtual double grad_norm_sq() = 0;   // sum of squares of the gradients (double, fixed order)
  // parameters and moments updated as adamw_update_ref; decay_mask: total() bytes, 1 where weight decay
  // applies, taken on the first call after a reset.
  virtual void adamw_update(const AdamwStep& step, const uint8_t* decay_mask) = 0;
  virtual void read_params(float* arena) = 0;  // arena <- the backend's parameters (a no-op where they are one)
  virtual void read_moments(float* m, float* v) = 0;
  virtual void write_moments(const float* m, const float* v) = 0;
};

// The CPU backend over the caller's arena (params: total floats, kept by the caller while this lives).
std::unique_ptr<EncoderBackend> make_cpu_encoder(const EncoderConfig& cfg, float* params);
// ModernBERT's (cfg.arch modernbert; CPU only), the same way (modernbert_encoder.cpp).
std::unique_ptr<EncoderBackend> make_modernbert_encoder(const EncoderConfig& cfg, float* params);

// The arena's named offsets and size for cfg's architecture (make_layout's, or ModernBERT's own).
struct ArenaTable {
  std::vector<ParamEntry> entries;
  size_t total = 0;
};
ArenaTable arena_table(const EncoderConfig& cfg);

}  // namespace splade
