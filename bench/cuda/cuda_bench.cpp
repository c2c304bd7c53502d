// CUDA kernel and encoder throughput (a benchmark, not a test: it asserts nothing). Built by CMake next to
// the addon when the CUDA backend is (build/cuda_bench). Times, with CUDA events over warmed-up repeats:
// the bf16 tensor-core GEMM at BERT-base's four Linear shapes, the fp32 reference GEMM, attention forward
// (tensor cores and fp32), the fused MLM head + SPLADE pooling, and the whole CudaEncoder forward of
// BERT-base (random weights) over 32 x 256 tokens, and reports TFLOP/s and the fraction of the given dense
// bf16 peak (model FLOPs utilisation; --peak-tflops, default 989: H100/H200 SXM); then the fp32 training
// step on the same batch, as CudaEncoder::gradients (gradients to the host) and as the Trainer's
// device-resident step (train_forward, train_backward, gradient norm, AdamW, parameters to the host).
//   build/cuda_bench [--peak-tflops 989] [--docs 32] [--len 256] [--iters 10]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#ifdef SPLADE_WITH_CUDA
#include <cuda_runtime.h>

#include "../../native/cuda/attention.h"
#include "../../native/cuda/device.h"
#include "../../native/cuda/encoder_cuda.h"
#include "../../native/cuda/gemm.h"
#include "../../native/cuda/splade_pool.h"

using namespace splade;

namespace {

double peak = 989.0;
int iters = 10;

template <class T>
T* dev_random(size_t n, float scale) {  // device buffer of n values (fp32 or bf16 bits) from a fixed seed
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> h(n);
  for (auto& v : h) v = u(rng);
  float* f = nullptr;
  cudaMalloc(&f, n * sizeof(float));
  cudaMemcpy(f, h.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  if constexpr (sizeof(T) == 4) {
    return reinterpret_cast<T*>(f);
  } else {
    __nv_bfloat16* b = nullptr;
    cudaMalloc(&b, n * sizeof(__nv_bfloat16));
    f32_to_bf16_cuda(b, f, n, nullptr);
    cudaDeviceSynchronize();
    cudaFree(f);
    return reinterpret_cast<T*>(b);
  }
}

// seconds per call of fn (after 2 warm-up calls), by CUDA events on the default stream
template <class F>
double time_it(F&& fn) {
  fn();
  fn();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < iters; ++i) fn();
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / 1e3 / iters;
}

void report(const std::string& what, double flops, double sec) {
  const double tf = flops / sec / 1e12;
  std::printf("%-58s %9.3f ms %8.1f TFLOP/s %6.1f%% of peak\n", what.c_str(), sec * 1e3, tf, 100.0 * tf / peak);
}

std::vector<int32_t> cu_of(int docs, int len) {
  std::vector<int32_t> cu(docs + 1);
  for (int b = 0; b <= docs; ++b) cu[b] = b * len;
  return cu;
}

}  // namespace

int main(int argc, char** argv) {
  int docs = 32, len = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--peak-tflops") peak = std::atof(argv[i + 1]);
    else if (k == "--docs") docs = std::atoi(argv[i + 1]);
    else if (k == "--len") len = std::atoi(argv[i + 1]);
    else if (k == "--iters") iters = std::atoi(argv[i + 1]);
  }
  if (cuda::device_count() == 0) {
    std::printf("cuda_bench: no CUDA device: nothing to measure\n");
    return 0;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("cuda_bench: %s (sm_%d%d), peak %.0f TFLOP/s dense bf16 (--peak-tflops), %d docs x %d tokens\n", prop.name,
              prop.major, prop.minor, peak, docs, len);
  try {
    const size_t N = size_t(docs) * len, C = 768, I = 3072, V = 30522, NH = 12;
    auto* x = dev_random<__nv_bfloat16>(N * I, 1.0f);
    auto* w = dev_random<__nv_bfloat16>(V * C, 0.05f);
    float* out = dev_random<float>(N * std::max(3 * C, I), 1.0f);
    const size_t shapes[][2] = {{3 * C, C}, {C, C}, {I, C}, {C, I}};
    const char* names[] = {"QKV", "attention out", "FFN 1 (+GELU)", "FFN 2"};
    for (int k = 0; k < 4; ++k) {
      GemmBf16Args g;
      g.M = N; g.N = shapes[k][0]; g.K = shapes[k][1]; g.A = x; g.lda = g.K; g.B = w; g.ldb = g.K; g.C = out; g.ldc = g.N;
      if (k == 2) g.epilogue.activation = Activation::gelu;
      report(std::string("gemm_bf16_cuda ") + names[k] + " " + std::to_string(g.M) + "x" + std::to_string(g.N) + "x" +
                 std::to_string(g.K),
             2.0 * g.M * g.N * g.K, time_it([&] { gemm_bf16_cuda(g, nullptr); }));
    }
    for (int k = 0; k < 2; ++k) {  // the FFN 1 backward products: input gradient (NN) and weight gradient (TN)
      GemmBf16Args g;
      if (k == 0) {  // dx (N, C) = dh (N, I) W1 (I, C)
        g.tb = Trans::no; g.M = N; g.N = C; g.K = I; g.lda = I; g.ldb = C;
      } else {       // dW1 (I, C) = dh^T (I, N) x (N, C)
        g.ta = Trans::yes; g.tb = Trans::no; g.M = I; g.N = C; g.K = N / 8 * 8; g.lda = I; g.ldb = C;
      }
      g.A = x; g.B = w; g.C = out; g.ldc = g.N;
      report(std::string("gemm_bf16_cuda ") + (k == 0 ? "NN (FFN 1 input grad) " : "TN (FFN 1 weight grad) ") +
                 std::to_string(g.M) + "x" + std::to_string(g.N) + "x" + std::to_string(g.K),
             2.0 * g.M * g.N * g.K, time_it([&] { gemm_bf16_cuda(g, nullptr); }));
    }
    {
      float* a = dev_random<float>(N * C, 1.0f);
      float* b = dev_random<float>(C * C, 0.05f);
      GemmArgs g;
      g.ta = Trans::no; g.tb = Trans::yes; g.M = N; g.N = C; g.K = C; g.A = a; g.lda = C; g.B = b; g.ldb = C; g.C = out; g.ldc = C;
      report("sgemm_cuda (fp32 reference) attention out", 2.0 * N * C * C, time_it([&] { sgemm_cuda(g, nullptr); }));
      cudaFree(a);
      cudaFree(b);
    }
    const auto cu = cu_of(docs, len);
    int32_t* dcu = nullptr;
    cudaMalloc(&dcu, cu.size() * 4);
    cudaMemcpy(dcu, cu.data(), cu.size() * 4, cudaMemcpyHostToDevice);
    const double att_flops = 4.0 * N * len * C;  // QK^T and PV
    {
      auto* qkv_b = dev_random<__nv_bfloat16>(N * 3 * C, 1.0f);
      float* qkv_f = dev_random<float>(N * 3 * C, 1.0f);
      auto* att_b = dev_random<__nv_bfloat16>(N * C, 1.0f);
      report("attention_forward_bf16_cuda (tensor cores)", att_flops,
             time_it([&] { attention_forward_bf16_cuda(att_b, nullptr, qkv_b, dcu, docs, C, NH, len, nullptr); }));
      report("attention_forward_cuda (fp32)", att_flops,
             time_it([&] { attention_forward_cuda(out, qkv_f, dcu, docs, C, NH, N, len, nullptr); }));
      cudaFree(qkv_b);
      cudaFree(qkv_f);
      cudaFree(att_b);
    }
    {
      float* bias = dev_random<float>(V, 0.1f);
      float* wv = nullptr;
      int32_t* arg = nullptr;
      cudaMalloc(&wv, size_t(docs) * V * 4);
      cudaMalloc(&arg, size_t(docs) * V * 4);
      report("splade_pool_forward_bf16_cuda (head + max pooling)", 2.0 * N * V * C, time_it([&] {
               splade_pool_forward_bf16_cuda(wv, arg, x, w, bias, dcu, docs, C, V, Pooling::max, nullptr);
             }));
      cudaFree(bias);
      cudaFree(wv);
      cudaFree(arg);
    }
    cudaFree(x);
    cudaFree(w);
    cudaFree(out);
    {  // the whole encoder: BERT-base, random weights
      EncoderConfig cfg;
      cfg.arch = Arch::bert; cfg.vocab = V; cfg.hidden = C; cfg.layers = 12; cfg.heads = NH; cfg.intermediate = I;
      cfg.max_positions = 512; cfg.type_vocab = 2;
      const ParamLayout L = make_layout(cfg);
      std::vector<float> params(L.total);
      std::mt19937 rng(3);
      std::normal_distribution<float> nd(0.0f, 0.02f);
      for (auto& v : params) v = nd(rng);
      for (const ParamEntry& e : L.entries)
        if (e.name.find("LayerNorm.weight") != std::string::npos)
          for (size_t i = 0; i < e.numel(); ++i) params[e.offset + i] = 1.0f;
      cuda::CudaEncoder enc(cfg, params.data());
      std::uniform_int_distribution<int> uid(1000, int(V) - 1);
      std::vector<int32_t> ids(N);
      for (auto& v : ids) v = uid(rng);
      const PackedBatch batch{ids.data(), nullptr, cu.data(), docs, N};
      std::vector<float> wv(size_t(docs) * V);
      const double layer_flops = 2.0 * N * (4 * C * C + 2 * C * I) + att_flops;
      const double flops = cfg.layers * layer_flops + 2.0 * N * C * C + 2.0 * N * V * C;
      enc.prepare(true);  // bf16 weights: the tensor-core path
      const double sec = time_it([&] { enc.forward(wv.data(), nullptr, batch, Pooling::max, false, true); });
      report("CudaEncoder forward, BERT-base (host copies included)", flops, sec);
      std::printf("  %.0f documents/s, %.0f tokens/s\n", docs / sec, N / sec);
      // training: forward + backward (fp32 kernels), 3x the forward's FLOPs by the usual count
      std::vector<float> grads(L.total, 0.0f), dw(wv.size(), 1e-3f);
      const double tsec = time_it([&] { enc.gradients(wv.data(), grads.data(), dw.data(), batch, Pooling::max); });
      report("CudaEncoder gradients (fp32 training step, host copies included)", 3 * flops, tsec);
      std::printf("  %.0f tokens/s\n", N / tsec);
      // the Trainer's device-resident step (lib/train/training-state.ts without the losses): forward and backward
      // into the device gradient, its norm, AdamW over the arena with clipping, the parameters back to the host
      std::vector<uint8_t> decay(L.total, 1);
      int64_t step = 0;
      const double ssec = time_it([&] {
        enc.zero_grads();
        auto acts = enc.train_forward(wv.data(), batch, Pooling::max, false);
        enc.train_backward(*acts, dw.data(), dw.size());
        const double norm = std::sqrt(enc.grad_norm_sq());
        enc.adamw_update(1e-5f, 0.9f, 0.999f, 1e-8f, 0.01f, ++step, static_cast<float>(std::min(1.0, 1.0 / (norm + 1e-6))),
                         decay.data());
        enc.read_params(params.data());
      });
      report("CudaEncoder device-resident step (+ AdamW, params to host)", 3 * flops, ssec);
      std::printf("  %.0f tokens/s\n", N / ssec);
    }
  } catch (const std::exception& e) {
    std::printf("cuda_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

#else
int main() {
  std::printf("cuda_bench: the CUDA backend is not compiled in: nothing to measure\n");
  return 0;
}
#endif  // SPLADE_WITH_CUDA
