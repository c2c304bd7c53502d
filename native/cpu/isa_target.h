// Per-ISA compilation of one kernel body: the body is an always-inline function written in plain,
// auto-vectorisable C++ (fixed-width lane accumulators instead of serial reductions, since we do not
// compile with -ffast-math), and each variant is a thin wrapper compiled under a target attribute, so
// the one body becomes generic SSE2, AVX2+FMA and AVX-512 code inside the same library on x86-64. On
// arm64 the variants are generic and neon: Advanced SIMD is part of the baseline there, so both are
// NEON code; neon is the name the run-time choice gives them (SPLADE_CPU=generic runs the same code).
// Lambdas are separate functions that do not inherit the attribute: keep vectorised loops in the body,
// and call the wrappers from the parallel_range lambdas, never the other way round.
#pragma once
#include "../common/cpu_features.h"

#define SPLADE_INLINE inline __attribute__((always_inline))

#if defined(SPLADE_X86)
#define SPLADE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SPLADE_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// Declares name_generic / name_avx2 / name_avx512 (static, same parameters) calling body(args).
#define SPLADE_ISA_VARIANTS(name, body, params, args)              \
  static void name##_generic params { body args; }                 \
  SPLADE_TARGET_AVX2 static void name##_avx2 params { body args; } \
  SPLADE_TARGET_AVX512 static void name##_avx512 params { body args; }

#define SPLADE_PICK_ISA(isa, name) \
  ((isa) == ::splade::Isa::avx512 ? name##_avx512 : (isa) == ::splade::Isa::avx2 ? name##_avx2 : name##_generic)

#elif defined(SPLADE_ARM64)
// Declares name_generic / name_neon (static, same parameters) calling body(args).
#define SPLADE_ISA_VARIANTS(name, body, params, args) \
  static void name##_generic params { body args; }    \
  static void name##_neon params { body args; }

#define SPLADE_PICK_ISA(isa, name) ((isa) == ::splade::Isa::neon ? name##_neon : name##_generic)

#else
#define SPLADE_ISA_VARIANTS(name, body, params, args) static void name##_generic params { body args; }
#define SPLADE_PICK_ISA(isa, name) (name##_generic)
#endif
