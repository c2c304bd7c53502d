// Which kernels each precision of the encoder's inference forward takes on this CPU now (they depend on
// the active CPU variant, SPLADE_CPU, and the SPLADE_INT8 / SPLADE_BF16 switches): what info() and a
// model's load report, so that a precision without hardware support says which path it runs instead.
#pragma once
#include <string>

#include "encoder.h"

namespace splade {

bool parse_precision(const std::string& name, Precision* out);  // 'fp32' | 'bf16' | 'int8'
const char* precision_name(Precision p);
// e.g. "avx512" (fp32 SGEMM variant), "amx" / "fallback" (bf16), "avx512_vnni" / "avx_vnni" / "avx2" /
// "generic" (int8): the GEMM kernel family the precision's linear layers run on
std::string precision_kernel(Precision p);

}  // namespace splade
