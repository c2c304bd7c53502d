// The Trainer's optimizer state on the device (see encoder_cuda.h): the gradient arena that train_backward
// accumulates into, the AdamW moments, the weight-decay mask, all arena-shaped, so the global norm and the
// update are single kernels over one buffer (adamw.cu) instead of a pass per tensor. Nothing crosses to the
// host in a step but the norm (a double); read_params() brings the host arena level with the device after
// the update, read_moments() / write_moments() serve the trainer's save and resume.
#include <initializer_list>

#include "adamw.h"
#include "cuda_check.h"
#include "encoder_cuda_state.cuh"

namespace splade::cuda {

void CudaEncoder::State::ensure_train_state() {
  if (grads) return;
  const size_t n = layout.total;
  train_state.reserve(3 * slot(n * 4) + slot(n) + slot(kGradNormScratch * sizeof(double)));
  float* g = train_state.alloc_n<float>(n);
  float* m1 = train_state.alloc_n<float>(n);
  float* m2 = train_state.alloc_n<float>(n);
  decay_mask = train_state.alloc_n<uint8_t>(n);
  norm_scratch = train_state.alloc_n<double>(kGradNormScratch);
  zero_arenas({g, m1, m2});
  m = m1;
  v = m2;
  decay_mask_set = false;
  grads = g;  // last: a failure above leaves the state unallocated, to be tried again
}

CudaEncoder::State& CudaEncoder::State::for_training() {
  CUDA_CHECK(cudaSetDevice(ctx.device));  // the callers run on worker threads
  ensure_train_state();
  return *this;
}

void CudaEncoder::State::zero_arenas(std::initializer_list<float*> arenas) {
  for (float* p : arenas) CUDA_CHECK(cudaMemsetAsync(p, 0, layout.total * 4, ctx.stream));
  ctx.synchronize();
}

void CudaEncoder::zero_grads() {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = s_->for_training();
  s.zero_arenas({s.grads});
}

void CudaEncoder::reset_optimizer() {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = s_->for_training();
  s.zero_arenas({s.m, s.v});
  s.decay_mask_set = false;
}

double CudaEncoder::grad_norm_sq() {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = s_->for_training();
  return grad_norm_sq_cuda(s.grads, s.layout.total, s.norm_scratch, s.ctx.stream);
}

void CudaEncoder::adamw_update(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step,
                               float grad_scale, const uint8_t* decay_mask) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  SPLADE_CHECK(decay_mask != nullptr && step >= 1, "adamw_update: a decay mask and a step >= 1");
  s.for_training();
  const size_t n = s.layout.total;
  if (!s.decay_mask_set) {
    CUDA_CHECK(cudaMemcpyAsync(s.decay_mask, decay_mask, n, cudaMemcpyHostToDevice, s.ctx.stream));
    s.decay_mask_set = true;
  }
  adamw_update_cuda(s.params, s.m, s.v, s.grads, n, lr, beta1, beta2, eps, weight_decay, step, s.decay_mask,
                    grad_scale, s.ctx.stream);
  s.ctx.synchronize();
}

namespace {

void copy_sync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, Context& ctx) {
  CUDA_CHECK(cudaSetDevice(ctx.device));
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, ctx.stream));
  ctx.synchronize();
}

}  // namespace

void CudaEncoder::read_params(float* params) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = *s_;
  copy_sync(params, s.params, s.layout.total * 4, cudaMemcpyDeviceToHost, s.ctx);
}

void CudaEncoder::read_grads(float* grads) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = s_->for_training();
  copy_sync(grads, s.grads, s.layout.total * 4, cudaMemcpyDeviceToHost, s.ctx);
}

void CudaEncoder::read_moments(float* m, float* v) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = s_->for_training();
  copy_sync(m, s.m, s.layout.total * 4, cudaMemcpyDeviceToHost, s.ctx);
  copy_sync(v, s.v, s.layout.total * 4, cudaMemcpyDeviceToHost, s.ctx);
}

void CudaEncoder::write_moments(const float* m, const float* v) {
  std::lock_guard<std::mutex> lock(mu_);
  State& s = s_->for_training();
  copy_sync(s.m, m, s.layout.total * 4, cudaMemcpyHostToDevice, s.ctx);
  copy_sync(s.v, v, s.layout.total * 4, cudaMemcpyHostToDevice, s.ctx);
}

}  // namespace splade::cuda
