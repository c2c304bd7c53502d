// AdamW and the global gradient norm on the GPU, over a contiguous parameter block (adamw.h in cpu/ has
// the definitions). The update rounds in the CPU reference's order with no FMA contraction (__fmul_rn /
// __fadd_rn, IEEE sqrt and division), and its scalars are formed on the host exactly as the CPU's are, so
// it gives the CPU's bits. The norm sums in double, in a fixed order: deterministic.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace splade {

// params, m, v, grads (n) and decay_mask (n) or null, all device memory
void adamw_update_cuda(float* params, float* m, float* v, const float* grads, size_t n, float lr, float beta1,
                       float beta2, float eps, float weight_decay, int64_t step, const uint8_t* decay_mask,
                       float grad_scale, cudaStream_t stream);

inline constexpr size_t kGradNormScratch = 257;  // doubles of device scratch grad_norm_sq_cuda needs
// sum_i grads[i]^2; scratch: kGradNormScratch doubles of device memory. Synchronises the stream.
double grad_norm_sq_cuda(const float* grads, size_t n, double* scratch, cudaStream_t stream);

}  // namespace splade
