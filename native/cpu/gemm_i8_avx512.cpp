// The int8 block kernel on AVX-512 VNNI (gemm_i8.h): vpdpbusd multiplies 4 u8 activations by 4 s8
// weights and adds the 4 products into an int32 lane, 64 multiply-adds an instruction, in the register
// block of zmm_dot_tile.h (6 rows x 64 columns, 24 accumulators).
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "gemm_i8.h"

#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")
#endif

#include "zmm_dot_tile.h"

namespace splade::i8 {
namespace {

struct Dpbusd {  // a functor, not a lambda: a lambda would not get the region's target
  __attribute__((always_inline)) __m512i operator()(__m512i c, __m512i a, __m512i b) const { return _mm512_dpbusd_epi32(c, a, b); }
};

}  // namespace

void block_avx512_vnni(int32_t* acc, const uint8_t* Aq, size_t Kp, size_t rows, const int8_t* Wp, size_t panels) {
  // a group is 4 k (4 bytes of a row), a panel's group 16 columns x 4 bytes
  zmm_dot::block(acc, Aq, Kp, rows, reinterpret_cast<const uint8_t*>(Wp), panels, Dpbusd{});
}

}  // namespace splade::i8

#include "target_region_pop.h"
#endif
