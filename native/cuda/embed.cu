// Embedding forward on the GPU (see embed.h): one block per packed row; the row's sequence (hence its
// position) is found by binary search in cu_seqlens. The sum is taken in the CPU reference's order.
#include "cuda_check.h"
#include "device_math.cuh"
#include "embed.h"

namespace splade {
namespace {

// kernels

__global__ void embed_forward_kernel(float* out, const int32_t* ids, const int32_t* type_ids,
                                     const int32_t* cu_seqlens, int B, const float* wte, const float* wpe,
                                     const float* wtt, size_t C) {
  const int32_t n = static_cast<int32_t>(blockIdx.x);
  const int lo = cuda::seq_of_row(cu_seqlens, B, n);
  const float* w = wte + static_cast<size_t>(ids[n]) * C;
  const float* p = wpe + static_cast<size_t>(n - cu_seqlens[lo]) * C;
  const float* t = wtt ? wtt + static_cast<size_t>(type_ids ? type_ids[n] : 0) * C : nullptr;
  float* o = out + static_cast<size_t>(n) * C;
  for (size_t c = threadIdx.x; c < C; c += blockDim.x) o[c] = w[c] + p[c] + (t ? t[c] : 0.0f);
}

}  // namespace

// launchers

void embed_forward_cuda(float* out, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens, int B,
                        size_t num_ids, const float* wte, const float* wpe, const float* wtt, size_t C,
                        cudaStream_t stream) {
  if (num_ids == 0 || B <= 0) return;
  SPLADE_CHECK(num_ids <= 0x7fffffffu, "embed_forward_cuda: too many ids");
  embed_forward_kernel<<<static_cast<unsigned>(num_ids), 128, 0, stream>>>(out, ids, type_ids, cu_seqlens, B, wte,
                                                                            wpe, wtt, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
