// SGEMM: C = alpha * op(A) * op(B) + beta * C, row-major, then an optional fused epilogue.
// op(X) is X or X^T. The transformer needs NN (activations x weights^T is NT, backward uses NN and
// TN), so all four combinations are accepted. Shapes (row-major, leading dimensions in elements):
//   op(A) is (M,K): A is (M,K) with lda >= K when ta == no, (K,M) with lda >= M when ta == yes
//   op(B) is (K,N): B is (K,N) with ldb >= N when tb == no, (N,K) with ldb >= K when tb == yes
//   C is (M,N) with ldc >= N
// beta == 0 means C is write-only (NaNs already in C do not propagate), as in BLAS.
// The epilogue runs on each finished tile of C, after alpha/beta, in this order:
//   C += bias[n] (bias is (N)), then C += residual[m, n] (residual is (M,N), ld ldr), then activation.
// sgemm dispatches to the active ISA (cpu_features.h) and runs on the shared thread pool: packed and
// cache-blocked (gemm_driver.h) with one micro-kernel per ISA (gemm_generic/avx2/avx512.cpp).
// sgemm_reference is the plain triple loop (double accumulation) the fast versions are tested against.
#pragma once
#include <cstddef>
#include <vector>

#include "../common/cpu_features.h"

namespace splade {

enum class Trans { no = 0, yes = 1 };
enum class Activation { none = 0, gelu = 1 };  // gelu: exact erf form, 0.5 x (1 + erf(x / sqrt 2))

struct Epilogue {
  const float* bias = nullptr;      // (N) or null
  const float* residual = nullptr;  // (M, ldr) or null; may alias C only when it equals C exactly
  size_t ldr = 0;
  Activation activation = Activation::none;
};

// op(B) packed once into one ISA's panel layout (sgemm_pack_b), for products that reuse B: a Linear
// layer's weight at inference is packed at load instead of on every call (packing the transposed weight
// is 5-17% of an SGEMM at BERT's shapes). A view: the floats belong to whoever packed them.
struct PackedB {
  Isa isa = Isa::generic;  // the kernels the layout is for: only sgemm_isa(isa, ...) can read it
  size_t K = 0, N = 0;     // op(B) is (K, N)
  const float* data = nullptr;  // sgemm_packed_b_floats(isa, K, N) floats
};

struct GemmArgs {
  Trans ta = Trans::no, tb = Trans::no;
  size_t M = 0, N = 0, K = 0;
  float alpha = 1.0f;
  const float* A = nullptr;
  size_t lda = 0;
  const float* B = nullptr;
  size_t ldb = 0;
  float beta = 0.0f;
  float* C = nullptr;
  size_t ldc = 0;
  Epilogue epilogue;
  // When set, op(B) is read from this packing (its isa, K and N must match the call's) and B, ldb and
  // tb are not used by the fast kernels (sgemm_reference still reads B).
  const PackedB* packed_b = nullptr;
};

// Validates leading dimensions and pointers (SpladeError on misuse), then computes.
void sgemm(const GemmArgs& args);
void sgemm_isa(Isa isa, const GemmArgs& args);  // a given variant, for tests and benchmarks
void sgemm_reference(const GemmArgs& args);
void sgemm_validate(const GemmArgs& args);      // the checks every entry point runs (SpladeError)

// The machine's FMA throughput as the given ISA sees it: a register-only FMA loop (no memory traffic)
// on `threads` pool threads for about `seconds`, best of a few runs, in GFLOP/s. The ceiling the SGEMM
// is measured against.
double fma_peak_gflops(Isa isa, int threads, double seconds);

// The packed layout: for each K block of the ISA's kernel, ceil(N / NR) panels of (kc, NR), the last
// zero-padded. dst holds sgemm_packed_b_floats(isa, K, N) floats; 64-byte alignment is fastest, any
// alignment is correct. B as for GemmArgs: (K, N) with ldb >= N when tb == no, (N, K) with ldb >= K.
size_t sgemm_packed_b_floats(Isa isa, size_t K, size_t N);
void sgemm_pack_b(Isa isa, Trans tb, size_t K, size_t N, const float* B, size_t ldb, float* dst);

// An owned packing (64-byte aligned) of a constant B, e.g. a weight at load.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(Isa isa, Trans tb, size_t K, size_t N, const float* B, size_t ldb);
  PackedMatrix(PackedMatrix&& o) noexcept { *this = std::move(o); }
  PackedMatrix& operator=(PackedMatrix&& o) noexcept {
    storage_ = std::move(o.storage_);
    view_ = o.view_;
    o.view_ = PackedB{};
    return *this;
  }
  const PackedB* get() const { return view_.data ? &view_ : nullptr; }
  size_t bytes() const { return storage_.size() * sizeof(float); }

 private:
  std::vector<float> storage_;  // over-allocated by 16 floats; view_.data is the 64-byte aligned start
  PackedB view_;
};

float gelu_exact(float x);  // 0.5 x (1 + erf(x / sqrt 2)), as torch.nn.functional.gelu

// Convenience for the common call sites.
inline void sgemm(Trans ta, Trans tb, size_t M, size_t N, size_t K, float alpha, const float* A, size_t lda,
                  const float* B, size_t ldb, float beta, float* C, size_t ldc, const Epilogue& ep = {}) {
  GemmArgs a;
  a.ta = ta; a.tb = tb; a.M = M; a.N = N; a.K = K; a.alpha = alpha; a.A = A; a.lda = lda; a.B = B; a.ldb = ldb;
  a.beta = beta; a.C = C; a.ldc = ldc; a.epilogue = ep;
  sgemm(a);
}

}  // namespace splade
