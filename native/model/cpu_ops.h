// The CPU kernels an encoder pass calls, as one table chosen once per pass: the fast kernels (vectorised,
// threaded, ISA-dispatched) or the plain references (the tests' baseline), instead of a `bool reference`
// at every call. And the one linear layer, over the table's GEMM.
#pragma once
#include <cstddef>

#include "../cpu/attention.h"
#include "../cpu/attention_train.h"
#include "../cpu/embed.h"
#include "../cpu/gelu.h"
#include "../cpu/gemm.h"
#include "../cpu/gemm_bf16.h"
#include "../cpu/gemm_i8.h"
#include "../cpu/layernorm.h"
#include "../cpu/splade_head_train.h"
#include "../cpu/splade_pool.h"

namespace splade {

struct CpuOps {
  bool reference;  // the plain references: no packed weights, no sparse shortcuts either
  decltype(&sgemm_reference) gemm;
  decltype(&embed_forward_ref) embed_forward;
  decltype(&layernorm_forward_ref) layernorm_forward;
  decltype(&layernorm_backward_ref) layernorm_backward;
  decltype(&attention_forward_ref) attention_forward;
  decltype(&attention_train_forward_ref) attention_train_forward;
  decltype(&attention_train_backward_ref) attention_train_backward;
  decltype(&gelu_forward_ref) gelu_forward;
  decltype(&gelu_backward_ref) gelu_backward;
  decltype(&splade_pool_forward_ref) splade_pool_forward;
  decltype(&splade_pool_backward_ref) splade_pool_backward;
  decltype(&mlm_head_forward_backward_ref) mlm_head_forward_backward;
};
const CpuOps& cpu_ops(bool reference);

// out (M, Nout) = inp (M, K) W^T + b [+ residual (M, Nout)] [then act]; W (Nout, K) as nn.Linear stores it.
// On the bf16 copy w16 or the int8 copy w8 when given; else ops.gemm, on the fp32 packing w32 when it is
// for the active ISA.
void linear_forward(const CpuOps& ops, float* out, const float* inp, const float* W, const float* b, size_t M, size_t Nout,
                    size_t K, const float* residual = nullptr, Activation act = Activation::none,
                    const Bf16Weight* w16 = nullptr, const PackedMatrix* w32 = nullptr, const I8Weight* w8 = nullptr);
// dinp (M,K) += dout W (unless null); dW (Nout,K) += dout^T inp; db (Nout) += column sums of dout (M,Nout)
void linear_backward(const CpuOps& ops, float* dinp, float* dW, float* db, const float* dout, const float* inp,
                     const float* W, size_t M, size_t Nout, size_t K);

}  // namespace splade
