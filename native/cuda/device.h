// What the CUDA runtime sees. Compiled only when CMake finds a CUDA compiler (SPLADE_WITH_CUDA).
#pragma once

namespace splade::cuda {

// Number of usable devices; 0 when there is no driver or no GPU (never throws).
int device_count();

}  // namespace splade::cuda
