// Embeddings on the GPU (see embed.h). Forward: one block per packed row; the row's sequence (hence its
// position) is found by binary search in cu_seqlens; the sum is taken in the CPU reference's order.
// Backward: one kernel adds grouped rows of dout into target rows (one block per target row); the
// groups (by token id, by position, by type) are built on the host by a stable counting sort.
#include "cuda_check.h"
#include "device_math.cuh"
#include "embed.h"

#include <algorithm>
#include <vector>

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

// dst[target[g]] += dout[rows[k]] for k in [offsets[g], offsets[g+1]), in k order; one block per group g
__global__ void add_grouped_rows_kernel(float* dst, const float* dout, const int32_t* target, const int32_t* offsets,
                                        const int32_t* rows, size_t C) {
  const int g = blockIdx.x;
  float* d = dst + static_cast<size_t>(target[g]) * C;
  for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
    float acc = d[c];
    for (int k = offsets[g]; k < offsets[g + 1]; ++k) acc += dout[static_cast<size_t>(rows[k]) * C + c];
    d[c] = acc;
  }
}

void add_grouped_rows(float* dst, const float* dout, const RowGroups& g, size_t C, cudaStream_t stream) {
  if (g.target.empty()) return;
  int32_t* buf = nullptr;  // target | offsets | rows
  const size_t n = g.target.size() + g.offsets.size() + g.rows.size();
  CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&buf), n * sizeof(int32_t), stream));
  std::vector<int32_t> packed(g.target);
  packed.insert(packed.end(), g.offsets.begin(), g.offsets.end());
  packed.insert(packed.end(), g.rows.begin(), g.rows.end());
  CUDA_CHECK(cudaMemcpyAsync(buf, packed.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  add_grouped_rows_kernel<<<static_cast<unsigned>(g.target.size()), 128, 0, stream>>>(
      dst, dout, buf, buf + g.target.size(), buf + g.target.size() + g.offsets.size(), C);
  CUDA_CHECK_LAUNCH();
  CUDA_CHECK(cudaStreamSynchronize(stream));  // packed (pageable host memory) is freed on return
  CUDA_CHECK(cudaFreeAsync(buf, stream));
}

}  // namespace

RowGroups group_rows_by_key(const std::vector<int32_t>& keys, size_t num_keys) {
  std::vector<int32_t> count(num_keys + 1, 0);
  for (int32_t k : keys) {
    SPLADE_CHECK(k >= 0 && static_cast<size_t>(k) < num_keys, "group_rows_by_key: key out of range");
    ++count[k + 1];
  }
  for (size_t k = 0; k < num_keys; ++k) count[k + 1] += count[k];
  RowGroups g;
  g.rows.resize(keys.size());
  std::vector<int32_t> next(count.begin(), count.end() - 1);
  for (size_t n = 0; n < keys.size(); ++n) g.rows[next[keys[n]]++] = static_cast<int32_t>(n);  // stable
  g.offsets.push_back(0);
  for (size_t k = 0; k < num_keys; ++k) {
    if (count[k + 1] == count[k]) continue;
    g.target.push_back(static_cast<int32_t>(k));
    g.offsets.push_back(count[k + 1]);
  }
  return g;
}

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

void embed_backward_cuda(float* dwte, float* dwpe, float* dwtt, const float* dout, const int32_t* ids,
                         const int32_t* type_ids, const int32_t* cu_seqlens, int B, size_t num_ids, size_t C,
                         cudaStream_t stream) {
  if (num_ids == 0 || B <= 0 || C == 0) return;
  SPLADE_CHECK(dwte && dwpe && dout && ids && cu_seqlens && num_ids <= 0x7fffffffu, "embed_backward_cuda: bad arguments");
  std::vector<int32_t> h_ids(num_ids), h_types(type_ids ? num_ids : 0), h_cu(B + 1);
  CUDA_CHECK(cudaMemcpyAsync(h_ids.data(), ids, num_ids * 4, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaMemcpyAsync(h_cu.data(), cu_seqlens, (B + 1) * 4, cudaMemcpyDeviceToHost, stream));
  if (type_ids) CUDA_CHECK(cudaMemcpyAsync(h_types.data(), type_ids, num_ids * 4, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  SPLADE_CHECK(h_cu[0] == 0 && static_cast<size_t>(h_cu[B]) == num_ids, "embed_backward_cuda: bad cu_seqlens");
  std::vector<int32_t> pos(num_ids);
  int32_t max_len = 0;
  for (int b = 0; b < B; ++b) {
    SPLADE_CHECK(h_cu[b + 1] >= h_cu[b], "embed_backward_cuda: bad cu_seqlens");
    for (int32_t n = h_cu[b]; n < h_cu[b + 1]; ++n) pos[n] = n - h_cu[b];
    max_len = std::max(max_len, h_cu[b + 1] - h_cu[b]);
  }
  const int32_t max_id = *std::max_element(h_ids.begin(), h_ids.end());
  SPLADE_CHECK(*std::min_element(h_ids.begin(), h_ids.end()) >= 0, "embed_backward_cuda: negative id");
  add_grouped_rows(dwte, dout, group_rows_by_key(h_ids, static_cast<size_t>(max_id) + 1), C, stream);
  add_grouped_rows(dwpe, dout, group_rows_by_key(pos, static_cast<size_t>(max_len)), C, stream);
  if (dwtt) {
    if (!type_ids) h_types.assign(num_ids, 0);
    SPLADE_CHECK(*std::min_element(h_types.begin(), h_types.end()) >= 0, "embed_backward_cuda: negative type id");
    add_grouped_rows(dwtt, dout, group_rows_by_key(h_types, static_cast<size_t>(*std::max_element(h_types.begin(), h_types.end())) + 1), C, stream);
  }
}

}  // namespace splade
