// Int8 GEMM for the encoder's linear layers (precision 'int8'), as ONNX Runtime's dynamic quantization:
//   weights W (N,K) quantised once per output channel (symmetric, s8 in [-127, 127], scale |W_n|max/127);
//   activations A (M,K) per token at run time (asymmetric, u8 in [0, 127] with a zero point, the range
//   widened to hold 0), products summed exactly in int32, then
//   C[m,n] = float(acc - zp_m * colsum_n) * (sa_m * sw_n), then the gemm.h epilogue (bias, residual, GELU).
// Activations take 7 bits, not 8, so that AVX2's vpmaddubsw (u8 x s8 pairs summed into a saturating
// int16) can never saturate: 2 * 127 * 127 < 32767. An asymmetric 7-bit code spans [min, max] with the
// same step as a symmetric 8-bit one spans [-max|x|, max|x|], and every kernel (AVX-512 VNNI, AVX-VNNI,
// AVX2, generic) then computes the same integers: the results are bit-identical across paths.
// Where AVX2 is the best kernel (no VNNI), weights take 7 bits (qmax 63, as onnxruntime's reduce_range
// for the same instruction): two vpmaddubsw results then sum exactly in int16 lanes (2 * 2 * 127 * 63 <
// 32767) before one vpmaddwd widens them, 3 multiplies for 64 products instead of 4. The kernel is chosen
// by the packed weight (qmax), so any kernel on any packing still computes the reference's integers.
//
// Packed weight layout (what vpdpbusd reads as its s8 operand): N padded to Np = ceil(N/16)*16 columns,
// K to Kp = ceil(K/4)*4; panel p of 16 columns holds, for each group of 4 k, 16 columns x 4 bytes:
// data[(p * Kp/4 + k/4) * 64 + (n % 16) * 4 + k % 4] = q(W[p*16 + n%16][k]), padding 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gemm.h"

namespace splade {

struct I8Weight {
  size_t N = 0, K = 0, Np = 0, Kp = 0;
  std::vector<int8_t> data;     // Np * Kp, packed as above
  std::vector<float> scale;     // (N) per output channel
  std::vector<int32_t> colsum;  // (N) sum over k of the quantised W[n][k] (the zero point's compensation)
  int qmax = 127;               // the codes' range [-qmax, qmax]: 127, or 63 for AVX2's paired kernel
  int8_t at(size_t n, size_t k) const { return data[((n / 16) * (Kp / 4) + k / 4) * 64 + (n % 16) * 4 + k % 4]; }
  size_t bytes() const { return data.size() + scale.size() * 4 + colsum.size() * 4; }
};
// W is (N,K) with row stride ldw >= K; qmax 127 or 63 (scale |W_n|max / qmax).
I8Weight i8_pack_weight(const float* W, size_t N, size_t K, size_t ldw, int qmax = 127);

// One row of A quantised: q (Kp bytes, zero-padded past K), its scale and zero point. The one rule every
// kernel and the reference share: lo = min(0, min x), hi = max(0, max x), s = (hi - lo) / 127 (1 when
// hi == lo), zp = clamp(rint(-lo / s), 0, 127), q = clamp(rint(x / s) + zp, 0, 127) (round to nearest even).
void i8_quantize_row(uint8_t* q, float* scale, int32_t* zp, const float* x, size_t K, size_t Kp);

// The integer kernels, in order of preference where the CPU has them.
enum class I8Kernel { generic = 0, avx2 = 1, avx_vnni = 2, avx512_vnni = 3 };
const char* i8_kernel_name(I8Kernel k);
bool i8_kernel_supported(I8Kernel k);
// What gemm_i8 runs now: SPLADE_INT8=avx512_vnni|avx_vnni|avx2|generic when supported, else the best the
// active CPU variant allows (avx512: VNNI on zmm; avx2 or avx512: AVX-VNNI; then AVX2; generic: generic).
I8Kernel i8_active_kernel();
// The weight range a kernel runs fastest on: 63 for avx2 (its paired kernel), 127 for the others.
int i8_weight_qmax(I8Kernel k);
// i8_pack_weight with the qmax of the kernel gemm_i8 runs now (what the model packs with)
I8Weight i8_pack_weight_active(const float* W, size_t N, size_t K, size_t ldw);

// C (M,N), ldc >= N; A (M,K), lda >= K; the epilogue as gemm.h (residual (M,N) with ld ldr, not C).
void gemm_i8(float* C, size_t ldc, const float* A, size_t lda, size_t M, const I8Weight& W, const Epilogue& ep);
void gemm_i8_variant(I8Kernel k, float* C, size_t ldc, const float* A, size_t lda, size_t M, const I8Weight& W,
                     const Epilogue& ep);
// The plain reference: W (N,K) fp32 with stride ldw, both operands quantised by the rules above (weights
// with qmax), int64 sums, the same dequantisation, and gelu_exact.
void gemm_i8_reference(float* C, size_t ldc, const float* A, size_t lda, size_t M, const float* W, size_t ldw,
                       size_t N, size_t K, const Epilogue& ep, int qmax = 127);

// Internal: the per-ISA block kernels (gemm_i8_avx2.cpp, gemm_i8_avx512.cpp). Each computes rows
// [m0, m1) x panels [p0, p1) of the int32 products into acc (rows x (p1-p0)*16, ld (p1-p0)*16).
namespace i8 {
using BlockFn = void (*)(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels);
void block_generic(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels);
#if defined(__x86_64__) || defined(_M_X64)
void block_avx2(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels);
// weights within [-63, 63] only: two 4-k groups summed in int16 before widening
void block_avx2_pairs(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels);
void block_avx_vnni(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels);
void block_avx512_vnni(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels);
// i8_quantize_row on 8 floats at a time, bit-identical to it
void quantize_row_avx2(uint8_t* q, float* scale, int32_t* zp, const float* x, size_t K, size_t Kp);
#endif
// The block kernel gemm_i8_variant runs for kernel k on W (avx2: the paired one when W.qmax <= 63)
BlockFn block_for(I8Kernel k, const I8Weight& W);
// Rows [0, M) of A (M, K), lda, quantised into q (M, Kp), sa, zp (M), on the threads.
void quantize_rows(I8Kernel k, uint8_t* q, float* sa, int32_t* zp, const float* A, size_t lda, size_t M, size_t K,
                   size_t Kp);
// acc (rows x cols, ld ld_acc) of rows [m0, m0 + rows) and columns [n0, n0 + cols) dequantised into C
// (which points at that block's first element), then bias and residual (gemm.h's epilogue, no GELU).
void dequant_block(I8Kernel k, float* C, size_t ldc, const int32_t* acc, size_t ld_acc, size_t rows, size_t cols,
                   size_t m0, size_t n0, const float* sa, const int32_t* zp, const I8Weight& W, const Epilogue& ep);
// The scale and zero point of a row with extremes lo <= 0 <= hi (i8_quantize_row's rule)
inline void quant_params(float lo, float hi, float* s, int32_t* z) {
  *s = hi > lo ? (hi - lo) / 127.0f : 1.0f;
  const float zf = __builtin_nearbyintf(-lo / *s);
  *z = static_cast<int32_t>(zf < 0.0f ? 0.0f : zf > 127.0f ? 127.0f : zf);
}
inline uint8_t quant_one(float x, float s, int32_t z) {
  const float v = __builtin_nearbyintf(x / s) + static_cast<float>(z);
  return static_cast<uint8_t>(v < 0.0f ? 0.0f : v > 127.0f ? 127.0f : v);
}
}  // namespace i8

}  // namespace splade
