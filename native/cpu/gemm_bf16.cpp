// bf16 GEMM (gemm_bf16.h): weight packing, the plain reference, the portable fallback (fp32 SGEMM on
// bf16-rounded operands) and the choice between it and the AMX kernels (gemm_bf16_amx.cpp).
#include "gemm_bf16.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "../common/cpu_features.h"
#include "../common/error.h"
#include "../common/thread_pool.h"

namespace splade {

namespace amx {  // gemm_bf16_amx.cpp
// A (M,K) -> (Mp,Kp) bf16 rows, zero-padded, vectorised
void round_rows(uint16_t* out, const float* A, size_t lda, size_t M, size_t K, size_t Kp, size_t Mp);
// The same values in tile order: 16-row x 32-k tiles of 1 KiB, (m/16)-major then K-block (as B is packed)
void round_tiles(uint16_t* out, const float* A, size_t lda, size_t M, size_t K, size_t Kp, size_t Mp);
void gemm(float* C, size_t ldc, const uint16_t* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep);
void pool_max(float* w, int32_t* argmax, const uint16_t* A, size_t lda, const float* t, const float* t_norms,
              const Bf16Weight& E, const float* E32, const float* e_norms, const float* bias, const int32_t* cu_seqlens,
              int B, bool exact);
}  // namespace amx
namespace bf16dp {  // gemm_bf16_avx512.cpp
void gemm(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep);
}  // namespace bf16dp

float Bf16Weight::at(size_t n, size_t k) const {
  const size_t nb = n / 16, kb = k / 32, p = (k % 32) / 2, e = k % 2;
  return bf16_to_float(data[(nb * (Kp / 32) + kb) * 512 + p * 32 + (n % 16) * 2 + e]);
}

Bf16Weight bf16_pack_weight(const float* W, size_t N, size_t K, size_t ldw) {
  SPLADE_CHECK(N > 0 && K > 0 && ldw >= K && W != nullptr, "bf16_pack_weight: bad shape");
  Bf16Weight P;
  P.N = N, P.K = K, P.Np = (N + 31) / 32 * 32, P.Kp = (K + 31) / 32 * 32;
  P.data.assign(P.Np * P.Kp, 0);
  const size_t KB = P.Kp / 32;
  parallel_range(P.Np / 16, [&](size_t nb0, size_t nb1, int) {
    for (size_t nb = nb0; nb < nb1; ++nb) {
      for (size_t n = nb * 16; n < std::min(N, nb * 16 + 16); ++n) {
        const float* row = W + n * ldw;
        for (size_t k = 0; k < K; ++k)
          P.data[(nb * KB + k / 32) * 512 + ((k % 32) / 2) * 32 + (n % 16) * 2 + k % 2] = bf16_round(row[k]);
      }
    }
  });
  return P;
}

namespace {

bool detect_amx() {
  const char* force = std::getenv("SPLADE_BF16");
  if (force && std::strcmp(force, "fallback") == 0) return false;
  if (force && std::strcmp(force, "avx512_bf16") == 0) return false;
#if !defined(SPLADE_X86)
  return false;  // AMX is x86-64 only
#else
  if (!x86_extensions().amx_bf16) return false;
  // Linux keeps the 8 KiB tile state off until a process asks for it (ARCH_REQ_XCOMP_PERM, XTILEDATA).
#ifdef SYS_arch_prctl
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
#endif  // SPLADE_X86
}

// A (M,K) fp32 -> (Mp,Kp) bf16 for the AMX kernels, zero-padded: Mp = ceil(M/32)*32 + extra_rows rows
// (they read 32-row blocks; the decoder's may start at any row). Slot 0 (GEMM operands) is in tile
// order (amx::round_tiles), slot 1 (the decoder's) row-major. Into a per-thread buffer that only grows
// (slot 0: GEMM operands, slot 1: the decoder's), so steady-state calls neither allocate nor fault pages in.
const uint16_t* round_rows(int slot, const float* A, size_t lda, size_t M, size_t K, size_t Kp, size_t extra_rows = 0) {
  thread_local std::vector<uint16_t> buffers[2];
  std::vector<uint16_t>& out = buffers[slot];
  const size_t Mp = (M + 31) / 32 * 32 + extra_rows;
  if (out.size() < Mp * Kp) out.resize(Mp * Kp);
  if (slot == 0) amx::round_tiles(out.data(), A, lda, M, K, Kp, Mp);
  else amx::round_rows(out.data(), A, lda, M, K, Kp, Mp);
  return out.data();
}

// The portable path: A rounded to bf16 (kept in fp32), W unpacked kPanel rows at a time, fp32 SGEMM.
void gemm_bf16_fallback(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W,
                        const Epilogue& ep) {
  const size_t K = W.K;
  std::vector<float> a(M * K);
  parallel_range(M, [&](size_t m0, size_t m1, int) {
    for (size_t m = m0; m < m1; ++m)
      for (size_t k = 0; k < K; ++k) a[m * K + k] = bf16_to_float(bf16_round(A[m * lda + k]));
  });
  constexpr size_t kPanel = 512;
  std::vector<float> w(std::min(kPanel, W.N) * K);
  for (size_t n0 = 0; n0 < W.N; n0 += kPanel) {
    const size_t nc = std::min(kPanel, W.N - n0);
    parallel_range(nc, [&](size_t i0, size_t i1, int) {
      for (size_t i = i0; i < i1; ++i)
        for (size_t k = 0; k < K; ++k) w[i * K + k] = W.at(n0 + i, k);
    });
    Epilogue e = ep;
    if (e.bias) e.bias += n0;
    if (e.residual) e.residual += n0;
    sgemm(Trans::no, Trans::yes, M, nc, K, 1.0f, a.data(), K, w.data(), K, 0.0f, C + n0, ldc, e);
  }
}

void check_gemm(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep) {
  SPLADE_CHECK(W.N > 0 && W.K > 0 && W.data.size() == W.Np * W.Kp, "gemm_bf16: the weight is not packed");
  SPLADE_CHECK(M == 0 || (C != nullptr && A != nullptr), "gemm_bf16: A or C is null");
  SPLADE_CHECK(ldc >= W.N && lda >= W.K, "gemm_bf16: a leading dimension is too small");
  SPLADE_CHECK(!ep.residual || (ep.ldr >= W.N && ep.residual != C), "gemm_bf16: bad residual");
}

}  // namespace

bool bf16_fast_available() {
  static const bool ok = detect_amx();
  return ok;
}

bool bf16_dp_available() {
  static const bool forced_off = [] {
    const char* force = std::getenv("SPLADE_BF16");
    return force && std::strcmp(force, "fallback") == 0;
  }();
  return !forced_off && x86_extensions().avx512_bf16 && active_isa() == Isa::avx512;
}

const char* bf16_kernel_name() { return bf16_fast_available() ? "amx" : bf16_dp_available() ? "avx512_bf16" : "fallback"; }

void gemm_bf16_dp(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep) {
  check_gemm(C, ldc, A, lda, M, W, ep);
  if (M == 0) return;
  if (!x86_extensions().avx512_bf16) fail(kUnsupported, "this CPU cannot run the AVX512_BF16 kernels");
#if defined(__x86_64__) || defined(_M_X64)
  bf16dp::gemm(C, ldc, A, lda, M, W, ep);
#endif
}

void gemm_bf16_variant(bool use_amx, float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W,
                       const Epilogue& ep) {
  check_gemm(C, ldc, A, lda, M, W, ep);
  if (M == 0) return;
  if (use_amx && !bf16_fast_available()) fail(kUnsupported, "this CPU (or OS) cannot run the AMX-BF16 kernels");
  if (!use_amx) return gemm_bf16_fallback(C, ldc, A, lda, M, W, ep);
  const uint16_t* a = round_rows(0, A, lda, M, W.K, W.Kp);
  amx::gemm(C, ldc, a, W.Kp, M, W, ep);
}

void gemm_bf16(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep) {
  if (!bf16_fast_available() && bf16_dp_available()) return gemm_bf16_dp(C, ldc, A, lda, M, W, ep);
  gemm_bf16_variant(bf16_fast_available(), C, ldc, A, lda, M, W, ep);
}

void gemm_bf16_reference(float* C, size_t ldc, const float* A, size_t lda, size_t M, const float* W, size_t ldw,
                         size_t N, size_t K, const Epilogue& ep) {
  for (size_t m = 0; m < M; ++m) {
    for (size_t n = 0; n < N; ++n) {
      double acc = 0;
      for (size_t k = 0; k < K; ++k)
        acc += static_cast<double>(bf16_to_float(bf16_round(A[m * lda + k]))) * bf16_to_float(bf16_round(W[n * ldw + k]));
      if (ep.bias) acc += ep.bias[n];
      if (ep.residual) acc += ep.residual[m * ep.ldr + n];
      float out = static_cast<float>(acc);
      if (ep.activation == Activation::gelu) out = gelu_exact(out);
      C[m * ldc + n] = out;
    }
  }
}

std::vector<float> bf16_row_norms(const float* W, size_t N, size_t K, size_t ldw) {
  std::vector<float> out(3 * N);
  parallel_range(N, [&](size_t n0, size_t n1, int) {
    for (size_t n = n0; n < n1; ++n) {
      double w2 = 0, r2 = 0, d2 = 0;
      for (size_t k = 0; k < K; ++k) {
        const double w = W[n * ldw + k], r = bf16_to_float(bf16_round(W[n * ldw + k]));
        w2 += w * w, r2 += r * r, d2 += (w - r) * (w - r);
      }
      out[n] = static_cast<float>(std::sqrt(w2));
      out[N + n] = static_cast<float>(std::sqrt(r2));
      out[2 * N + n] = static_cast<float>(std::sqrt(d2));
    }
  });
  return out;
}

void splade_pool_max_bf16(float* w, int32_t* argmax, const float* t, const Bf16Weight& E, const float* E32,
                          const float* e_norms, const float* bias, const int32_t* cu_seqlens, int B, bool exact) {
  if (!bf16_fast_available()) fail(kUnsupported, "splade_pool_max_bf16 needs the AMX-BF16 kernels");
  const size_t N = static_cast<size_t>(cu_seqlens[B]), C = E.K;
  const std::vector<float> t_norms = exact ? bf16_row_norms(t, N, C, C) : std::vector<float>();
  std::vector<int32_t> own;
  if (!argmax) {
    own.resize(static_cast<size_t>(B) * E.N);
    argmax = own.data();
  }
  const uint16_t* a = round_rows(1, t, C, N, C, E.Kp, /*extra_rows=*/32);
  amx::pool_max(w, argmax, a, E.Kp, t, t_norms.data(), E, E32, e_norms, bias, cu_seqlens, B, exact);
}

}  // namespace splade
