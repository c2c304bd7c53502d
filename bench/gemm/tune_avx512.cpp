// Blocking experiments for the AVX-512 SGEMM: compiles gemm_avx512.cpp with other KC/MC/NC and times
// the BERT shapes (NT, as a Linear layer). One thread is timed by the thread's CPU clock, so a shared,
// loaded machine (descheduling) disturbs it less than wall time; best and median of `reps` calls.
//   npx cmake-js compile --out build --CDSPLADE_CUDA=OFF
//   g++ -O3 -std=c++17 -DSPLADE_AVX512_KC=384 -DSPLADE_AVX512_MC=144 -DSPLADE_AVX512_NC=768 \
//     -o /tmp/tune bench/gemm/tune_avx512.cpp native/cpu/gemm_avx512.cpp build/libsplade_core.a -lpthread
//   /tmp/tune <threads> <reps> [packed]     (packed: B packed once beforehand, as the encoder's weights are)
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include <cstdint>
#include <string>
#include "../../native/common/thread_pool.h"
#include "../../native/cpu/gemm.h"
namespace splade { namespace avx512 { void sgemm(const GemmArgs& g); size_t packed_b_floats(size_t K, size_t N); void pack_b(const GemmArgs& g, float* dst); } }
using namespace splade;
int main(int argc, char** argv) {
  int threads = atoi(argv[1]); int reps = atoi(argv[2]); const bool prepack = argc > 3 && std::string(argv[3]) == "packed";
  set_num_threads(threads);
  size_t shapes[][3] = {{128,768,768},{128,3072,768},{128,768,3072},{128,30522,768},{512,768,768},{512,3072,768},{512,768,3072},{512,30522,768}};
  for (auto& s : shapes) {
    size_t M=s[0],N=s[1],K=s[2];
    std::vector<float> A(M*K), B(N*K), C(M*N);
    for (auto& x : A) x = (rand() % 1000) / 1000.0f; for (auto& x : B) x = (rand() % 1000) / 1000.0f;
    GemmArgs g; g.ta=Trans::no; g.tb=Trans::yes; g.M=M; g.N=N; g.K=K; g.A=A.data(); g.lda=K; g.B=B.data(); g.ldb=K; g.C=C.data(); g.ldc=N;
    std::vector<float> P(prepack ? avx512::packed_b_floats(K, N) + 16 : 0); PackedB pb;
    if (prepack) { float* d = P.data() + (64 - reinterpret_cast<uintptr_t>(P.data()) % 64) % 64 / 4; avx512::pack_b(g, d); pb = PackedB{Isa::avx512, K, N, d}; g.packed_b = &pb; }
    double best = 1e9; std::vector<double> all;
    for (int r = 0; r < reps; ++r) {
      timespec t0,t1; clock_gettime(threads==1?CLOCK_THREAD_CPUTIME_ID:CLOCK_MONOTONIC,&t0); avx512::sgemm(g); clock_gettime(threads==1?CLOCK_THREAD_CPUTIME_ID:CLOCK_MONOTONIC,&t1);
      double dt = (t1.tv_sec-t0.tv_sec)+(t1.tv_nsec-t0.tv_nsec)*1e-9; best = std::min(best, dt); all.push_back(dt);
    }
    std::sort(all.begin(), all.end());
    printf("%zux%zux%zu t%d: best %.1f med %.1f GFLOP/s\n", M,N,K,threads, 2.0*M*N*K/best/1e9, 2.0*M*N*K/all[all.size()/2]/1e9);
  }
}
