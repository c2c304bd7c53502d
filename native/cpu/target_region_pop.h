// Closes a region a target push opened (avx2_region_push.h, or a file's own AVX-512 one). No include guard: each include closes one region.
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
