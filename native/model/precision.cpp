// See precision.h.
#include "precision.h"

namespace splade {

bool parse_precision(const std::string& name, Precision* out) {
  if (name == "fp32") *out = Precision::fp32;
  else if (name == "bf16") *out = Precision::bf16;
  else if (name == "int8") *out = Precision::int8;
  else return false;
  return true;
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::bf16: return "bf16";
    case Precision::int8: return "int8";
    default: return "fp32";
  }
}

std::string precision_kernel(Precision p) {
  switch (p) {
    case Precision::bf16: return bf16_kernel_name();
    case Precision::int8: return i8_kernel_name(i8_active_kernel());
    default: return isa_name(active_isa());
  }
}

}  // namespace splade
