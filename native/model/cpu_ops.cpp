// The two CPU op tables and the linear layer; see cpu_ops.h.
#include "cpu_ops.h"

#include "../common/thread_pool.h"

namespace splade {

const CpuOps& cpu_ops(bool reference) {
  static const CpuOps fast{false, &sgemm, &embed_forward, &layernorm_forward, &layernorm_backward, &attention_forward,
                           &attention_train_forward, &attention_train_backward, &gelu_forward, &gelu_backward,
                           &splade_pool_forward, &splade_pool_backward, &mlm_head_forward_backward};
  static const CpuOps ref{true, &sgemm_reference, &embed_forward_ref, &layernorm_forward_ref, &layernorm_backward_ref,
                          &attention_forward_ref, &attention_train_forward_ref, &attention_train_backward_ref,
                          &gelu_forward_ref, &gelu_backward_ref, &splade_pool_forward_ref, &splade_pool_backward_ref,
                          &mlm_head_forward_backward_ref};
  return reference ? ref : fast;
}

void linear_forward(const CpuOps& ops, float* out, const float* inp, const float* W, const float* b, size_t M, size_t Nout,
                    size_t K, const float* residual, Activation act, const Bf16Weight* w16, const PackedMatrix* w32, const I8Weight* w8) {
  GemmArgs g;
  g.ta = Trans::no; g.tb = Trans::yes; g.M = M; g.N = Nout; g.K = K;
  g.A = inp; g.lda = K; g.B = W; g.ldb = K; g.C = out; g.ldc = Nout;
  g.epilogue.bias = b;
  g.epilogue.residual = residual;
  g.epilogue.ldr = residual ? Nout : 0;
  g.epilogue.activation = act;
  // A packing is for the ISA active when it was made (setCpu may have switched since): else pack per call.
  if (w32 && w32->get() && w32->get()->isa == active_isa()) g.packed_b = w32->get();
  if (w16) gemm_bf16(out, Nout, inp, K, M, *w16, g.epilogue);
  else if (w8) gemm_i8(out, Nout, inp, K, M, *w8, g.epilogue);
  else ops.gemm(g);
}

namespace {

void gemm_acc(const CpuOps& ops, Trans ta, Trans tb, size_t M, size_t N, size_t K, const float* A, size_t lda,
              const float* B, size_t ldb, float* C, size_t ldc) {  // C += op(A) op(B)
  GemmArgs g;
  g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.A = A; g.lda = lda; g.B = B; g.ldb = ldb;
  g.beta = 1.0f; g.C = C; g.ldc = ldc;
  ops.gemm(g);
}

}  // namespace

void linear_backward(const CpuOps& ops, float* dinp, float* dW, float* db, const float* dout, const float* inp,
                     const float* W, size_t M, size_t Nout, size_t K) {
  if (dinp) gemm_acc(ops, Trans::no, Trans::no, M, K, Nout, dout, Nout, W, K, dinp, K);
  gemm_acc(ops, Trans::yes, Trans::no, Nout, K, M, dout, Nout, inp, K, dW, K);
  // each thread owns a range of columns; rows in order, so the sums do not depend on the thread count
  parallel_range(Nout, [&](size_t n0, size_t n1, int) {
    for (size_t m = 0; m < M; ++m)
      for (size_t n = n0; n < n1; ++n) db[n] += dout[m * Nout + n];
  });
}

}  // namespace splade
