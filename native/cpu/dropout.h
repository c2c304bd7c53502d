// Inverted dropout (as torch.nn.Dropout in training mode: kept values scaled by 1 / (1 - p)) whose
// mask is a pure function of (seed, site, index), not a stored tensor: the forward and the backward
// regenerate the same bits, any thread can compute any element (so masks do not depend on the thread
// count), and a run is reproducible from the seed alone. The trainer draws the seed from its own RNG
// once per encoder call, so save/resume continues the same sequence of masks.
#pragma once
#include <cstddef>
#include <cstdint>

namespace splade {

// splitmix64's finaliser: a bijective 64-bit mix, good enough for independent-looking Bernoulli draws.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Dropout sites of the training forward (BERT's): the embeddings' LayerNorm output, and per layer the
// attention probabilities, the attention output projection (BERT only) and the FFN output.
enum class DropSite : uint64_t { embeddings = 0, attention_probs = 1, attention_output = 2, ffn_output = 3 };

struct DropoutMask {
  bool active = false;     // p > 0
  uint64_t key = 0;        // (seed, site) mixed
  uint32_t threshold = 0;  // element dropped when the high 32 bits of its hash are < threshold
  float scale = 1.0f;      // 1 / (1 - p)

  DropoutMask() = default;
  DropoutMask(float p, uint64_t seed, size_t layer, DropSite site) {
    active = p > 0.0f;
    if (!active) return;
    key = mix64(seed ^ mix64(layer * 4 + static_cast<uint64_t>(site) + 1));
    const double t = static_cast<double>(p) * 4294967296.0;
    threshold = t >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(t);
    scale = 1.0f / (1.0f - p);
  }
  // The factor (0 or scale) of element i of a flat site (embeddings, attention / FFN outputs: n * C + c).
  float factor(uint64_t i) const { return static_cast<uint32_t>(mix64(key ^ i) >> 32) >= threshold ? scale : 0.0f; }
  // A row's key (attention probabilities: row = token * heads + head), then factor_in_row(row_key, j).
  uint64_t row_key(uint64_t row) const { return mix64(key + row * 0x632be59bd9b4e019ull); }
  float factor_in_row(uint64_t rk, uint64_t j) const {
    return static_cast<uint32_t>(mix64(rk ^ j) >> 32) >= threshold ? scale : 0.0f;
  }
};

// x[i] *= factor(offset + i) for i in [0, n), threaded (in place; also the backward of itself).
void dropout_apply(float* x, size_t n, const DropoutMask& m, size_t offset = 0);

}  // namespace splade
