// HostBackend and SavedBatch; see host_backend.h.
#include "host_backend.h"

#include <algorithm>
#include <string>

#include "../common/error.h"
#include "../cpu/adamw.h"

namespace splade {

const EncoderPacked* HostPacked::of(const PackedWeights* packed) {
  if (packed == nullptr) return nullptr;
  const auto* p = dynamic_cast<const HostPacked*>(packed);
  if (p == nullptr) fail(kInvalidArgument, "forward: packed weights of another backend");
  return p->w.get();
}

float* HostBackend::grads() {
  if (grads_.size() != total_) grads_.assign(total_, 0.0f);
  return grads_.data();
}

void HostBackend::zero_grads() { std::fill_n(grads(), total_, 0.0f); }
void HostBackend::read_grads(float* out) { std::copy_n(grads(), total_, out); }

void HostBackend::reset_optimizer() {
  m_.assign(total_, 0.0f);
  v_.assign(total_, 0.0f);
  decay_mask_.clear();
}

double HostBackend::grad_norm_sq() { return splade::grad_norm_sq(grads(), total_); }

void HostBackend::adamw_update(const AdamwStep& s, const uint8_t* decay_mask) {
  if (decay_mask == nullptr || s.step < 1) fail(kInvalidArgument, "adamw_update: a decay mask and a step >= 1");
  if (m_.size() != total_) reset_optimizer();
  if (decay_mask_.empty()) decay_mask_.assign(decay_mask, decay_mask + total_);
  splade::adamw_update(params_, m_.data(), v_.data(), grads(), total_, s.lr, s.beta1, s.beta2, s.eps, s.weight_decay, s.step,
                       decay_mask_.data(), s.grad_scale);
}

void HostBackend::read_params(float* arena) {
  if (arena != params_) std::copy_n(params_, total_, arena);
}

void HostBackend::read_moments(float* m, float* v) {
  if (m_.size() != total_) reset_optimizer();
  std::copy_n(m_.data(), total_, m);
  std::copy_n(v_.data(), total_, v);
}

void HostBackend::write_moments(const float* m, const float* v) {
  m_.assign(m, m + total_);
  v_.assign(v, v + total_);
}

void SavedBatch::save(const void* o, const PackedBatch& b, Pooling p, const TrainDropout& d) {
  owner = o;
  pooling = p;
  drop = d;
  ids.assign(b.ids, b.ids + b.num_ids);
  if (b.type_ids) types.assign(b.type_ids, b.type_ids + b.num_ids);
  cu.assign(b.cu_seqlens, b.cu_seqlens + b.B + 1);
}

void SavedBatch::check_consumable(SavedBatch* h, const void* owner, size_t vocab, size_t dw_count) {
  if (h == nullptr || h->owner != owner) fail(kInvalidArgument, "trainBackward: activations of another encoder");
  if (h->consumed) fail(kInvalidArgument, "Expected a trainForward handle not yet used by trainBackward");
  const size_t BV = (h->cu.size() - 1) * vocab;
  if (dw_count != BV) fail(kInvalidArgument, "Expected dw to hold " + std::to_string(BV) + " floats");
  h->consumed = true;
}

}  // namespace splade
