// CUDA_CHECK: a failed CUDA runtime call throws a SpladeError with code ERR_SPLADE_CUDA, carrying the
// statement, the runtime's message, file and line (never exit() or abort: the binding turns it into a
// JavaScript Error). Host code only.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "../common/error.h"

namespace splade::cuda {

[[noreturn]] inline void cuda_fail(cudaError_t e, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  fail(kCuda, std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + what +
                  " at " + file + ":" + std::to_string(line));
}

}  // namespace splade::cuda

#define CUDA_CHECK(stmt)                                                                  \
  do {                                                                                    \
    const cudaError_t cuda_check_err_ = (stmt);                                           \
    if (cuda_check_err_ != cudaSuccess) ::splade::cuda::cuda_fail(cuda_check_err_, #stmt, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad configuration shows up here, not at the launch.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
