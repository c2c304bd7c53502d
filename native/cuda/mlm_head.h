// The masked-language-model head's loss and gradient on the GPU: mlm_head_forward_backward of
// cpu/splade_head_train.h (cross-entropy of softmax(t E^T + bias) against the labels of the labelled
// rows, mean over them, as BertForMaskedLM's loss with ignore_index), in blocks of labelled rows: the
// rows of t gathered, their logits by sgemm_cuda, softmax - onehot in place (scaled by 1/M), then
// dbias, dt (scattered back to the rows) and dE from them. fp32 products, the softmax's sums in double.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace splade {

// dt (N,C), dE (V,C), dbias (V) accumulate (+=) the gradient of the mean loss; t (N,C), E (V,C), bias (V):
// device. rows (M): the labelled rows, distinct, in [0, N); row_labels (M): their labels in [0, V); both
// host. Returns the mean loss (rows' losses added in row order: deterministic). Synchronises the stream.
double mlm_head_forward_backward_cuda(float* dt, float* dE, float* dbias, const float* t, const float* E,
                                      const float* bias, const int32_t* rows, const int32_t* row_labels, size_t M,
                                      size_t N, size_t C, size_t V, cudaStream_t stream);

}  // namespace splade
