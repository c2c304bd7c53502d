// CPU detection: cpuid + xgetbv on x86-64 (the OS must save the vector state too), the kernel's hwcaps
// on arm64 Linux (getauxval) and sysctlbyname on macOS. NEON (Advanced SIMD) is part of every arm64
// CPU, so the neon kernels always run there; the extensions are reported for kernels that want them.
#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "error.h"

#if defined(SPLADE_X86)
#include <cpuid.h>
#elif defined(SPLADE_ARM64) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(SPLADE_ARM64) && defined(__APPLE__)
#include <sys/sysctl.h>
#include <sys/types.h>
#endif

namespace splade {
namespace {

struct Features {
  bool avx2 = false, avx512 = false, neon = false;
  std::vector<std::string> extensions;
  CpuExtensions ext;  // x86's reduced-precision extensions (cleared by SPLADE_CPU=avx2 | generic)
  Features() { detect(); }

#if defined(SPLADE_X86)
  static unsigned long long xgetbv0() {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
  }
  void detect() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    if (c & (1u << 20)) extensions.push_back("sse4.2");
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
    if (ext.avx512_vnni) extensions.push_back("avx512_vnni");
    if (ext.avx_vnni) extensions.push_back("avx_vnni");
    if (ext.avx512_bf16) extensions.push_back("avx512_bf16");
    if (ext.amx_bf16) extensions.push_back("amx_bf16");
    // SPLADE_CPU=avx2 (or generic) stands for a CPU with no more than that variant: no extensions either.
    const char* env = std::getenv("SPLADE_CPU");
    if (env && *env && std::string(env) != "avx512") ext = CpuExtensions{};
  }
#elif defined(SPLADE_ARM64) && defined(__linux__)
  void detect() {
    neon = true;
    // Bit positions from the kernel's uapi asm/hwcap.h (spelled out: older libc headers lack some).
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & (1ul << 7)) extensions.push_back("crc32");     // HWCAP_CRC32
    if (hw & (1ul << 10)) extensions.push_back("fp16");     // HWCAP_ASIMDHP (half-precision arithmetic)
    if (hw & (1ul << 20)) extensions.push_back("dotprod");  // HWCAP_ASIMDDP
    if (hw & (1ul << 22)) extensions.push_back("sve");      // HWCAP_SVE
    if (hw2 & (1ul << 13)) extensions.push_back("i8mm");    // HWCAP2_I8MM
    if (hw2 & (1ul << 14)) extensions.push_back("bf16");    // HWCAP2_BF16
  }
#elif defined(SPLADE_ARM64) && defined(__APPLE__)
  static bool sysctl_flag(const char* name) {
    int v = 0;
    size_t size = sizeof(v);
    return sysctlbyname(name, &v, &size, nullptr, 0) == 0 && v != 0;
  }
  void detect() {
    neon = true;
    if (sysctl_flag("hw.optional.armv8_crc32")) extensions.push_back("crc32");
    if (sysctl_flag("hw.optional.arm.FEAT_FP16") || sysctl_flag("hw.optional.neon_fp16")) extensions.push_back("fp16");
    if (sysctl_flag("hw.optional.arm.FEAT_DotProd")) extensions.push_back("dotprod");
    if (sysctl_flag("hw.optional.arm.FEAT_I8MM")) extensions.push_back("i8mm");
    if (sysctl_flag("hw.optional.arm.FEAT_BF16")) extensions.push_back("bf16");
    // Apple silicon has no SVE.
  }
#elif defined(SPLADE_ARM64)
  void detect() { neon = true; }
#else
  void detect() {}
#endif
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
    case Isa::neon: return "neon";
    default: return "generic";
  }
}

const char* isa_names() { return "avx512, avx2, neon, generic"; }

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "avx512") *out = Isa::avx512;
  else if (name == "avx2") *out = Isa::avx2;
  else if (name == "neon") *out = Isa::neon;
  else if (name == "generic") *out = Isa::generic;
  else return false;
  return true;
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::avx512: return features().avx512;
    case Isa::avx2: return features().avx2;
    case Isa::neon: return features().neon;
    default: return true;
  }
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::generic};
  for (Isa isa : {Isa::neon, Isa::avx2, Isa::avx512})
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

const CpuExtensions& x86_extensions() { return features().ext; }

Isa best_isa() { return supported_isas().back(); }

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_active_isa(Isa isa) {
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  active().store(static_cast<int>(isa), std::memory_order_relaxed);
}

std::vector<std::string> cpu_extensions() { return features().extensions; }

bool cpu_has(const char* extension) {
  for (const std::string& e : features().extensions)
    if (e == extension) return true;
  return false;
}

}  // namespace splade
