// ModernBERT's encoder backend (encoder_backend.h) on the CPU: modernbert.cpp's forward and
// modernbert_train.cpp's training passes over the caller's arena, with host_backend.h's gradients and
// AdamW moments. fp32 only (pack refuses bf16 and int8) and no dropout (ModernBERT checkpoints train
// without it: attention_dropout, mlp_dropout and embedding_dropout are 0), both ERR_SPLADE_UNSUPPORTED.
#include <string>
#include <utility>

#include "../common/error.h"
#include "host_backend.h"
#include "modernbert.h"
#include "precision.h"

namespace splade {
namespace {

struct ModernBertTrainActivations final : SavedBatch {
  ModernBertActivations acts;
};

void no_dropout(const TrainDropout& drop) {
  if (drop.p > 0.0f) fail(kUnsupported, "ModernBERT training has no dropout here: pass dropout 0");
}

class ModernBertEncoder final : public HostBackend {
 public:
  ModernBertEncoder(const EncoderConfig& cfg, float* params, ModernBertLayout layout)
      : HostBackend(params, layout.total), cfg_(cfg), layout_(std::move(layout)) {}

  const EncoderConfig& config() const override { return cfg_; }

  std::shared_ptr<const PackedWeights> pack(Precision precision) override {
    if (precision != Precision::fp32)
      fail(kUnsupported, std::string("ModernBERT encoders run in fp32 only (precision '") + precision_name(precision) +
                             "' is not implemented)");
    return std::make_shared<HostPacked>(pack_modernbert(cfg_, layout_, params_));
  }

  void forward(float* w, int32_t* argmax, const PackedBatch& batch, Pooling pooling, bool reference,
               const PackedWeights* packed) override {
    modernbert_splade_forward(w, argmax, cfg_, layout_, params_, batch, pooling, reference, HostPacked::of(packed));
  }

  void gradients(float* w, float* grads, const float* dw, const PackedBatch& batch, Pooling pooling) override {
    ModernBertActivations acts;
    modernbert_train_forward(w, acts, cfg_, layout_, params_, batch, pooling, true);
    modernbert_train_backward(grads, acts, dw, cfg_, layout_, params_, batch, pooling, true);
  }

  std::shared_ptr<TrainActivations> train_forward(float* w, const PackedBatch& batch, Pooling pooling, bool,
                                                  const TrainDropout& drop) override {
    no_dropout(drop);
    auto h = std::make_shared<ModernBertTrainActivations>();
    h->save(this, batch, pooling, drop);
    modernbert_train_forward(w, h->acts, cfg_, layout_, params_, h->batch(), pooling, false);
    return h;
  }

  void train_backward(TrainActivations& a, const float* dw, size_t dw_count) override {
    ModernBertTrainActivations& h = SavedBatch::consume<ModernBertTrainActivations>(a, this, cfg_.vocab, dw_count);
    modernbert_train_backward(grads(), h.acts, dw, cfg_, layout_, params_, h.batch(), h.pooling, false);
    h.acts = ModernBertActivations{};
  }

  double mlm_gradients(const PackedBatch& batch, const int32_t* labels, bool, const TrainDropout& drop,
                       size_t* count) override {
    no_dropout(drop);
    return modernbert_mlm_train(grads(), labels, cfg_, layout_, params_, batch, false, count);
  }

 private:
  EncoderConfig cfg_;
  ModernBertLayout layout_;
};

}  // namespace

std::unique_ptr<EncoderBackend> make_modernbert_encoder(const EncoderConfig& cfg, float* params) {
  return std::make_unique<ModernBertEncoder>(cfg, params, make_modernbert_layout(cfg));
}

ArenaTable arena_table(const EncoderConfig& cfg) {
  if (cfg.arch == Arch::modernbert) {
    ModernBertLayout L = make_modernbert_layout(cfg);
    return ArenaTable{std::move(L.entries), L.total};
  }
  ParamLayout L = make_layout(cfg);
  return ArenaTable{std::move(L.entries), L.total};
}

}  // namespace splade
