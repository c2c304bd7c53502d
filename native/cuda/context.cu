// Context, Arena, PinnedBuffer (see context.h).
#include "context.h"

#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "device.h"

namespace splade::cuda {

Arena::~Arena() {
  if (base_) cudaFree(base_);
}

void Arena::reserve(size_t bytes) {
  used_ = 0;
  if (bytes <= capacity_) return;
  if (base_) CUDA_CHECK(cudaFree(base_));
  base_ = nullptr;
  capacity_ = 0;
  CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&base_), bytes));
  capacity_ = bytes;
}

void Arena::release() {
  char* p = base_;
  base_ = nullptr;
  used_ = capacity_ = 0;
  if (p) CUDA_CHECK(cudaFree(p));
}

void* Arena::alloc(size_t bytes) {
  const size_t start = (used_ + 255) / 256 * 256;
  if (start > capacity_ || bytes > capacity_ - start)
    fail(kCuda, "CUDA arena: " + std::to_string(bytes) + " bytes requested, " + std::to_string(capacity_ - used_) +
                    " of " + std::to_string(capacity_) + " left");
  used_ = start + bytes;
  return base_ + start;
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) cudaFreeHost(ptr_);
}

void* PinnedBuffer::get(size_t bytes) {
  if (bytes <= size_ && ptr_) return ptr_;
  if (ptr_) CUDA_CHECK(cudaFreeHost(ptr_));
  ptr_ = nullptr;
  size_ = 0;
  CUDA_CHECK(cudaMallocHost(&ptr_, bytes > 0 ? bytes : 1));
  size_ = bytes;
  return ptr_;
}

Context::Context(int dev) : device(dev) {
  const int n = device_count();
  if (n == 0) fail(kUnsupported, "CUDA: no usable CUDA device (no driver or no GPU)");
  if (dev < 0 || dev >= n)
    fail(kInvalidArgument, "CUDA: device " + std::to_string(dev) + " does not exist (" + std::to_string(n) + " found)");
  CUDA_CHECK(cudaSetDevice(dev));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  // Kernels' temporaries come from cudaMallocAsync (the head's tiling plan and partials, the embedding
  // backward's groups): keep freed blocks in the pool instead of returning them at every synchronisation.
  cudaMemPool_t pool = nullptr;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, dev));
  uint64_t keep = UINT64_MAX;
  CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
}

Context::~Context() {
  if (stream) {
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  }
}

void Context::synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream)); }

}  // namespace splade::cuda
