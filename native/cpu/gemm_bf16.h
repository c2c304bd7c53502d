// Reduced-precision (bf16) GEMM for the encoder's linear layers and the SPLADE decoder:
//   C (M,N) = round_bf16(A) (M,K) . round_bf16(W)^T (K,N), accumulated in fp32, then the gemm.h epilogue
// (bias, residual, GELU). W is an nn.Linear weight (N,K), rounded to bf16 and packed once (Bf16Weight);
// A is fp32 and rounded to bf16 per call (round to nearest even).
//
// Fast path: AMX-BF16 tiles (Sapphire Rapids and later; the OS must grant the tile state, which
// bf16_fast_available() requests once). Without AMX, AVX512_BF16's vdpbf16ps (Cooper Lake, Zen 4; on the
// same packing, gemm_bf16_avx512.cpp) when the avx512 variant is active. Without either, a correct and slower path runs the same math
// through the fp32 SGEMM on bf16-rounded operands (unpacked panel by panel). gemm_bf16_reference is the
// plain loop the fast paths are tested against.
//
// Packed layout (what AMX's TDPBF16PS reads as its B operand): W is padded to Np = ceil(N/32)*32 rows
// and Kp = ceil(K/32)*32 columns with zeros and cut into 16-column x 32-k tiles; tile (nb, kb) holds
// 16 k-pairs x 16 columns x 2, i.e. element [p][n][e] = W[nb*16 + n][kb*32 + 2p + e], 1 KiB, and tiles
// are stored nb-major: data[((nb * KB) + kb) * 512 + ...] with KB = Kp / 32.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gemm.h"
#include "splade_pool.h"

namespace splade {

inline uint16_t bf16_round(float x) {  // round to nearest even; NaN stays NaN
  uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

struct Bf16Weight {
  size_t N = 0, K = 0, Np = 0, Kp = 0;
  std::vector<uint16_t> data;  // Np * Kp, packed as above
  float at(size_t n, size_t k) const;  // the rounded W[n][k] (for the fallback and tests)
};

// W is (N,K) with row stride ldw >= K.
Bf16Weight bf16_pack_weight(const float* W, size_t N, size_t K, size_t ldw);

// True when the AMX-BF16 kernels can run here (CPU has AMX-TILE + AMX-BF16 and the OS granted the
// tile state); SPLADE_BF16=fallback forces the portable path, SPLADE_BF16=avx512_bf16 the vdpbf16ps one
// (for tests and comparisons on a machine with AMX).
bool bf16_fast_available();
// True when the vdpbf16ps kernels can run now (AVX512_BF16, the avx512 variant active, not forced off).
bool bf16_dp_available();
// "amx", "avx512_bf16" or "fallback": what gemm_bf16 runs here now
const char* bf16_kernel_name();

// C (M,N), ldc >= N; A (M,K), lda >= K; the epilogue as gemm.h (residual (M,N) with ld ldr, not C).
void gemm_bf16(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep);
// A given variant: amx = false runs the portable path even where AMX exists.
void gemm_bf16_variant(bool amx, float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W,
                       const Epilogue& ep);
// The vdpbf16ps kernels (ERR_SPLADE_UNSUPPORTED without AVX512_BF16), whatever the active variant.
void gemm_bf16_dp(float* C, size_t ldc, const float* A, size_t lda, size_t M, const Bf16Weight& W, const Epilogue& ep);
// The plain reference: W (N,K) fp32 with stride ldw, both operands rounded to bf16, double accumulation.
void gemm_bf16_reference(float* C, size_t ldc, const float* A, size_t lda, size_t M, const float* W, size_t ldw,
                         size_t N, size_t K, const Epilogue& ep);

// The tied decoder fused with max pooling (splade_pool.h), from a bf16-packed E (V,C):
//   exact = false: w[b,j] = log1p(relu(max_n (round(t_n) . round(E_j)) + bias_j)), the bf16 logits.
//   exact = true:  the fp32 result of splade_pool_forward (same w and argmax up to fp32 rounding): the
//     bf16 logits only screen; a token is re-scored in fp32 (t_n . E_j from t and E32) where its bf16
//     logit plus a rigorous bound on its error could beat the best lower bound of its sequence. With
//     t~, E~ the rounded rows, Cauchy-Schwarz on t.E - t~.E~ = t~.(E - E~) + (t - t~).E gives
//       |bf16 logit - fp32 logit| <= |t~| |E - E~| + |t - t~| |E| + g (|t~| |E~| + |t| |E|)
//     (g: fp32 accumulation over K, in the AMX sum and in the fp32 one we stand in for), from the
//     actual rounding residuals rather than their worst case. The max and its argmax are therefore
//     those of fp32 logits; only the few tokens near the top are computed in fp32.
//     e_norms is (3, V) as bf16_row_norms(E) gives it.
// Needs bf16_fast_available() (AMX); t is (N,C), E32 (V,C) fp32, bias (V).
void splade_pool_max_bf16(float* w, int32_t* argmax, const float* t, const Bf16Weight& E, const float* E32,
                          const float* e_norms, const float* bias, const int32_t* cu_seqlens, int B, bool exact);

// (3, N) for the rows of W (N,K), stride ldw: |W_n|, |round_bf16(W_n)|, |W_n - round_bf16(W_n)| (the
// norms the exact decoder's error bound is made of)
std::vector<float> bf16_row_norms(const float* W, size_t N, size_t K, size_t ldw);

}  // namespace splade
