/* The OpenBLAS side of bench/gemm: times cblas_sgemm on one shape and prints one JSON line.
 * Usage: openblas_gemm M N K transA transB seconds  (threads come from OPENBLAS_NUM_THREADS).
 * Same operands and timing rule as the splade side: row-major, C = A op(B) with beta 0, inputs in
 * [-1, 1), a warm-up call, then repeated calls for `seconds`; reports the best and median GFLOP/s. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s M N K transA transB seconds\n", argv[0]);
    return 2;
  }
  const int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), ta = atoi(argv[4]), tb = atoi(argv[5]);
  const double seconds = atof(argv[6]);
  float* A = malloc(sizeof(float) * (size_t)M * K);
  float* B = malloc(sizeof(float) * (size_t)N * K);
  float* C = malloc(sizeof(float) * (size_t)M * N);
  if (!A || !B || !C) return 1;
  unsigned s = 12345;
  for (size_t i = 0; i < (size_t)M * K; ++i) A[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f * 2 - 1;
  for (size_t i = 0; i < (size_t)N * K; ++i) B[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f * 2 - 1;
  const int lda = ta ? M : K, ldb = tb ? K : N;
  const enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N); /* warm-up */
  double times[10000];
  int n = 0;
  const double start = now();
  while (n < 10000 && (n < 5 || now() - start < seconds)) {
    const double t0 = now();
    cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    times[n++] = now() - t0;
  }
  qsort(times, n, sizeof(double), cmp);
  const double flops = 2.0 * M * N * K;
  printf("{\"best\": %.3f, \"median\": %.3f, \"samples\": %d, \"threads\": %d, \"c0\": %g}\n", flops / times[0] * 1e-9,
         flops / times[n / 2] * 1e-9, n, openblas_get_num_threads(), C[0]);
  free(A);
  free(B);
  free(C);
  return 0;
}
