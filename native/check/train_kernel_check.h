// Checks of the training path's own kernels (the tests call it through the train binding): fast
// against reference, and reference backward against central differences of the reference forward,
// with dropout masks fixed by a seed. Same result type as kernel_check (kernel_check.h).
#pragma once
#include <cstdint>
#include <string>

#include "kernel_check.h"

namespace splade {

// op: attention_dropout | grad_attention_dropout | splade_pool_sparse | mlm_head | grad_mlm_head |
// encoder_dropout | grad_encoder_dropout | encoder_mlm | grad_encoder_mlm
KernelCheckResult train_kernel_check(const std::string& op, uint64_t seed);

}  // namespace splade
