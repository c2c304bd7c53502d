// Checks each fast CPU kernel against its plain reference on fresh random inputs with awkward shapes
// (sequence lengths 1..300, head size not a multiple of the vector width, a vocabulary that is not a
// multiple of the tile): the tests call this for every variant in info().supportedCpus.
#pragma once
#include <cstdint>
#include <string>

#include "../common/cpu_features.h"

namespace splade {

struct KernelCheckResult {
  double max_error = 0;   // max over outputs of |fast - ref| / (|ref| + rms(ref))
  size_t non_finite = 0;  // NaN/Inf outputs of the fast kernel
  size_t mismatches = 0;  // integer outputs (argmax) that differ
  size_t checked = 0;     // outputs compared
};

// op: embed | layernorm | attention | splade_pool_max | splade_pool_sum | encoder (fast vs reference),
// backward_layernorm | backward_attention | backward_splade_pool_max | backward_splade_pool_sum |
// encoder_backward (fast backward vs reference backward),
// bmp_group_bounds (the block-max search's block bounds, native/index/bmp_bounds.h; bit for bit),
// bmp_group_mask (a packed group's block mask and class-3 count, bmp_bounds.h; exact),
// gemm_bf16 | gemm_bf16_fallback | splade_pool_max_bf16 | splade_pool_max_bf16_exact (bf16 kernels
// against their references; the AMX ones throw ERR_SPLADE_UNSUPPORTED where AMX is missing),
// or grad_embed | grad_layernorm | grad_attention | grad_gelu | grad_splade_pool_max | grad_splade_pool_sum
// (reference backward vs central differences of the reference forward; isa is ignored)
KernelCheckResult kernel_check(const std::string& op, Isa isa, uint64_t seed);

// The training path's own kernels (train_kernel_check.cpp), with dropout masks fixed by the seed, the same
// two ways: op attention_dropout | splade_pool_sparse | mlm_head | encoder_dropout | encoder_mlm (fast vs
// reference) or grad_ + one of attention_dropout, mlm_head, encoder_dropout, encoder_mlm (central differences).
KernelCheckResult train_kernel_check(const std::string& op, uint64_t seed);

// ModernBERT's kernels (modernbert_check.cpp), reached through kernel_check for every op naming
// modernbert: modernbert_rotary | modernbert_geglu | modernbert_attention_window | modernbert_encoder and
// their backward_ forms (fast vs reference), grad_modernbert_rotary | grad_modernbert_geglu |
// grad_modernbert_attention_window (reference backward vs central differences).
KernelCheckResult modernbert_kernel_check(const std::string& op, Isa isa, uint64_t seed);

}  // namespace splade
