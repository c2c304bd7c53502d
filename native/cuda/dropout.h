// Inverted dropout on the GPU at the training forward's flat sites (cpu/dropout.h has the masks; the
// attention probabilities' mask is applied inside the attention kernels): the CPU's factors bit for bit.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "../cpu/dropout.h"

namespace splade {

// x (n) *= factor(offset + i), in place (also the backward of itself); nothing when m is inactive
void dropout_apply_cuda(float* x, size_t n, const DropoutMask& m, size_t offset, cudaStream_t stream);
// out (n) = out * factor(i) + residual (n): the residual branch after a dropped projection, as
// linear_dropout_residual does on the CPU (one rounding for the product, one for the sum)
void dropout_residual_cuda(float* out, const float* residual, size_t n, const DropoutMask& m, cudaStream_t stream);

}  // namespace splade
