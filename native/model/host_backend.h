// What the backends whose parameters are the caller's host arena share (the CPU's BERT family,
// cpu_encoder.cpp, and ModernBERT, modernbert_encoder.cpp): the gradients and AdamW moments beside the
// arena (native/cpu/adamw), and a training forward's copy of its batch.
#pragma once
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "encoder_backend.h"

namespace splade {

// pack()'s weights (encoder.h's EncoderPacked, BERT's or ModernBERT's).
struct HostPacked final : PackedWeights {
  std::shared_ptr<const EncoderPacked> w;
  explicit HostPacked(std::shared_ptr<const EncoderPacked> p) : w(std::move(p)) {}
  size_t bytes() const override { return w->bytes(); }
  // packed's weights, null for null; SpladeError for another backend's
  static const EncoderPacked* of(const PackedWeights* packed);
};

class HostBackend : public EncoderBackend {
 public:
  HostBackend(float* params, size_t total) : params_(params), total_(total) {}
  size_t total() const override { return total_; }

  void zero_grads() override;
  void read_grads(float* out) override;
  void reset_optimizer() override;
  double grad_norm_sq() override;
  void adamw_update(const AdamwStep& step, const uint8_t* decay_mask) override;
  void read_params(float* arena) override;
  void read_moments(float* m, float* v) override;
  void write_moments(const float* m, const float* v) override;

 protected:
  // The gradient arena (zero at first), allocated on first use. Training calls take turns (the
  // Trainer's lock), so no lock here.
  float* grads();
  float* const params_;

 private:
  const size_t total_;
  std::vector<float> grads_, m_, v_;
  std::vector<uint8_t> decay_mask_;
};

// A copy of a training forward's batch (the caller's arrays may change before the backward), with what
// its backward needs; a backend's activations derive from it. consume() checks that acts came from
// owner's train_forward, not yet used, and dw_count is B * vocab (SpladeError otherwise).
struct SavedBatch : TrainActivations {
  const void* owner = nullptr;
  std::vector<int32_t> ids, types, cu;
  Pooling pooling = Pooling::max;
  TrainDropout drop;
  bool consumed = false;
  void save(const void* owner, const PackedBatch& batch, Pooling pooling, const TrainDropout& drop);
  PackedBatch batch() const {
    return PackedBatch{ids.data(), types.empty() ? nullptr : types.data(), cu.data(), static_cast<int>(cu.size()) - 1, ids.size()};
  }
  template <class T>
  static T& consume(TrainActivations& acts, const void* owner, size_t vocab, size_t dw_count);

 private:
  static void check_consumable(SavedBatch* h, const void* owner, size_t vocab, size_t dw_count);
};

template <class T>
T& SavedBatch::consume(TrainActivations& acts, const void* owner, size_t vocab, size_t dw_count) {
  T* h = dynamic_cast<T*>(&acts);
  check_consumable(h, owner, vocab, dw_count);
  return *h;
}

}  // namespace splade
