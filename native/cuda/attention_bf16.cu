// Attention forward on tensor cores (attention_forward_bf16_cuda, see attention.h). Block: 64 query rows
// of one (sequence, head), 4 warps of 16 rows. Per K/V tile of 64 keys, each warp:
//   S (16x64) = Q K^T on WMMA -> shared memory (fp32) -> online softmax, two lanes per row (32 columns
//   each): new max m', corr = exp(m - m'), p = exp(s - m') written back as bf16 over S, l = l corr + sum p
//   -> P V (16xD) on WMMA -> shared memory -> o = o corr + PV in registers (the lane's row, D/2 columns).
// The accumulator fragments' layout is opaque, hence the trips through shared memory for the per-row
// rescaling. Keys past the sequence end are zero-filled and masked with -inf; query rows past it are
// computed on zeros and not written. Shared memory: Q, K, V tiles (3 x 64 x (D+8) bf16) + 4 x 16x68
// floats = 45 KiB for D = 64.
#include <mma.h>

#include <cmath>

#include "attention.h"
#include "cuda_check.h"
#include "device_math.cuh"

namespace splade {
namespace {

using bf16 = __nv_bfloat16;
namespace wmma = nvcuda::wmma;

// kernels

constexpr int kBQ = 64, kBKV = 64, kWarps = 4, kLdS = kBKV + 4, kLdP = kBKV + 8;

// rows [r0, r0 + 64) of one of q | k | v (column offset col) -> dst (64, D + 8); rows >= T are zeros
template <int D>
__device__ __forceinline__ void load_tile(bf16* dst, const bf16* qkv, size_t C3, int s, int r0, int T, size_t col) {
  constexpr int LD = D + 8, kChunks = D / 8;
  for (int c = threadIdx.x; c < 64 * kChunks; c += kWarps * 32) {
    const int r = c / kChunks, k = (c % kChunks) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r0 + r < T) v = *reinterpret_cast<const uint4*>(qkv + size_t(s + r0 + r) * C3 + col + k);
    *reinterpret_cast<uint4*>(dst + r * LD + k) = v;
  }
}

// grid (query tiles, NH, B), 128 threads
template <int D>
__global__ void __launch_bounds__(kWarps * 32) attention_forward_tc_kernel(bf16* out_b, float* out_f, const bf16* qkv,
                                                                           const int32_t* cu_seqlens, size_t C,
                                                                           float scale) {
  constexpr int LD = D + 8, kHalf = D / 2;
  __shared__ __align__(128) bf16 Qs[kBQ * LD];
  __shared__ __align__(128) bf16 Ks[kBKV * LD];
  __shared__ __align__(128) bf16 Vs[kBKV * LD];
  __shared__ __align__(128) float Ss[kWarps][16 * kLdS];
  const int b = blockIdx.z, h = blockIdx.y;
  const int s = cu_seqlens[b], T = cu_seqlens[b + 1] - s;
  const int q0 = blockIdx.x * kBQ;
  if (q0 >= T) return;  // the whole block leaves together
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = lane >> 1, half = lane & 1;  // this lane's row of the warp's 16, and half of the columns
  const size_t C3 = 3 * C;
  float* S = Ss[warp];
  bf16* P = reinterpret_cast<bf16*>(S);  // P (16 x 64, ld kLdP) overwrites S once S is read

  load_tile<D>(Qs, qkv, C3, s, q0, T, h * D);
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qf[D / 16];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) wmma::load_matrix_sync(qf[kk], Qs + warp * 16 * LD + kk * 16, LD);

  float o[kHalf];
#pragma unroll
  for (int e = 0; e < kHalf; ++e) o[e] = 0.0f;
  float m = -INFINITY, l = 0.0f;
  for (int j0 = 0; j0 < T; j0 += kBKV) {
    __syncthreads();  // every warp is done with the previous K / V tiles
    load_tile<D>(Ks, qkv, C3, s, j0, T, C + h * D);
    load_tile<D>(Vs, qkv, C3, s, j0, T, 2 * C + h * D);
    __syncthreads();
    // S = Q K^T
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf[kBKV / 16];
#pragma unroll
    for (int n = 0; n < kBKV / 16; ++n) {
      wmma::fill_fragment(sf[n], 0.0f);
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kf;  // (d, key) at Ks[key * LD + d]
        wmma::load_matrix_sync(kf, Ks + n * 16 * LD + kk * 16, LD);
        wmma::mma_sync(sf[n], qf[kk], kf, sf[n]);
      }
      wmma::store_matrix_sync(S + n * 16, sf[n], kLdS, wmma::mem_row_major);
    }
    __syncwarp();
    // online softmax over this lane's 32 keys of its row
    float sv[kBKV / 2], tmax = -INFINITY;
#pragma unroll
    for (int e = 0; e < kBKV / 2; ++e) {
      const int key = j0 + half * (kBKV / 2) + e;
      sv[e] = key < T ? S[row * kLdS + half * (kBKV / 2) + e] * scale : -INFINITY;
      tmax = fmaxf(tmax, sv[e]);
    }
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
    const float m_new = fmaxf(m, tmax);  // finite: key j0 < T is in every row's tile
    const float corr = expf(m - m_new);  // m == -inf: 0 (o and l are still 0)
    __syncwarp();                        // every lane has read S before P overwrites it
    float psum = 0.0f;
#pragma unroll
    for (int e = 0; e < kBKV / 2; ++e) {
      const float p = expf(sv[e] - m_new);  // masked keys: exp(-inf) = 0
      psum += p;
      P[row * kLdP + half * (kBKV / 2) + e] = __float2bfloat16_rn(p);
    }
    psum += __shfl_xor_sync(0xffffffffu, psum, 1);
    l = l * corr + psum;
    m = m_new;
    __syncwarp();
    // PV = P V
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> of[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(of[n], 0.0f);
#pragma unroll
    for (int kk = 0; kk < kBKV / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pf;
      wmma::load_matrix_sync(pf, P + kk * 16, kLdP);
#pragma unroll
      for (int n = 0; n < D / 16; ++n) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vf;  // (key, d) at Vs[key * LD + d]
        wmma::load_matrix_sync(vf, Vs + kk * 16 * LD + n * 16, LD);
        wmma::mma_sync(of[n], pf, vf, of[n]);
      }
    }
    __syncwarp();  // P is read before PV overwrites it
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(S + n * 16, of[n], kLdS, wmma::mem_row_major);
    __syncwarp();
#pragma unroll
    for (int e = 0; e < kHalf; ++e) o[e] = o[e] * corr + S[row * kLdS + half * kHalf + e];
    __syncwarp();  // read before the next tile's S lands
  }
  const int q = q0 + warp * 16 + row;
  if (q < T) {
    const float inv = 1.0f / l;
    const size_t base = size_t(s + q) * C + h * D + half * kHalf;
#pragma unroll
    for (int e = 0; e < kHalf; ++e) {
      const float v = o[e] * inv;
      if (out_b) out_b[base + e] = __float2bfloat16_rn(v);
      if (out_f) out_f[base + e] = v;
    }
  }
}

}  // namespace

// launchers

bool attention_bf16_supported(size_t C, size_t NH) {
  return NH > 0 && C % NH == 0 && C % 8 == 0 && (C / NH == 64 || C / NH == 32);
}

void attention_forward_bf16_cuda(bf16* out_bf16, float* out, const bf16* qkv, const int32_t* cu_seqlens, int B,
                                 size_t C, size_t NH, int max_len, cudaStream_t stream) {
  if (B == 0) return;
  SPLADE_CHECK((out_bf16 || out) && qkv && cu_seqlens && B > 0 && B <= 65535 && max_len > 0 && NH <= 65535,
               "attention_forward_bf16_cuda: bad arguments");
  SPLADE_CHECK(attention_bf16_supported(C, NH), "attention_forward_bf16_cuda: head size must be 32 or 64, C % 8 == 0");
  SPLADE_CHECK(reinterpret_cast<uintptr_t>(qkv) % 16 == 0, "attention_forward_bf16_cuda: qkv must be 16-byte aligned");
  const size_t d = C / NH;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const dim3 grid(cuda::ceil_div(static_cast<size_t>(max_len), kBQ), static_cast<unsigned>(NH), static_cast<unsigned>(B));
  if (d == 64) attention_forward_tc_kernel<64><<<grid, kWarps * 32, 0, stream>>>(out_bf16, out, qkv, cu_seqlens, C, scale);
  else attention_forward_tc_kernel<32><<<grid, kWarps * 32, 0, stream>>>(out_bf16, out, qkv, cu_seqlens, C, scale);
  CUDA_CHECK_LAUNCH();
}

}  // namespace splade
