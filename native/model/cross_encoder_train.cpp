// Cross-encoder fine-tuning step; see cross_encoder_train.h. The head is small (B x C x C), so it runs
// as plain loops accumulating in double; the transformer's forward and backward are the encoder's.
#include "cross_encoder_train.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../common/error.h"

namespace splade {
namespace {

void check_loss_inputs(CrossLoss loss, const float* targets, const int32_t* group_sizes, size_t groups, size_t B) {
  if (loss == CrossLoss::pointwise) {
    if (!targets) fail(kInvalidArgument, "pointwise loss: targets are missing");
    for (size_t b = 0; b < B; ++b)
      if (!(targets[b] >= 0.0f && targets[b] <= 1.0f))
        fail(kInvalidArgument,
                          "pointwise loss: target " + std::to_string(b) + " is " + std::to_string(targets[b]) +
                              ", expected a number in [0, 1]");
    return;
  }
  if (!group_sizes || groups == 0) fail(kInvalidArgument, "listwise loss: group sizes are missing");
  size_t sum = 0;
  for (size_t g = 0; g < groups; ++g) {
    if (group_sizes[g] < 1)
      fail(kInvalidArgument, "listwise loss: group " + std::to_string(g) + " is empty");
    sum += static_cast<size_t>(group_sizes[g]);
  }
  if (sum != B)
    fail(kInvalidArgument, "listwise loss: the groups hold " + std::to_string(sum) +
                                                       " pairs, the batch " + std::to_string(B));
}

// Loss and dLoss/dlogit (B).
double loss_and_grad(std::vector<double>& dlogit, const float* logits, CrossLoss loss, const float* targets,
                     const int32_t* group_sizes, size_t groups, size_t B) {
  dlogit.assign(B, 0.0);
  double total = 0;
  if (loss == CrossLoss::pointwise) {
    for (size_t b = 0; b < B; ++b) {
      const double x = logits[b], t = targets[b];
      total += std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::fabs(x)));  // BCE with logits, stable
      dlogit[b] = (1.0 / (1.0 + std::exp(-x)) - t) / static_cast<double>(B);
    }
    return total / static_cast<double>(B);
  }
  size_t off = 0;
  for (size_t g = 0; g < groups; ++g) {
    const size_t n = static_cast<size_t>(group_sizes[g]);
    double mx = logits[off];
    for (size_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[off + i]));
    double z = 0;
    for (size_t i = 0; i < n; ++i) z += std::exp(logits[off + i] - mx);
    total += mx + std::log(z) - logits[off];
    for (size_t i = 0; i < n; ++i)
      dlogit[off + i] = (std::exp(logits[off + i] - mx) / z - (i == 0 ? 1.0 : 0.0)) / static_cast<double>(groups);
    off += n;
  }
  return total / static_cast<double>(groups);
}

}  // namespace

double cross_encoder_train(float* G, float* logits, CrossLoss loss, const float* targets, const int32_t* group_sizes,
                           size_t groups, const EncoderConfig& cfg, const CrossLayout& X, const float* P,
                           const PackedBatch& batch, const TrainDropout& drop, bool ref) {
  validate_batch(cfg, batch);
  const size_t B = static_cast<size_t>(batch.B), C = cfg.hidden;
  check_loss_inputs(loss, targets, group_sizes, groups, B);
  if (B == 0) return 0.0;
  EncoderActivations a;
  transformer_train_forward(a, cfg, X.base, P, batch, drop, cpu_ops(ref));
  const size_t N = static_cast<size_t>(batch.cu_seqlens[B]);
  // The pooled output is the dropout site after the last layer (layer index cfg.layers, so its key
  // differs from every in-transformer site).
  const DropoutMask pooled_mask(drop.p, drop.seed, cfg.layers, DropSite::embeddings);
  const float *Wp = P + X.pooler_w, *bp = P + X.pooler_b, *wc = P + X.cls_w, *bc = P + X.cls_b;
  std::vector<float> h(B * C), p(B * C), pd(B * C);
  for (size_t b = 0; b < B; ++b) {
    const float* row = a.head_in.data() + static_cast<size_t>(batch.cu_seqlens[b]) * C;
    std::copy(row, row + C, h.begin() + static_cast<ptrdiff_t>(b * C));
    double logit = bc[0];
    for (size_t o = 0; o < C; ++o) {
      double s = bp[o];
      for (size_t c = 0; c < C; ++c) s += static_cast<double>(Wp[o * C + c]) * h[b * C + c];
      p[b * C + o] = static_cast<float>(std::tanh(s));
      pd[b * C + o] = pooled_mask.active ? p[b * C + o] * pooled_mask.factor(b * C + o) : p[b * C + o];
      logit += static_cast<double>(wc[o]) * pd[b * C + o];
    }
    logits[b] = static_cast<float>(logit);
  }
  std::vector<double> dlogit;
  const double value = loss_and_grad(dlogit, logits, loss, targets, group_sizes, groups, B);
  // classifier: logit = pd . wc + bc
  float *gWp = G + X.pooler_w, *gbp = G + X.pooler_b, *gwc = G + X.cls_w, *gbc = G + X.cls_b;
  std::vector<double> dz(B * C);
  double dbc = 0;
  for (size_t b = 0; b < B; ++b) dbc += dlogit[b];
  gbc[0] += static_cast<float>(dbc);
  for (size_t o = 0; o < C; ++o) {
    double s = 0;
    for (size_t b = 0; b < B; ++b) s += dlogit[b] * pd[b * C + o];
    gwc[o] += static_cast<float>(s);
  }
  // pooler: p = tanh(z), z = h Wp^T + bp; dropout's factor is its own backward
  for (size_t b = 0; b < B; ++b)
    for (size_t o = 0; o < C; ++o) {
      const double f = pooled_mask.active ? pooled_mask.factor(b * C + o) : 1.0;
      const double pv = p[b * C + o];
      dz[b * C + o] = dlogit[b] * wc[o] * f * (1.0 - pv * pv);
    }
  for (size_t o = 0; o < C; ++o) {
    double sb = 0;
    for (size_t b = 0; b < B; ++b) sb += dz[b * C + o];
    gbp[o] += static_cast<float>(sb);
    for (size_t c = 0; c < C; ++c) {
      double s = 0;
      for (size_t b = 0; b < B; ++b) s += dz[b * C + o] * h[b * C + c];
      gWp[o * C + c] += static_cast<float>(s);
    }
  }
  // dLoss/d(last hidden state): only the first token of each sequence has a gradient
  std::vector<float> dx(N * C, 0.0f);
  for (size_t b = 0; b < B; ++b) {
    float* d = dx.data() + static_cast<size_t>(batch.cu_seqlens[b]) * C;
    for (size_t c = 0; c < C; ++c) {
      double s = 0;
      for (size_t o = 0; o < C; ++o) s += dz[b * C + o] * Wp[o * C + c];
      d[c] = static_cast<float>(s);
    }
  }
  transformer_train_backward(G, a, dx, cfg, X.base, P, batch, drop, cpu_ops(ref));
  return value;
}

}  // namespace splade
