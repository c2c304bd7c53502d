// Run-time choice of vector units. Kernels are compiled for every ISA in the same library (per-ISA
// translation units under `#pragma GCC target`); which one runs is chosen once at load from cpuid,
// or forced by SPLADE_CPU=avx512|avx2|generic, and may be switched later (tests run every variant).
#pragma once
#include <string>
#include <vector>

namespace splade {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa* out);  // false when the name is unknown
bool isa_supported(Isa isa);                         // this CPU and OS can run it
std::vector<Isa> supported_isas();                   // ascending: generic first
Isa best_isa();
Isa active_isa();        // chosen at first use: SPLADE_CPU if set and supported, else best_isa()
void set_active_isa(Isa isa);  // throws SpladeError when the CPU cannot run it

// Instruction-set extensions beyond the three variants, for the reduced-precision kernels (which of
// them runs is each kernel family's choice: gemm_i8.h, gemm_bf16.h). x86 only; all false elsewhere, and
// all false under SPLADE_CPU=avx2 or generic (the proxy for a CPU with no more than those).
struct CpuExtensions {
  bool avx512_vnni = false;  // vpdpbusd on zmm (needs the avx512 variant's state)
  bool avx_vnni = false;     // vpdpbusd on ymm, VEX-encoded (Alder Lake, Sapphire Rapids, Zen 5)
  bool avx512_bf16 = false;  // vdpbf16ps
  bool amx_bf16 = false;     // AMX-TILE + AMX-BF16 in the CPU (the OS must still grant the tile state)
};
const CpuExtensions& cpu_extensions();

}  // namespace splade
