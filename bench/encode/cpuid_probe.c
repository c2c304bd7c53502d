// Checks bench/encode/cpuid_mask.c from outside: asks CPUID for AVX2 and AVX-512F, on the main thread and
// on a thread created later (CPUID faulting must be inherited), and executes an AVX-512 instruction only
// where CPUID says it exists; prints one line per thread: "main avx2 1 avx512f 0 amx 0 vnni 0".
#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>

static void* probe(void* name) {
  unsigned a, b, c, d, a1 = 0, b1, c1, d1 = 0;
  __cpuid_count(7, 0, a, b, c, d);
  __cpuid_count(7, 1, a1, b1, c1, d1);
  const int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, amx = (d >> 24) & 1;
  const int vnni = ((c >> 11) & 1) | ((a1 >> 4) & 1);
  if (avx512f) __asm__ volatile("vpaddd %%zmm0, %%zmm0, %%zmm0" ::: "xmm0");
  printf("%s avx2 %d avx512f %d amx %d vnni %d\n", (const char*)name, avx2, avx512f, amx, vnni);
  return 0;
}

int main(void) {
  probe("main");
  pthread_t t;
  pthread_create(&t, 0, probe, "thread");
  pthread_join(t, 0);
  return 0;
}
