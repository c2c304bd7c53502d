// Per-ISA compilation of one kernel body: the body is an always-inline function written in plain,
// auto-vectorisable C++ (fixed-width lane accumulators instead of serial reductions, since we do not
// compile with -ffast-math), and each variant is a thin wrapper compiled under a target attribute, so
// the one body becomes generic SSE2, AVX2+FMA and AVX-512 code inside the same library. Lambdas are
// separate functions that do not inherit the attribute: keep vectorised loops in the body, and call
// the wrappers from the parallel_range lambdas, never the other way round.
#pragma once
#include "../common/cpu_features.h"

#define SPLADE_INLINE inline __attribute__((always_inline))
#define SPLADE_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define SPLADE_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// Declares name_generic / name_avx2 / name_avx512 (static, same parameters) calling body(args).
#define SPLADE_ISA_VARIANTS(name, body, params, args)              \
  static void name##_generic params { body args; }                 \
  SPLADE_TARGET_AVX2 static void name##_avx2 params { body args; } \
  SPLADE_TARGET_AVX512 static void name##_avx512 params { body args; }

#define SPLADE_PICK_ISA(isa, name) \
  ((isa) == ::splade::Isa::avx512 ? name##_avx512 : (isa) == ::splade::Isa::avx2 ? name##_avx2 : name##_generic)
