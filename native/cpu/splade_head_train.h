// The training heads over the MLM transform's output t (N,C) and the tied decoder E (V,C) + bias (V):
// - the SPLADE max-pooling backward, sparse: with max pooling only the argmax token of each (b, j)
//   receives gradient, so instead of recomputing the (N x V) logits in tiles and running two dense
//   (N x V x C) GEMMs on a gradient that is zero but for at most B x V entries, it visits those
//   entries alone: g = dw / (1 + x) = dw exp(-w) (w = log1p(x) is the forward's output), then
//   dt[n] += g E[j], dE[j] += g t[n], dbias[j] += g. Threads own rows of dE (parallel over j) and rows
//   of dt (parallel over n, entries bucketed by n), so the sums do not depend on the thread count.
// - the masked-language-model head: cross-entropy of softmax(t E^T + bias) against labels on the rows
//   that have one (label -1: not predicted), mean over those rows, as BertForMaskedLM's loss with
//   ignore_index; fused: logits are made for a block of labelled rows at a time, turned into
//   dlogits in place and consumed by two GEMMs, so no (rows x V) tensor outlives its block.
#pragma once
#include <cstddef>
#include <cstdint>

namespace splade {

// Accumulates (+=). w, dw, argmax are (B,V) as splade_pool_forward / the loss produced them.
void splade_max_pool_backward_sparse(float* dt, float* dE, float* dbias, const float* dw, const float* w,
                                     const float* t, const float* E, const int32_t* argmax, int B, size_t N, size_t C,
                                     size_t V);

// labels (N): a vocabulary id in [0, V) or -1. dt (N,C), dE, dbias accumulate the gradient of the mean
// loss; returns the mean loss (0 when no row has a label, with no gradient) and sets *count to the
// number of labelled rows. Throws SpladeError on a label outside [-1, V).
// The labelled rows of labels (N) (SpladeError on a label outside [-1, V), as the functions below check them)
size_t count_labels(const int32_t* labels, size_t N, size_t V);
double mlm_head_forward_backward_ref(float* dt, float* dE, float* dbias, const float* t, const float* E,
                                     const float* bias, const int32_t* labels, size_t N, size_t C, size_t V,
                                     size_t* count);
double mlm_head_forward_backward(float* dt, float* dE, float* dbias, const float* t, const float* E, const float* bias,
                                 const int32_t* labels, size_t N, size_t C, size_t V, size_t* count);

}  // namespace splade
