#include "cpu_features.h"

#include <atomic>
#include <cpuid.h>
#include <cstdlib>

#include "error.h"

namespace splade {
namespace {

unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

struct Features {
  bool avx2 = false, avx512 = false;
  CpuExtensions ext;
  Features() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
    if (!osxsave || !avx) return;
    const unsigned long long xcr0 = xgetbv0();
    const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    avx2 = ymm && fma && (b & (1u << 5));
    // AVX-512 F + BW + DQ + VL: the subset our kernels use.
    const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    avx512 = avx2 && zmm && f && dq && bw && vl;
    ext.avx512_vnni = avx512 && (c & (1u << 11));
    ext.amx_bf16 = (d & (1u << 24)) && (d & (1u << 22));
    unsigned a1 = 0, b1, c1, d1;
    if (a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) {
      ext.avx_vnni = avx2 && (a1 & (1u << 4));
      ext.avx512_bf16 = avx512 && (a1 & (1u << 5));
    }
    // SPLADE_CPU=avx2 (or generic) stands for a CPU with no more than that variant: no extensions either.
    const char* env = std::getenv("SPLADE_CPU");
    if (env && *env && std::string(env) != "avx512") ext = CpuExtensions{};
  }
};

const Features& features() {
  static const Features f;
  return f;
}

Isa initial_isa() {
  const char* env = std::getenv("SPLADE_CPU");
  Isa forced;
  if (env && *env && parse_isa(env, &forced) && isa_supported(forced)) return forced;
  return best_isa();
}

std::atomic<int>& active() {
  static std::atomic<int> a{static_cast<int>(initial_isa())};
  return a;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "avx512") *out = Isa::avx512;
  else if (name == "avx2") *out = Isa::avx2;
  else if (name == "generic") *out = Isa::generic;
  else return false;
  return true;
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::avx512: return features().avx512;
    case Isa::avx2: return features().avx2;
    default: return true;
  }
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::generic};
  if (isa_supported(Isa::avx2)) out.push_back(Isa::avx2);
  if (isa_supported(Isa::avx512)) out.push_back(Isa::avx512);
  return out;
}

const CpuExtensions& cpu_extensions() { return features().ext; }

Isa best_isa() { return features().avx512 ? Isa::avx512 : features().avx2 ? Isa::avx2 : Isa::generic; }

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  active().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace splade
