// Opens a region of x86-64 code compiled for AVX2 + FMA inside a library built for the baseline
// (kernels chosen at run time); target_region_pop.h closes it. Included, not pasted: one copy of the
// GCC / clang spellings. No include guard: each include opens one region.
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__clang__)  // clang has no #pragma GCC target: the same region as an attribute
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#endif
