// The CPU encoder backend (encoder_backend.h): the forward and training passes of encoder.cpp and
// encoder_train.cpp on the caller's arena, which is also the backend's parameters (upload and
// read_params have nothing to copy), with the gradients and AdamW moments beside it (native/cpu/adamw).
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "../common/error.h"
#include "../cpu/adamw.h"
#include "encoder_backend.h"

namespace splade {
namespace {

struct CpuPacked final : PackedWeights {
  std::shared_ptr<const EncoderPacked> w;
  size_t bytes() const override { return w->bytes(); }
};

// A copy of the batch (the caller's arrays may change before the backward) and its activations.
struct CpuTrainActivations final : TrainActivations {
  const void* owner = nullptr;
  std::vector<int32_t> ids, types, cu;
  Pooling pooling = Pooling::max;
  TrainDropout drop;
  EncoderActivations acts;
  bool consumed = false;
  PackedBatch batch() const {
    return PackedBatch{ids.data(), types.empty() ? nullptr : types.data(), cu.data(), static_cast<int>(cu.size()) - 1, ids.size()};
  }
};

class CpuEncoder final : public EncoderBackend {
 public:
  CpuEncoder(const EncoderConfig& cfg, float* params) : cfg_(cfg), layout_(make_layout(cfg)), params_(params) {}

  const EncoderConfig& config() const override { return cfg_; }
  size_t total() const override { return layout_.total; }

  std::shared_ptr<const PackedWeights> pack(Precision precision) override {
    auto p = std::make_shared<CpuPacked>();
    p->w = pack_encoder(cfg_, layout_, params_, precision);
    return p;
  }

  void forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference,
               const PackedWeights* packed) override {
    const EncoderPacked* p = packed ? checked_packed(packed) : nullptr;
    encoder_splade_forward(w, argmax, cfg_, layout_, params_, batch, pooling, reference, p);
  }

  void gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling) override {
    EncoderActivations acts;
    encoder_splade_forward_train(w, acts, cfg_, layout_, params_, batch, pooling);
    encoder_splade_backward(grads, acts, dw, cfg_, layout_, params_, batch, pooling);
  }

  std::shared_ptr<TrainActivations> train_forward(float* w, const PackedBatch& batch, Pooling pooling, bool,
                                                  const TrainDropout& drop) override {
    auto h = std::make_shared<CpuTrainActivations>();
    h->owner = this;
    h->pooling = pooling;
    h->drop = drop;
    h->ids.assign(batch.ids, batch.ids + batch.num_ids);
    if (batch.type_ids) h->types.assign(batch.type_ids, batch.type_ids + batch.num_ids);
    h->cu.assign(batch.cu_seqlens, batch.cu_seqlens + batch.B + 1);
    encoder_train_forward(w, h->acts, cfg_, layout_, params_, h->batch(), pooling, drop, false);
    return h;
  }

  void train_backward(TrainActivations& a, const float* dw, size_t dw_count) override {
    auto* h = dynamic_cast<CpuTrainActivations*>(&a);
    if (h == nullptr || h->owner != this) fail(kInvalidArgument, "trainBackward: activations of another encoder");
    if (h->consumed) fail(kInvalidArgument, "Expected a trainForward handle not yet used by trainBackward");
    const size_t BV = (h->cu.size() - 1) * cfg_.vocab;
    if (dw_count != BV) fail(kInvalidArgument, "Expected dw to hold " + std::to_string(BV) + " floats");
    h->consumed = true;
    encoder_train_backward(grads(), h->acts, dw, cfg_, layout_, params_, h->batch(), h->pooling, h->drop, false);
    h->acts = EncoderActivations{};
  }

  double mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool, const TrainDropout& drop,
                       size_t* count) override {
    return encoder_mlm_train(grads(), labels, cfg_, layout_, params_, batch, drop, false, count);
  }

  void zero_grads() override { std::fill_n(grads(), layout_.total, 0.0f); }
  void read_grads(float* out) override { std::copy_n(grads(), layout_.total, out); }

  void reset_optimizer() override {
    m_.assign(layout_.total, 0.0f);
    v_.assign(layout_.total, 0.0f);
    decay_mask_.clear();
  }
  double grad_norm_sq() override { return splade::grad_norm_sq(grads(), layout_.total); }
  void adamw_update(const AdamwStep& s, const uint8_t* decay_mask) override {
    if (decay_mask == nullptr || s.step < 1) fail(kInvalidArgument, "adamw_update: a decay mask and a step >= 1");
    if (m_.size() != layout_.total) reset_optimizer();
    if (decay_mask_.empty()) decay_mask_.assign(decay_mask, decay_mask + layout_.total);
    splade::adamw_update(params_, m_.data(), v_.data(), grads(), layout_.total, s.lr, s.beta1, s.beta2, s.eps,
                         s.weight_decay, s.step, decay_mask_.data(), s.grad_scale);
  }
  void read_params(float* arena) override {
    if (arena != params_) std::copy_n(params_, layout_.total, arena);
  }
  void read_moments(float* m, float* v) override {
    if (m_.size() != layout_.total) reset_optimizer();
    std::copy_n(m_.data(), layout_.total, m);
    std::copy_n(v_.data(), layout_.total, v);
  }
  void write_moments(const float* m, const float* v) override {
    m_.assign(m, m + layout_.total);
    v_.assign(v, v + layout_.total);
  }

 private:
  const EncoderPacked* checked_packed(const PackedWeights* packed) const {
    const auto* p = dynamic_cast<const CpuPacked*>(packed);
    if (p == nullptr) fail(kInvalidArgument, "forward: packed weights of another backend");
    return p->w.get();
  }
  // The gradient arena (zero at first), allocated on first use. Training calls take turns (the
  // Trainer's lock), so no lock here.
  float* grads() {
    if (grads_.size() != layout_.total) grads_.assign(layout_.total, 0.0f);
    return grads_.data();
  }

  EncoderConfig cfg_;
  ParamLayout layout_;
  float* params_;
  std::vector<float> grads_, m_, v_;
  std::vector<uint8_t> decay_mask_;
};

}  // namespace

std::unique_ptr<EncoderBackend> make_cpu_encoder(const EncoderConfig& cfg, float* params) {
  return std::make_unique<CpuEncoder>(cfg, params);
}

}  // namespace splade
