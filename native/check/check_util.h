// What the kernel checks share (kernel_check.cpp, modernbert_check.cpp): seeded random inputs, the
// fast-vs-reference comparison, a scope that switches the active vector-unit variant, and the
// central-difference check of a backward.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "../common/cpu_features.h"
#include "kernel_check.h"

namespace splade {

struct Rng {
  std::mt19937_64 gen;
  explicit Rng(uint64_t seed) : gen(seed) {}
  std::vector<float> normal(size_t n, float std = 1.0f, float mean = 0.0f) {
    std::normal_distribution<float> d(mean, std);
    std::vector<float> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }
  std::vector<int32_t> ints(size_t n, int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> d(lo, hi - 1);
    std::vector<int32_t> v(n);
    for (auto& x : v) x = d(gen);
    return v;
  }
};

// Relative error against the output's own scale: |fast - ref| / (|ref| + rms(ref)). A plain
// |fast - ref| / |ref| is meaningless where an output crosses zero (LayerNorm's b + (x - m) r w,
// attention's weighted averages), where float rounding of O(1) terms leaves O(1e-7) absolute error.
inline void compare(KernelCheckResult& r, const std::vector<float>& fast, const std::vector<float>& ref) {
  double ss = 0;
  for (float v : ref) ss += std::isfinite(v) ? double(v) * v : 0.0;
  const double rms = std::sqrt(ss / std::max<size_t>(ref.size(), 1)) + 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(fast[i])) {
      ++r.non_finite;
      continue;
    }
    if (!std::isfinite(ref[i])) continue;
    r.max_error = std::max(r.max_error, std::fabs(double(fast[i]) - ref[i]) / (std::fabs(double(ref[i])) + rms));
    ++r.checked;
  }
}

class IsaScope {  // runs the whole encoder on one variant, restoring the active one after
 public:
  explicit IsaScope(Isa isa) : saved_(active_isa()) { set_active_isa(isa); }
  ~IsaScope() { set_active_isa(saved_); }

 private:
  Isa saved_;
};


// Central differences of loss() with respect to `count` random entries of x, against the analytic
// gradient `grad`. Error: |numeric - analytic| / (max(|numeric|, |analytic|) + 1e-2); forward passes run
// in float32, so eps is large (1e-2) and the tolerance loose (tests use 1e-2). SPLADE pooling has a
// kink at logit 0 (relu) that a large step can cross: there eps is 1e-4 and the loss is evaluated in
// double.
template <class Loss>
void grad_check(KernelCheckResult& r, Rng& rng, std::vector<float>& x, const std::vector<float>& grad, Loss loss,
                size_t count = 24, float eps = 1e-2f, const std::function<bool()>& smooth = {}) {
  std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
  for (size_t k = 0; k < count; ++k) {
    const size_t i = pick(rng.gen);
    const float saved = x[i];
    x[i] = saved + eps;
    const double lp = loss();
    x[i] = saved - eps;
    const double lm = loss();
    x[i] = saved;
    if (smooth && !smooth()) continue;  // the step crossed a kink: no derivative to compare with
    const double num = (lp - lm) / (2.0 * eps), ana = grad[i];
    if (!std::isfinite(ana)) {
      ++r.non_finite;
      continue;
    }
    r.max_error = std::max(r.max_error, std::fabs(num - ana) / (std::max(std::fabs(num), std::fabs(ana)) + 1e-2));
    ++r.checked;
  }
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

}  // namespace splade
