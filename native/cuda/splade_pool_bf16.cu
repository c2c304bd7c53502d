// SPLADE head + pooling on tensor cores (splade_pool_forward_bf16_cuda, see splade_pool.h).
// The packed rows are cut into 128-row tiles regardless of sequence boundaries; a segment is the part of
// one sequence inside one tile. Segments sorted by sequence are also sorted by tile (sequences are
// contiguous in row order), so one list serves both kernels:
//   tile kernel   grid (V / 128, tiles): the 128 x 128 logits of its tile (tc::mma_block) staged in shared
//                 memory, then one thread per (segment, term) reduces the segment's rows in order into the
//                 partial (max logit and its row, or the sum of log1p(relu)) of that segment and term;
//   merge kernel  grid (V / 128, B): one thread per (sequence, term) combines its segments' partials in
//                 row order (strict > keeps the first maximum, as the reference does) into w and argmax.
#include <algorithm>
#include <vector>

#include "cuda_check.h"
#include "device_math.cuh"
#include "splade_pool.h"
#include "tc_tile.cuh"

namespace splade {
namespace {

// kernels

constexpr int kLdTile = cuda::tc::BN + 4;  // staged logits row: 132 floats
constexpr int kTileSmem = cuda::tc::BM * kLdTile * 4 > cuda::tc::kSmemBytes ? cuda::tc::BM * kLdTile * 4
                                                                              : cuda::tc::kSmemBytes;  // 67584

__global__ void __launch_bounds__(cuda::tc::kThreads)
    splade_pool_tile_kernel(float* part_val, int32_t* part_arg, const __nv_bfloat16* t, const __nv_bfloat16* E,
                            const float* bias, const PoolSegment* segs, const int32_t* tile_segs, size_t N, size_t C,
                            size_t V, int sum_pooling) {
  using namespace cuda::tc;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const int tile = blockIdx.y;
  const size_t m0 = size_t(tile) * BM, n0 = size_t{blockIdx.x} * BN;
  FragC acc[4][2];
  mma_block<false, true>(acc, t, C, m0, N, E, C, n0, V, C, reinterpret_cast<__nv_bfloat16*>(smem_raw));  // ends synchronised
  float* logits = reinterpret_cast<float*>(smem_raw);  // (128, kLdTile): the stages are free now
  const int warp = threadIdx.x / 32, wm = warp & 1, wn = warp >> 1;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      nvcuda::wmma::store_matrix_sync(logits + (wm * 64 + i * 16) * kLdTile + wn * 32 + j * 16, acc[i][j], kLdTile,
                                      nvcuda::wmma::mem_row_major);
  __syncthreads();
  const int col = threadIdx.x % BN, first = threadIdx.x / BN;  // two threads per term: alternate segments
  const size_t term = n0 + col;
  if (term >= V) return;
  const float bj = bias[term];
  for (int k = tile_segs[tile] + first; k < tile_segs[tile + 1]; k += kThreads / BN) {
    float best = 0.0f, sum = 0.0f;
    int arg = -1;
    for (int r = segs[k].row_begin; r < segs[k].row_end; ++r) {
      const float x = logits[(r - static_cast<int>(m0)) * kLdTile + col] + bj;
      if (sum_pooling) {
        if (x > 0.0f) sum += log1pf(x);
      } else if (x > best) {
        best = x;
        arg = r;
      }
    }
    part_val[size_t(k) * V + term] = sum_pooling ? sum : best;
    part_arg[size_t(k) * V + term] = arg;
  }
}

__global__ void splade_pool_merge_kernel(float* w, int32_t* argmax, const float* part_val, const int32_t* part_arg,
                                         const int32_t* seq_segs, size_t V, int sum_pooling) {
  const int b = blockIdx.y;
  const size_t term = size_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (term >= V) return;
  float best = 0.0f, sum = 0.0f;
  int arg = -1;
  for (int k = seq_segs[b]; k < seq_segs[b + 1]; ++k) {  // segments in row order
    const float v = part_val[size_t(k) * V + term];
    if (sum_pooling) {
      sum += v;
    } else if (v > best) {
      best = v;
      arg = part_arg[size_t(k) * V + term];
    }
  }
  w[size_t(b) * V + term] = sum_pooling ? sum : log1pf(best);
  if (argmax) argmax[size_t(b) * V + term] = sum_pooling ? -1 : arg;
}

}  // namespace

PoolPlan make_pool_plan(const int32_t* cu, int B, int tile_rows) {
  SPLADE_CHECK(B >= 0 && tile_rows > 0 && cu[0] == 0, "make_pool_plan: bad arguments (cu_seqlens[0] must be 0)");
  PoolPlan p;
  p.seq_segs.assign(B + 1, 0);
  for (int b = 0; b < B; ++b) {
    SPLADE_CHECK(cu[b + 1] >= cu[b], "make_pool_plan: cu_seqlens must not decrease");
    p.seq_segs[b] = static_cast<int32_t>(p.segs.size());
    for (int32_t r = cu[b]; r < cu[b + 1];) {
      const int32_t end = std::min<int32_t>(cu[b + 1], (r / tile_rows + 1) * tile_rows);
      p.segs.push_back({r, end});
      r = end;
    }
  }
  p.seq_segs[B] = static_cast<int32_t>(p.segs.size());
  const size_t tiles = (static_cast<size_t>(cu[B]) + tile_rows - 1) / tile_rows;
  p.tile_segs.assign(tiles + 1, static_cast<int32_t>(p.segs.size()));
  for (size_t k = p.segs.size(); k-- > 0;) p.tile_segs[p.segs[k].row_begin / tile_rows] = static_cast<int32_t>(k);
  return p;
}

// launchers

void splade_pool_forward_bf16_cuda(float* w, int32_t* argmax, const __nv_bfloat16* t, const __nv_bfloat16* E,
                                   const float* bias, const int32_t* cu_seqlens, int B, size_t C, size_t V,
                                   Pooling pooling, cudaStream_t stream) {
  using namespace cuda::tc;
  SPLADE_CHECK(w && t && E && bias && cu_seqlens && B >= 0 && B <= 65535 && C > 0 && V > 0,
               "splade_pool_forward_bf16_cuda: bad arguments");
  SPLADE_CHECK(C % 8 == 0, "splade_pool_forward_bf16_cuda: C must be a multiple of 8");
  SPLADE_CHECK(reinterpret_cast<uintptr_t>(t) % 16 == 0 && reinterpret_cast<uintptr_t>(E) % 16 == 0,
               "splade_pool_forward_bf16_cuda: t and E must be 16-byte aligned");
  if (B == 0) return;
  std::vector<int32_t> cu(B + 1);
  CUDA_CHECK(cudaMemcpyAsync(cu.data(), cu_seqlens, (B + 1) * 4, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  const PoolPlan plan = make_pool_plan(cu.data(), B, BM);
  const size_t N = static_cast<size_t>(cu[B]), tiles = plan.tile_segs.size() - 1, S = plan.segs.size();
  SPLADE_CHECK(N > 0 && tiles <= 65535, "splade_pool_forward_bf16_cuda: no rows, or too many");
  std::vector<int32_t> offsets = plan.tile_segs;  // tile_segs (tiles + 1) | seq_segs (B + 1)
  offsets.insert(offsets.end(), plan.seq_segs.begin(), plan.seq_segs.end());
  char* buf = nullptr;  // segments | offsets | partial values | partial rows
  const size_t seg_bytes = S * sizeof(PoolSegment), off_bytes = offsets.size() * 4, part_bytes = S * V * 4;
  CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&buf), seg_bytes + off_bytes + 2 * part_bytes + 256, stream));
  PoolSegment* d_segs = reinterpret_cast<PoolSegment*>(buf);
  int32_t* d_offsets = reinterpret_cast<int32_t*>(buf + seg_bytes);
  float* part_val = reinterpret_cast<float*>(buf + (seg_bytes + off_bytes + 15) / 16 * 16);
  int32_t* part_arg = reinterpret_cast<int32_t*>(reinterpret_cast<char*>(part_val) + part_bytes);
  CUDA_CHECK(cudaMemcpyAsync(d_segs, plan.segs.data(), seg_bytes, cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaMemcpyAsync(d_offsets, offsets.data(), off_bytes, cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaFuncSetAttribute(splade_pool_tile_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kTileSmem));
  const int sum = pooling == Pooling::sum;
  splade_pool_tile_kernel<<<dim3(cuda::ceil_div(V, BN), static_cast<unsigned>(tiles)), kThreads, kTileSmem, stream>>>(
      part_val, part_arg, t, E, bias, d_segs, d_offsets, N, C, V, sum);
  CUDA_CHECK_LAUNCH();
  splade_pool_merge_kernel<<<dim3(cuda::ceil_div(V, 128), static_cast<unsigned>(B)), 128, 0, stream>>>(
      w, argmax, part_val, part_arg, d_offsets + tiles + 1, V, sum);
  CUDA_CHECK_LAUNCH();
  CUDA_CHECK(cudaFreeAsync(buf, stream));
}

}  // namespace splade
