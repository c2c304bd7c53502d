// A CUDA execution context: one device, one stream, a device memory arena and pinned host buffers.
// The arena is one cudaMalloc carved by a bump allocator (256-byte aligned slots, freed all at once by
// reset()), so a forward pass allocates nothing after warm-up; pinned buffers make the host<->device
// copies of input ids and output vectors asynchronous and full speed. Not thread-safe: one user at a time.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace splade::cuda {

class Arena {
 public:
  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena();
  void reserve(size_t bytes);         // capacity at least bytes (drops everything allocated so far)
  void* alloc(size_t bytes);          // 256-byte aligned; SpladeError (ERR_SPLADE_CUDA) when full
  template <class T> T* alloc_n(size_t n) { return static_cast<T*>(alloc(n * sizeof(T))); }
  void reset() { used_ = 0; }         // frees every allocation at once
  void release();                     // returns the device memory (capacity 0)
  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }

 private:
  char* base_ = nullptr;
  size_t used_ = 0, capacity_ = 0;
};

class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();
  void* get(size_t bytes);            // at least bytes of page-locked host memory (grows, keeps nothing)
  template <class T> T* get_n(size_t n) { return static_cast<T*>(get(n * sizeof(T))); }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

struct Context {
  explicit Context(int device = 0);   // SpladeError when the device does not exist
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();
  void synchronize();                 // waits for the stream; throws on an asynchronous kernel error

  int device = 0;
  cudaStream_t stream = nullptr;
  Arena weights;                      // long-lived: parameters (bf16 copies included)
  Arena scratch;                      // per batch: activations, reset() before each forward
  PinnedBuffer pinned_in, pinned_out; // input ids / cu_seqlens, output vectors
};

}  // namespace splade::cuda
