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

}  // namespace splade
