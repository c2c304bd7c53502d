// The CUDA encoder backend (model/encoder_backend.h) over cuda::CudaEncoder (encoder_cuda.h): the device
// keeps its own copy of the parameters (refreshed by pack, by unpacked forwards and by uploads), its
// gradients and its AdamW moments. Host code only (no CUDA types), so the binding includes it in builds
// with the CUDA backend.
#pragma once
#include <memory>

#include "../common/error.h"
#include "../model/encoder_backend.h"
#include "encoder_cuda.h"

namespace splade::cuda {

class CudaBackend final : public EncoderBackend {
 public:
  // params: the caller's arena (total floats), copied to the device now and by each refresh.
  CudaBackend(const EncoderConfig& cfg, const float* params, int device)
      : cfg_(cfg), total_(make_layout(cfg).total), enc_(cfg, params, device) {}

  const EncoderConfig& config() const override { return cfg_; }
  size_t total() const override { return total_; }

  // The device holds one packed copy (the latest pack's); the token says its size and precision.
  std::shared_ptr<const PackedWeights> pack(Precision precision) override {
    auto t = std::make_shared<Packed>();
    t->n = enc_.prepare(precision == Precision::bf16);
    return t;
  }
  void forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference,
               const PackedWeights* packed) override {
    enc_.forward(w, argmax, batch, pooling, reference, packed != nullptr);
  }
  void gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling) override {
    enc_.gradients(w, grads, dw, batch, pooling);
  }

  std::shared_ptr<TrainActivations> train_forward(float* w, const PackedBatch& batch, Pooling pooling, bool upload,
                                                  const TrainDropout& drop) override {
    auto a = std::make_shared<Activations>();
    a->device = enc_.train_forward(w, batch, pooling, upload, drop);
    return a;
  }
  void train_backward(TrainActivations& acts, const float* dw, size_t dw_count) override {
    auto* a = dynamic_cast<Activations*>(&acts);
    if (a == nullptr || !a->device) fail(kInvalidArgument, "trainBackward: activations of another encoder");
    enc_.train_backward(*a->device, dw, dw_count);
  }
  double mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool upload, const TrainDropout& drop,
                       size_t* count) override {
    return enc_.mlm_gradients(batch, labels, upload, drop, count);
  }
  void zero_grads() override { enc_.zero_grads(); }
  void read_grads(float* out) override { enc_.read_grads(out); }

  void reset_optimizer() override { enc_.reset_optimizer(); }
  double grad_norm_sq() override { return enc_.grad_norm_sq(); }
  void adamw_update(const AdamwStep& s, const uint8_t* decay_mask) override {
    enc_.adamw_update(s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.step, s.grad_scale, decay_mask);
  }
  void read_params(float* arena) override { enc_.read_params(arena); }
  void read_moments(float* m, float* v) override { enc_.read_moments(m, v); }
  void write_moments(const float* m, const float* v) override { enc_.write_moments(m, v); }

 private:
  struct Packed final : PackedWeights {
    size_t n = 0;
    size_t bytes() const override { return n; }
  };
  struct Activations final : TrainActivations {
    std::shared_ptr<CudaTrainActivations> device;
  };

  EncoderConfig cfg_;
  size_t total_;
  CudaEncoder enc_;
};

}  // namespace splade::cuda
