// The CPU encoder backend (encoder_backend.h): the forward and training passes of encoder.cpp and
// encoder_train.cpp on the caller's arena, which is also the backend's parameters (upload and
// read_params have nothing to copy), with the gradients and AdamW moments beside it (host_backend.h).
#include <utility>

#include "host_backend.h"

namespace splade {
namespace {

// A training forward's batch and its activations.
struct CpuTrainActivations final : SavedBatch {
  EncoderActivations acts;
};

class CpuEncoder final : public HostBackend {
 public:
  CpuEncoder(const EncoderConfig& cfg, float* params, ParamLayout layout)
      : HostBackend(params, layout.total), cfg_(cfg), layout_(std::move(layout)) {}

  const EncoderConfig& config() const override { return cfg_; }

  std::shared_ptr<const PackedWeights> pack(Precision precision) override {
    return std::make_shared<HostPacked>(pack_encoder(cfg_, layout_, params_, precision));
  }

  void forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference,
               const PackedWeights* packed) override {
    const EncoderPacked* p = HostPacked::of(packed);
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
    h->save(this, batch, pooling, drop);
    encoder_train_forward(w, h->acts, cfg_, layout_, params_, h->batch(), pooling, drop, false);
    return h;
  }

  void train_backward(TrainActivations& a, const float* dw, size_t dw_count) override {
    CpuTrainActivations& h = SavedBatch::consume<CpuTrainActivations>(a, this, cfg_.vocab, dw_count);
    encoder_train_backward(grads(), h.acts, dw, cfg_, layout_, params_, h.batch(), h.pooling, h.drop, false);
    h.acts = EncoderActivations{};
  }

  double mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool, const TrainDropout& drop,
                       size_t* count) override {
    return encoder_mlm_train(grads(), labels, cfg_, layout_, params_, batch, drop, false, count);
  }

 private:
  EncoderConfig cfg_;
  ParamLayout layout_;
};

}  // namespace

std::unique_ptr<EncoderBackend> make_cpu_encoder(const EncoderConfig& cfg, float* params) {
  return std::make_unique<CpuEncoder>(cfg, params, make_layout(cfg));
}

}  // namespace splade
