// Run-time choice of vector units. Kernels are compiled for every ISA of the target architecture in
// the same library (per-ISA translation units under `#pragma GCC target` on x86-64); which one runs is
// chosen once at load (cpuid on x86-64; NEON always on arm64), or forced by
// SPLADE_CPU=avx512|avx2|neon|generic, and may be switched later (tests run every variant).
#pragma once
#include <string>
#include <vector>

// The architecture the core is compiled for: x86-64 builds the generic, AVX2 and AVX-512 kernels,
// arm64 the generic and NEON ones; anything else only the generic ones.
#if defined(__x86_64__) || defined(_M_X64)
#define SPLADE_X86 1
#elif defined(__aarch64__) || defined(_M_ARM64)
#define SPLADE_ARM64 1
#endif

namespace splade {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2, neon = 3 };

const char* isa_name(Isa isa);
const char* isa_names();  // "avx512, avx2, neon, generic": for error messages
bool parse_isa(const std::string& name, Isa* out);  // false when the name is unknown
bool isa_supported(Isa isa);                         // this CPU and OS can run it
std::vector<Isa> supported_isas();                   // ascending: generic first
Isa best_isa();
Isa active_isa();        // chosen at first use: SPLADE_CPU if set and supported, else best_isa()
void set_active_isa(Isa isa);  // throws SpladeError when the CPU cannot run it

// Optional extensions of this CPU that kernels may use beyond their ISA's baseline, by name: on arm64
// "fp16", "bf16", "i8mm", "dotprod", "sve", "crc32" (Linux: getauxval; macOS: sysctlbyname); on x86-64
// "sse4.2" (CRC-32C), "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16" (as the CPU has them, before
// SPLADE_CPU masking). Empty elsewhere.
std::vector<std::string> cpu_extensions();
bool cpu_has(const char* extension);

// x86 instruction-set extensions beyond the avx2 / avx512 variants, for the reduced-precision kernels (which of
// them runs is each kernel family's choice: gemm_i8.h, gemm_bf16.h). x86 only; all false elsewhere, and
// all false under SPLADE_CPU=avx2 or generic (the proxy for a CPU with no more than those).
struct CpuExtensions {
  bool avx512_vnni = false;  // vpdpbusd on zmm (needs the avx512 variant's state)
  bool avx_vnni = false;     // vpdpbusd on ymm, VEX-encoded (Alder Lake, Sapphire Rapids, Zen 5)
  bool avx512_bf16 = false;  // vdpbf16ps
  bool amx_bf16 = false;     // AMX-TILE + AMX-BF16 in the CPU (the OS must still grant the tile state)
};
const CpuExtensions& x86_extensions();

}  // namespace splade
