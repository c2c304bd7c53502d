// AdamW (torch.optim.AdamW's single-tensor CPU algorithm) and the global gradient norm of
// torch.nn.utils.clip_grad_norm_, over flat float buffers (a parameter arena or one tensor of it).
// Contract: params, m, v are updated in place (=); grads are read only. Elementwise, so the threaded
// versions give the same bits as the references for any thread count; the norm's partial sums are
// taken in a fixed order per thread count (deterministic for a thread count).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace splade {

// The step's scalars, formed in double and rounded to float once (shared by the CPU and CUDA updates so
// both round alike): decay = 1 - lr wd, step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t).
struct AdamScalars {
  float decay, one_minus_b1, b2, one_minus_b2, step_size, bc2_sqrt, eps;
};

inline AdamScalars adam_scalars(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  return {static_cast<float>(1.0 - static_cast<double>(lr) * weight_decay), static_cast<float>(1.0 - beta1), beta2,
          static_cast<float>(1.0 - beta2), static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)), eps};
}

// params, grads, m, v are (n); decay_mask (n) or null (null: every element decays). step counts
// optimizer steps from 1. grad_scale multiplies each gradient first (clipping's coefficient; 1: none):
//   g = grad_scale * grads[i]
//   p *= 1 - lr * weight_decay            (only where decay_mask[i] != 0)
//   m = m + (1 - beta1) (g - m);  v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
void adamw_update_ref(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, int64_t step, const uint8_t* decay_mask,
                      float grad_scale = 1.0f);
// sum_i grads[i]^2 in double (reference: one sequential sum)
double grad_norm_sq_ref(const float* grads, size_t n);

// Threaded variants over the shared pool.
void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t step, const uint8_t* decay_mask, float grad_scale = 1.0f);
double grad_norm_sq(const float* grads, size_t n);

}  // namespace splade
