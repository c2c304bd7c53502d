// AdamW update and gradient norm; see adamw.h. Scalars are formed in double and rounded to float once,
// the elementwise math is float, in torch's order of operations.
#include "adamw.h"

#include <cmath>
#include <vector>

#include "../common/thread_pool.h"

namespace splade {

namespace {

void adamw_range(float* p, float* m, float* v, const float* g, size_t begin, size_t end, const AdamScalars& s,
                 const uint8_t* mask, float grad_scale) {
  for (size_t i = begin; i < end; ++i) {
    const float gi = grad_scale * g[i];
    float pi = p[i];
    if (!mask || mask[i]) pi *= s.decay;
    const float mi = m[i] + s.one_minus_b1 * (gi - m[i]);
    const float vi = s.b2 * v[i] + s.one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - s.step_size * (mi / (std::sqrt(vi) / s.bc2_sqrt + s.eps));
  }
}

}  // namespace

void adamw_update_ref(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                      float beta2, float eps, float weight_decay, int64_t step, const uint8_t* decay_mask,
                      float grad_scale) {
  adamw_range(params, m, v, grads, 0, n, adam_scalars(lr, beta1, beta2, eps, weight_decay, step), decay_mask, grad_scale);
}

double grad_norm_sq_ref(const float* grads, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += static_cast<double>(grads[i]) * grads[i];
  return s;
}

void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, int64_t step, const uint8_t* decay_mask, float grad_scale) {
  const AdamScalars s = adam_scalars(lr, beta1, beta2, eps, weight_decay, step);
  if (n < (1u << 15)) return adamw_range(params, m, v, grads, 0, n, s, decay_mask, grad_scale);
  parallel_range(n, [&](size_t b, size_t e, int) { adamw_range(params, m, v, grads, b, e, s, decay_mask, grad_scale); });
}

double grad_norm_sq(const float* grads, size_t n) {
  if (n < (1u << 15)) return grad_norm_sq_ref(grads, n);
  // fixed chunks, summed in chunk order: the same bits for every thread count
  const size_t chunk = 1u << 14, chunks = (n + chunk - 1) / chunk;
  std::vector<double> part(chunks, 0.0);
  parallel_for(chunks, [&](size_t c, int) {
    const size_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
    part[c] = grad_norm_sq_ref(grads + b, e - b);
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}

}  // namespace splade
