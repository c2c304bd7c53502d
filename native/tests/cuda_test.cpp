// CUDA kernels against the CPU references, runnable without Node (ctest). Each kernel runs on random
// inputs over awkward shapes and every launch variant; the error measure is gemm_test's: max |x - ref| /
// max(1, max |ref|) over the tensor (non-finite output: infinite error), first failures printed.
// Tolerances (per precision):
//   fp32 kernels against the CPU reference                      1e-5 (the project's fp32 rule)
//   bf16 tensor-core results against the reference on the same
//     bf16-rounded inputs (products exact, fp32 accumulation)   1e-4 (accumulation order and width only)
//   ... the same, written out in bf16                           2^-8 (one bf16 rounding: 2^-9 of the value)
//   ... against the reference on the unrounded fp32 inputs      1e-2 (inputs rounded to 8 bits of mantissa;
//                                                                     measured ~1e-3 by the error model at K 768)
// Without a device (or without the CUDA backend compiled in) it checks what needs none (argument
// validation, the no-device error), prints "no CUDA device: skipped" for the rest, and exits 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "../common/error.h"

#ifndef SPLADE_WITH_CUDA
int main() {
  std::printf("cuda_test: the CUDA backend is not compiled in (no nvcc at build time): skipped\n");
  return 0;
}
#else

#include <cuda_runtime.h>

#include "../cpu/adamw.h"
#include "../cpu/attention.h"
#include "../cpu/embed.h"
#include "../cpu/gelu.h"
#include "../cpu/gemm.h"
#include "../cpu/layernorm.h"
#include "../cpu/splade_pool.h"
#include "../model/encoder.h"
#include "../model/encoder_train.h"
#include "../cpu/attention_train.h"
#include "../cpu/dropout.h"
#include "../cpu/splade_head_train.h"
#include "../cuda/adamw.h"
#include "../cuda/attention.h"
#include "../cuda/context.h"
#include "../cuda/device.h"
#include "../cuda/dropout.h"
#include "../cuda/embed.h"
#include "../cuda/encoder_cuda.h"
#include "../cuda/gelu.h"
#include "../cuda/gemm.h"
#include "../cuda/layernorm.h"
#include "../cuda/mlm_head.h"
#include "../cuda/splade_pool.h"

using namespace splade;

namespace {

int failures = 0, checks = 0;

void expect(bool ok, const std::string& what) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAIL %s\n", what.c_str());
  }
}

template <class T>
struct Dev {  // a device copy of a host vector
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    if (cudaMalloc(reinterpret_cast<void**>(&p), (n ? n : 1) * sizeof(T)) != cudaSuccess) throw std::runtime_error("cudaMalloc");
  }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { up(h); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  void up(const std::vector<T>& h) {
    if (cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) throw std::runtime_error("H2D");
  }
  std::vector<T> down() const {
    std::vector<T> h(n);
    if (cudaDeviceSynchronize() != cudaSuccess) throw std::runtime_error("kernel failed");
    if (cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess) throw std::runtime_error("D2H");
    return h;
  }
};

std::mt19937 rng(1234);

std::vector<float> rand_vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

double rel_err(const std::vector<float>& x, const std::vector<float>& ref) {
  double diff = 0, mag = 1;
  size_t worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(ref[i])) continue;
    if (!std::isfinite(x[i])) return INFINITY;
    const double d = std::fabs(double(x[i]) - ref[i]);
    if (d > diff) diff = d, worst = i;
    mag = std::max(mag, std::fabs(double(ref[i])));
  }
  (void)worst;
  return diff / mag;
}

void expect_close(const std::vector<float>& x, const std::vector<float>& ref, double tol, const std::string& what) {
  const double e = rel_err(x, ref);
  expect(e <= tol, what + ": rel err " + std::to_string(e) + " > " + std::to_string(tol));
}

uint16_t to_bf16(float f) {  // round to nearest even, as __float2bfloat16_rn
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
std::vector<uint16_t> bf16_of(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = to_bf16(v[i]);
  return o;
}
std::vector<float> rounded(const std::vector<float>& v) {
  std::vector<float> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = from_bf16(to_bf16(v[i]));
  return o;
}
const __nv_bfloat16* bf(const Dev<uint16_t>& d) { return reinterpret_cast<const __nv_bfloat16*>(d.p); }

std::string shape(const char* op, std::initializer_list<size_t> dims) {
  std::string s = op;
  for (size_t d : dims) s += " " + std::to_string(d);
  return s;
}

template <class F>
void expect_throws(F f, const char* code, const std::string& what) {
  try {
    f();
    expect(false, what + ": no error");
  } catch (const SpladeError& e) {
    expect(std::string(e.code()) == code, what + ": code " + e.code() + ", expected " + code);
  }
}

// ---- GEMM ----

void test_sgemm() {
  const size_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {130, 257, 31}, {64, 64, 64}, {200, 3, 300}};
  for (auto& sz : sizes) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (int variant = 0; variant < 3; ++variant) {  // plain; alpha/beta + pad; full epilogue
          const size_t M = sz[0], N = sz[1], K = sz[2], pad = variant == 1 ? 3 : 0;
          const float alpha = variant == 1 ? 0.75f : 1.0f, beta = variant == 1 ? -0.5f : 0.0f;
          const size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
          auto A = rand_vec((ta ? K : M) * lda), B = rand_vec((tb ? N : K) * ldb), C = rand_vec(M * ldc);
          auto bias = rand_vec(N), res = rand_vec(M * ldc);
          Dev<float> dA(A), dB(B), dC(C), dbias(bias), dres(res);
          GemmArgs g;
          g.ta = Trans(ta); g.tb = Trans(tb); g.M = M; g.N = N; g.K = K; g.alpha = alpha; g.beta = beta;
          g.lda = lda; g.ldb = ldb; g.ldc = ldc;
          if (variant == 2) {
            g.epilogue.bias = bias.data();
            g.epilogue.residual = res.data();
            g.epilogue.ldr = ldc;
            g.epilogue.activation = Activation::gelu;
          }
          std::vector<float> ref = C;
          g.A = A.data(); g.B = B.data(); g.C = ref.data();
          sgemm_reference(g);
          g.A = dA.p; g.B = dB.p; g.C = dC.p;
          if (variant == 2) { g.epilogue.bias = dbias.p; g.epilogue.residual = dres.p; }
          sgemm_cuda(g, nullptr);
          expect_close(dC.down(), ref, 1e-5, shape("sgemm_cuda", {size_t(ta), size_t(tb), M, N, K, size_t(variant)}));
        }
      }
    }
  }
}

void test_gemm_bf16() {
  const size_t sizes[][3] = {{1, 1, 8}, {5, 16, 40}, {127, 130, 136}, {128, 264, 264}, {300, 200, 768}, {256, 128, 32}};
  for (auto& sz : sizes) {
    for (int tr = 0; tr < 4; ++tr) {  // NT (the default), NN, TT, TN
      const Trans ta = tr >= 2 ? Trans::yes : Trans::no, tb = tr % 2 == 0 ? Trans::yes : Trans::no;
      const size_t M = sz[0], N = sz[1], K = sz[2];
      for (int variant = 0; variant < 4; ++variant) {  // C only; Cb only; both + epilogue; residual == C + epilogue
        const size_t pad = variant == 2 ? 8 : 0;
        const size_t lda = (ta == Trans::yes ? M : K) + pad, ldb = (tb == Trans::yes ? K : N) + pad;
        const size_t ldc = N + (variant == 2 ? 1 : 0);
        auto A = rand_vec((ta == Trans::yes ? K : M) * lda), B = rand_vec((tb == Trans::yes ? N : K) * ldb);
        auto bias = rand_vec(N), res = rand_vec(M * ldc);
        Dev<uint16_t> dA(bf16_of(A)), dB(bf16_of(B));
        Dev<float> dC(variant == 3 ? res : std::vector<float>(M * ldc, NAN)), dbias(bias), dres(res);
        Dev<uint16_t> dCb(M * ldc);
        GemmBf16Args g;
        g.ta = ta; g.tb = tb; g.M = M; g.N = N; g.K = K; g.A = bf(dA); g.lda = lda; g.B = bf(dB); g.ldb = ldb;
        g.ldc = ldc;
        g.C = variant == 1 ? nullptr : dC.p;
        g.Cb = variant == 1 || variant == 2 ? reinterpret_cast<__nv_bfloat16*>(dCb.p) : nullptr;
        if (variant >= 2) {
          g.epilogue.bias = dbias.p;
          g.epilogue.residual = variant == 3 ? dC.p : dres.p;
          g.epilogue.ldr = ldc;
          g.epilogue.activation = Activation::gelu;
        }
        const std::string s = shape("gemm_bf16_cuda", {size_t(tr), M, N, K, size_t(variant)});
        if ((ta == Trans::yes && M % 8) || (tb == Trans::no && N % 8)) {  // a layout the kernel cannot load
          expect_throws([&] { gemm_bf16_cuda(g, nullptr); }, kInvalidArgument, s + " (M or N not a multiple of 8)");
          continue;
        }
        gemm_bf16_cuda(g, nullptr);
        // references: on the bf16-rounded inputs, and on the original ones
        auto ref_on = [&](const std::vector<float>& a, const std::vector<float>& b) {
          std::vector<float> ref(M * ldc, 0.0f);
          GemmArgs r;
          r.ta = ta; r.tb = tb; r.M = M; r.N = N; r.K = K; r.A = a.data(); r.lda = lda;
          r.B = b.data(); r.ldb = ldb; r.C = ref.data(); r.ldc = ldc;
          if (variant >= 2) {
            r.epilogue.bias = bias.data(); r.epilogue.residual = res.data(); r.epilogue.ldr = ldc;
            r.epilogue.activation = Activation::gelu;
          }
          sgemm_reference(r);
          return ref;
        };
        auto keep_cols = [&](std::vector<float> v) {  // padding columns of C are not written
          for (size_t m = 0; m < M; ++m)
            for (size_t n = N; n < ldc; ++n) v[m * ldc + n] = 0.0f;
          return v;
        };
        const auto ref_r = keep_cols(ref_on(rounded(A), rounded(B))), ref_f = keep_cols(ref_on(A, B));
        if (g.C) {
          auto c = keep_cols(dC.down());
          expect_close(c, ref_r, 1e-4, s + " C vs rounded-input reference");
          expect_close(c, ref_f, 1e-2, s + " C vs fp32 reference");
        }
        if (g.Cb) {
          auto hb = dCb.down();
          std::vector<float> cb(hb.size());
          for (size_t i = 0; i < hb.size(); ++i) cb[i] = from_bf16(hb[i]);
          expect_close(keep_cols(cb), ref_r, 1.0 / 256, s + " Cb vs rounded-input reference");
        }
      }
    }
  }
}

void test_f32_to_bf16() {
  auto x = rand_vec(10007, -1e3f, 1e3f);
  x[0] = 0.0f; x[1] = -0.0f; x[2] = INFINITY; x[3] = 1.00390625f;  // a tie: rounds to even (1.0)
  Dev<float> dx(x);
  Dev<uint16_t> dy(x.size());
  f32_to_bf16_cuda(reinterpret_cast<__nv_bfloat16*>(dy.p), dx.p, x.size(), nullptr);
  auto y = dy.down();
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) bad += y[i] != to_bf16(x[i]);
  expect(bad == 0, "f32_to_bf16_cuda: " + std::to_string(bad) + " values differ from round-to-nearest-even");
}

// ---- LayerNorm, GELU, embeddings ----

void test_layernorm() {
  const size_t shapes[][2] = {{1, 1}, {3, 31}, {17, 64}, {100, 768}, {5, 1000}};
  for (auto& sh : shapes) {
    const size_t N = sh[0], C = sh[1];
    auto x = rand_vec(N * C, -2.0f, 3.0f), w = rand_vec(C), b = rand_vec(C);
    std::vector<float> out(N * C), mean(N), rstd(N);
    layernorm_forward_ref(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-5f);
    Dev<float> dx(x), dw(w), db(b), dout(N * C), dmean(N), drstd(N);
    Dev<uint16_t> dob(N * C);
    layernorm_forward_cuda(dout.p, dmean.p, drstd.p, dx.p, dw.p, db.p, N, C, 1e-5f, nullptr,
                           reinterpret_cast<__nv_bfloat16*>(dob.p));
    const std::string s = shape("layernorm_forward_cuda", {N, C});
    expect_close(dout.down(), out, 1e-5, s + " out");
    expect_close(dmean.down(), mean, 1e-5, s + " mean");
    expect_close(drstd.down(), rstd, 1e-5, s + " rstd");
    auto ob = dob.down();
    std::vector<float> obf(ob.size());
    for (size_t i = 0; i < ob.size(); ++i) obf[i] = from_bf16(ob[i]);
    expect_close(obf, out, 1.0 / 256, s + " bf16 out");
    // in place (out aliases inp)
    Dev<float> dxi(x);
    layernorm_forward_cuda(dxi.p, nullptr, nullptr, dxi.p, dw.p, db.p, N, C, 1e-5f, nullptr);
    expect_close(dxi.down(), out, 1e-5, s + " in place");
    // backward, accumulating onto random buffers
    auto dy = rand_vec(N * C), dinp = rand_vec(N * C), dwt = rand_vec(C), dbs = rand_vec(C);
    Dev<float> ddy(dy), ddinp(dinp), ddw(dwt), ddb(dbs);
    layernorm_backward_ref(dinp.data(), dwt.data(), dbs.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                           N, C);
    layernorm_backward_cuda(ddinp.p, ddw.p, ddb.p, ddy.p, dx.p, dw.p, dmean.p, drstd.p, N, C, nullptr);
    const std::string sb = shape("layernorm_backward_cuda", {N, C});
    expect_close(ddinp.down(), dinp, 1e-5, sb + " dinp");
    expect_close(ddw.down(), dwt, 1e-5, sb + " dweight");
    expect_close(ddb.down(), dbs, 1e-5, sb + " dbias");
  }
}

void test_gelu() {
  std::vector<float> x;
  for (float v = -12.0f; v <= 10.0f; v += 0.00390625f) x.push_back(v);
  const size_t n = x.size();
  std::vector<float> y(n);
  gelu_forward_ref(y.data(), x.data(), n);
  Dev<float> dx(x), dy(n);
  gelu_forward_cuda(dy.p, dx.p, n, nullptr);
  expect_close(dy.down(), y, 1e-5, "gelu_forward_cuda");
  auto g = rand_vec(n), dinp = rand_vec(n);
  Dev<float> dg(g), ddinp(dinp);
  gelu_backward_ref(dinp.data(), x.data(), g.data(), n);
  gelu_backward_cuda(ddinp.p, dx.p, dg.p, n, nullptr);
  expect_close(ddinp.down(), dinp, 1e-5, "gelu_backward_cuda");
}

std::vector<int32_t> cu_of(const std::vector<int>& lens) {
  std::vector<int32_t> cu(1, 0);
  for (int l : lens) cu.push_back(cu.back() + l);
  return cu;
}

void test_embed() {
  const size_t V = 50, P = 70, TV = 2, C = 37;
  const auto cu = cu_of({1, 5, 70, 3});
  const int B = 4;
  const size_t N = static_cast<size_t>(cu.back());
  std::uniform_int_distribution<int> uid(0, V - 1), utt(0, TV - 1);
  std::vector<int32_t> ids(N), tt(N);
  for (auto& v : ids) v = uid(rng);
  for (auto& v : tt) v = utt(rng);
  auto wte = rand_vec(V * C), wpe = rand_vec(P * C), wtt = rand_vec(TV * C);
  Dev<int32_t> dids(ids), dtt(tt), dcu(cu);
  Dev<float> dwte(wte), dwpe(wpe), dwtt(wtt), dout(N * C);
  for (int variant = 0; variant < 3; ++variant) {  // type ids; no type ids (zeros); no type table (DistilBERT)
    const int32_t* t_h = variant == 0 ? tt.data() : nullptr;
    const float* wtt_h = variant == 2 ? nullptr : wtt.data();
    std::vector<float> ref(N * C);
    embed_forward_ref(ref.data(), ids.data(), t_h, cu.data(), B, wte.data(), wpe.data(), wtt_h, C);
    embed_forward_cuda(dout.p, dids.p, variant == 0 ? dtt.p : nullptr, dcu.p, B, N, dwte.p, dwpe.p,
                       variant == 2 ? nullptr : dwtt.p, C, nullptr);
    expect_close(dout.down(), ref, 1e-6, shape("embed_forward_cuda", {size_t(variant)}));
    // backward onto random gradients: the CPU's order of additions, so the same bits
    auto g = rand_vec(N * C), gte = rand_vec(V * C), gpe = rand_vec(P * C), gtt = rand_vec(TV * C);
    Dev<float> dg(g), dgte(gte), dgpe(gpe), dgtt(gtt);
    embed_backward(gte.data(), gpe.data(), wtt_h ? gtt.data() : nullptr, g.data(), ids.data(), t_h, cu.data(), B, C);
    embed_backward_cuda(dgte.p, dgpe.p, variant == 2 ? nullptr : dgtt.p, dg.p, dids.p, variant == 0 ? dtt.p : nullptr,
                        dcu.p, B, N, C, nullptr);
    const std::string sb = shape("embed_backward_cuda", {size_t(variant)});
    expect(dgte.down() == gte, sb + ": dwte differs from the CPU's bits");
    expect(dgpe.down() == gpe, sb + ": dwpe differs from the CPU's bits");
    expect(dgtt.down() == gtt, sb + ": dwtt differs from the CPU's bits");
  }
}

// ---- attention ----

void test_attention() {
  struct Case { size_t C, NH; std::vector<int> lens; };
  const Case cases[] = {{128, 2, {1, 5, 64, 65, 200}},   // head 64: the register path, several query tiles
                        {64, 2, {130, 7, 1}},            // head 32
                        {48, 4, {9, 33, 1, 70}},         // head 12: the generic path
                        {768, 12, {256, 100}},           // BERT-base
                        {384, 12, {64, 63, 129}}};       // head 32 (MiniLM), tile edges
  for (const Case& cs : cases) {
    const auto cu = cu_of(cs.lens);
    const int B = static_cast<int>(cs.lens.size());
    const size_t N = static_cast<size_t>(cu.back());
    int max_len = 0;
    for (int l : cs.lens) max_len = std::max(max_len, l);
    auto qkv = rand_vec(N * 3 * cs.C, -1.5f, 1.5f);
    std::vector<float> ref(N * cs.C);
    attention_forward_ref(ref.data(), qkv.data(), cu.data(), B, cs.C, cs.NH);
    Dev<float> dqkv(qkv), dout(N * cs.C);
    Dev<int32_t> dcu(cu);
    attention_forward_cuda(dout.p, dqkv.p, dcu.p, B, cs.C, cs.NH, N, max_len, nullptr);
    expect_close(dout.down(), ref, 1e-5, shape("attention_forward_cuda", {cs.C, cs.NH, N}));
    Dev<float> dout2(N * cs.C);
    attention_forward_generic_cuda(dout2.p, dqkv.p, dcu.p, B, cs.C, cs.NH, N, nullptr);
    expect_close(dout2.down(), ref, 1e-5, shape("attention_forward_generic_cuda", {cs.C, cs.NH, N}));
    // backward, accumulating onto a random dqkv
    auto dout_h = rand_vec(N * cs.C), grad = rand_vec(N * 3 * cs.C);
    Dev<float> ddout(dout_h), dgrad(grad), dscratch(attention_backward_scratch(N, cs.NH));
    attention_backward_ref(grad.data(), dout_h.data(), qkv.data(), cu.data(), B, cs.C, cs.NH);
    attention_backward_cuda(dgrad.p, ddout.p, dqkv.p, dcu.p, B, cs.C, cs.NH, N, dscratch.p, nullptr);
    expect_close(dgrad.down(), grad, 1e-5, shape("attention_backward_cuda", {cs.C, cs.NH, N}));
    if (!attention_bf16_supported(cs.C, cs.NH)) continue;
    // tensor cores: against the reference on the bf16-rounded qkv; P is rounded to bf16 before P V (2^-9
    // relative per probability), so 1e-2 of the tensor's max; the bf16 output adds one rounding (2^-8)
    const auto qkv_r = rounded(qkv);
    std::vector<float> ref_r(N * cs.C);
    attention_forward_ref(ref_r.data(), qkv_r.data(), cu.data(), B, cs.C, cs.NH);
    Dev<uint16_t> dqkv_b(bf16_of(qkv)), dout_b(N * cs.C);
    Dev<float> dout3(N * cs.C);
    attention_forward_bf16_cuda(reinterpret_cast<__nv_bfloat16*>(dout_b.p), dout3.p, bf(dqkv_b), dcu.p, B, cs.C, cs.NH,
                                max_len, nullptr);
    const std::string s3 = shape("attention_forward_bf16_cuda", {cs.C, cs.NH, N});
    expect_close(dout3.down(), ref_r, 1e-2, s3);
    expect_close(dout3.down(), ref, 2e-2, s3 + " vs fp32 reference");
    const auto hb = dout_b.down();
    std::vector<float> ob(hb.size());
    for (size_t i = 0; i < hb.size(); ++i) ob[i] = from_bf16(hb[i]);
    expect_close(ob, ref_r, 1e-2 + 1.0 / 256, s3 + " bf16 out");
  }
}

// ---- SPLADE head + pooling ----

// logits in double, for judging argmax choices
double logit_ref(const std::vector<float>& t, const std::vector<float>& E, const std::vector<float>& bias, size_t C,
                 int32_t n, size_t j) {
  double x = bias[j];
  for (size_t c = 0; c < C; ++c) x += double(t[size_t(n) * C + c]) * E[j * C + c];
  return x;
}

// argmax[b, j] must be a row of sequence b whose logit is within tol of the sequence's max logit (ties
// and near-ties may go either way), or -1 exactly when no logit is clearly positive.
void check_argmax(const std::vector<int32_t>& arg, const std::vector<float>& t, const std::vector<float>& E,
                  const std::vector<float>& bias, const std::vector<int32_t>& cu, size_t C, size_t V, double tol,
                  const std::string& what) {
  size_t bad = 0;
  for (size_t b = 0; b + 1 < cu.size(); ++b) {
    for (size_t j = 0; j < V; ++j) {
      double mx = 0;
      for (int32_t n = cu[b]; n < cu[b + 1]; ++n) mx = std::max(mx, logit_ref(t, E, bias, C, n, j));
      const int32_t a = arg[b * V + j];
      const double slack = tol * (1 + mx);
      if (a == -1) bad += mx > slack;
      else if (a < cu[b] || a >= cu[b + 1]) ++bad;
      else bad += logit_ref(t, E, bias, C, a, j) < mx - slack;
    }
  }
  expect(bad == 0, what + ": " + std::to_string(bad) + " argmax entries wrong");
}

void test_splade_pool() {
  struct Case { size_t C, V; std::vector<int> lens; };
  const Case cases[] = {{64, 300, {1, 7, 130}},
                        {40, 129, {200, 3}},
                        {768, 1000, {256, 20}},
                        {32, 257, {3, 1, 16, 5, 2, 9, 30, 1, 1, 64, 7, 12, 200}}};  // short ones sharing tiles
  for (const Case& cs : cases) {
    const auto cu = cu_of(cs.lens);
    const int B = static_cast<int>(cs.lens.size());
    const size_t N = static_cast<size_t>(cu.back()), C = cs.C, V = cs.V;
    const float s = 1.0f / std::sqrt(float(C));  // logits of order 1, about half of them positive
    auto t = rand_vec(N * C), E = rand_vec(V * C, -s * 2, s * 2), bias = rand_vec(V, -0.5f, 0.5f);
    Dev<int32_t> dcu(cu);
    Dev<float> dt(t), dE(E), dbias(bias), dw(B * V);
    Dev<int32_t> darg(B * V);
    Dev<uint16_t> dtb(bf16_of(t)), dEb(bf16_of(E));
    const auto tr = rounded(t), Er = rounded(E);
    for (Pooling pooling : {Pooling::max, Pooling::sum}) {
      const std::string pname = pooling == Pooling::max ? " max" : " sum";
      std::vector<float> w(B * V);
      std::vector<int32_t> arg(B * V);
      splade_pool_forward_ref(w.data(), arg.data(), t.data(), E.data(), bias.data(), cu.data(), B, C, V, pooling);
      splade_pool_forward_cuda(dw.p, darg.p, dt.p, dE.p, dbias.p, dcu.p, B, C, V, pooling, nullptr);
      const std::string s1 = shape("splade_pool_forward_cuda", {C, V, N}) + pname;
      expect_close(dw.down(), w, 1e-5, s1);
      if (pooling == Pooling::max) check_argmax(darg.down(), t, E, bias, cu, C, V, 1e-5, s1);
      else expect(darg.down() == std::vector<int32_t>(B * V, -1), s1 + ": argmax not -1 for sum pooling");
      // bf16 tensor-core path
      std::vector<float> wr(B * V);
      splade_pool_forward_ref(wr.data(), nullptr, tr.data(), Er.data(), bias.data(), cu.data(), B, C, V, pooling);
      splade_pool_forward_bf16_cuda(dw.p, darg.p, bf(dtb), bf(dEb), dbias.p, dcu.p, B, C, V, pooling, nullptr);
      const std::string s2 = shape("splade_pool_forward_bf16_cuda", {C, V, N}) + pname;
      const auto wb = dw.down();
      expect_close(wb, wr, 1e-4, s2 + " vs rounded-input reference");
      expect_close(wb, w, 1e-2, s2 + " vs fp32 reference");
      if (pooling == Pooling::max) check_argmax(darg.down(), tr, Er, bias, cu, C, V, 1e-4, s2);
      else expect(darg.down() == std::vector<int32_t>(B * V, -1), s2 + ": argmax not -1 for sum pooling");
      // backward (fp32), from the CPU forward's argmax, onto random gradients; tiles of 100 terms
      auto dw = rand_vec(B * V), gt = rand_vec(N * C), gE = rand_vec(V * C), gb = rand_vec(V);
      Dev<float> ddw(dw), dgt(gt), dgE(gE), dgb(gb), scratch(N * 100);
      Dev<int32_t> dref_arg(arg);
      splade_pool_backward_ref(gt.data(), gE.data(), gb.data(), dw.data(), t.data(), E.data(), bias.data(), arg.data(),
                               cu.data(), B, C, V, pooling);
      splade_pool_backward_cuda(dgt.p, dgE.p, dgb.p, ddw.p, dt.p, dE.p, dbias.p, dref_arg.p, dcu.p, B, N, C, V, pooling,
                                scratch.p, N * 100, nullptr);
      const std::string s3 = shape("splade_pool_backward_cuda", {C, V, N}) + pname;
      expect_close(dgt.down(), gt, 1e-5, s3 + " dt");
      expect_close(dgE.down(), gE, 1e-5, s3 + " dE");
      expect_close(dgb.down(), gb, 1e-5, s3 + " dbias");
    }
  }
}

// ---- dropout ----

// The device masks against cpu/dropout.h: the same factors bit for bit (dropout_apply_cuda is one float
// product per element, as dropout_apply), at an offset and across grid-stride iterations; the residual
// form within 1e-6 (the host may fuse its multiply-add); about p of the elements dropped.
void test_dropout() {
  const size_t n = 300007;
  const DropoutMask m(0.3f, 123456789, 2, DropSite::ffn_output);
  auto x = rand_vec(n), r = rand_vec(n);
  Dev<float> dx(x), dr(r), dres(x);
  std::vector<float> ref = x;
  dropout_apply(ref.data(), n, m, 5);
  dropout_apply_cuda(dx.p, n, m, 5, nullptr);
  const auto got = dx.down();
  size_t differ = 0, dropped = 0;
  for (size_t i = 0; i < n; ++i) {
    differ += std::memcmp(&got[i], &ref[i], 4) != 0;
    dropped += got[i] == 0.0f;
  }
  expect(differ == 0, "dropout_apply_cuda: " + std::to_string(differ) + " elements differ from dropout_apply");
  expect(std::fabs(double(dropped) / n - 0.3) < 0.01, "dropout_apply_cuda: dropped fraction " + std::to_string(double(dropped) / n));
  std::vector<float> res_ref(n);
  for (size_t i = 0; i < n; ++i) res_ref[i] = x[i] * m.factor(i) + r[i];
  dropout_residual_cuda(dres.p, dr.p, n, m, nullptr);
  expect_close(dres.down(), res_ref, 1e-6, "dropout_residual_cuda");
  const DropoutMask off;  // inactive: nothing happens
  dropout_apply_cuda(dr.p, n, off, 0, nullptr);
  expect(dr.down() == r, "dropout_apply_cuda with an inactive mask changed its input");
}

// Attention with the probabilities' dropout (training) against attention_train_{forward,backward}_cpu
// (double): 1e-5 as without dropout, for the register kernels (head 64, 32), the generic one (head 12)
// and the backward.
void test_attention_dropout() {
  struct Case { size_t C, NH; std::vector<int> lens; };
  const Case cases[] = {{128, 2, {1, 5, 64, 65, 200}}, {64, 2, {130, 7, 1}}, {48, 4, {9, 33, 1, 70}}};
  for (const Case& cs : cases) {
    const DropoutMask m(0.2f, 987654321, 1, DropSite::attention_probs);
    const auto cu = cu_of(cs.lens);
    const int B = static_cast<int>(cs.lens.size());
    const size_t N = static_cast<size_t>(cu.back());
    const int max_len = *std::max_element(cs.lens.begin(), cs.lens.end());
    const auto qkv = rand_vec(N * 3 * cs.C, -1.5f, 1.5f);
    std::vector<float> ref(N * cs.C);
    attention_train_forward_ref(ref.data(), qkv.data(), cu.data(), B, cs.C, cs.NH, m);
    Dev<float> dqkv(qkv), dout(N * cs.C), dout2(N * cs.C);
    Dev<int32_t> dcu(cu);
    attention_forward_cuda(dout.p, dqkv.p, dcu.p, B, cs.C, cs.NH, N, max_len, nullptr, m);
    expect_close(dout.down(), ref, 1e-5, shape("attention_forward_cuda with dropout", {cs.C, cs.NH, N}));
    attention_forward_generic_cuda(dout2.p, dqkv.p, dcu.p, B, cs.C, cs.NH, N, nullptr, m);
    expect_close(dout2.down(), ref, 1e-5, shape("attention_forward_generic_cuda with dropout", {cs.C, cs.NH, N}));
    std::vector<float> plain(N * cs.C);
    attention_forward_ref(plain.data(), qkv.data(), cu.data(), B, cs.C, cs.NH);
    expect(rel_err(ref, plain) > 1e-3, shape("attention dropout changes nothing", {cs.C, cs.NH, N}));
    auto dout_h = rand_vec(N * cs.C), grad = rand_vec(N * 3 * cs.C);
    Dev<float> ddout(dout_h), dgrad(grad), dscratch(attention_backward_scratch(N, cs.NH));
    attention_train_backward_ref(grad.data(), dout_h.data(), qkv.data(), cu.data(), B, cs.C, cs.NH, m);
    attention_backward_cuda(dgrad.p, ddout.p, dqkv.p, dcu.p, B, cs.C, cs.NH, N, dscratch.p, nullptr, m);
    expect_close(dgrad.down(), grad, 1e-5, shape("attention_backward_cuda with dropout", {cs.C, cs.NH, N}));
  }
}

// ---- AdamW ----

void test_adamw() {
  const size_t n = 100003;
  auto p = rand_vec(n), m = rand_vec(n, -0.1f, 0.1f), v = rand_vec(n, 0.0f, 0.01f), g = rand_vec(n);
  std::vector<uint8_t> mask(n);
  for (size_t i = 0; i < n; ++i) mask[i] = (i % 3) != 0;
  Dev<float> dp(p), dm(m), dv(v), dg(g);
  Dev<uint8_t> dmask(mask);
  for (int64_t step = 1; step <= 3; ++step) {
    adamw_update_ref(p.data(), m.data(), v.data(), g.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step, mask.data(), 0.5f);
    adamw_update_cuda(dp.p, dm.p, dv.p, dg.p, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step, dmask.p, 0.5f, nullptr);
  }
  const auto hp = dp.down();
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i) differ += std::memcmp(&hp[i], &p[i], 4) != 0;
  std::printf("adamw_update_cuda: %zu of %zu parameters differ in bits from the CPU's after 3 steps\n", differ, n);
  expect_close(hp, p, 1e-5, "adamw_update_cuda params");
  expect_close(dm.down(), m, 1e-5, "adamw_update_cuda m");
  expect_close(dv.down(), v, 1e-5, "adamw_update_cuda v");
  Dev<double> scratch(kGradNormScratch);
  const double ref = grad_norm_sq_ref(g.data(), n), got = grad_norm_sq_cuda(dg.p, n, scratch.p, nullptr);
  expect(std::fabs(got - ref) <= 1e-10 * ref, "grad_norm_sq_cuda: " + std::to_string(got) + " vs " + std::to_string(ref));
  const double again = grad_norm_sq_cuda(dg.p, n, scratch.p, nullptr);
  expect(again == got, "grad_norm_sq_cuda is not deterministic");
}

// ---- the whole encoder ----

// A random small BERT / DistilBERT: CudaEncoder (reference and fast paths) against the CPU reference
// forward. Tolerances: reference 1e-4 (fp32 on both sides, in different orders, through every layer),
// fast 2e-2 (bf16 GEMM inputs through 2 layers and the head).
// A random small encoder: 2 layers, 64 wide, vocabulary 300, LayerNorm gains near 1 (as in trained checkpoints).
const char* arch_name(Arch arch) {
  return arch == Arch::bert ? "bert" : arch == Arch::roberta ? "roberta" : "distilbert";
}

struct TestModel {
  EncoderConfig cfg;
  ParamLayout L;
  std::vector<float> params;
  TestModel(Arch arch, size_t heads) {
    cfg.arch = arch; cfg.vocab = 300; cfg.hidden = 64; cfg.layers = 2; cfg.heads = heads; cfg.intermediate = 128;
    cfg.max_positions = 80; cfg.type_vocab = arch == Arch::bert ? 2 : arch == Arch::roberta ? 1 : 0; cfg.eps = 1e-12f;
    cfg.position_offset = arch == Arch::roberta ? 2 : 0;  // RoBERTa: positions past padding_idx 1
    L = make_layout(cfg);
    params = rand_vec(L.total, -0.15f, 0.15f);
    for (const ParamEntry& e : L.entries)
      if (e.name.find("LayerNorm.weight") != std::string::npos || e.name.find("layer_norm.weight") != std::string::npos)
        for (size_t i = 0; i < e.numel(); ++i) params[e.offset + i] += 1.0f;
  }
};

// Random ids (and, for BERT, type ids) for sequences of the given lengths: the batch points into this.
struct TestBatch {
  std::vector<int32_t> cu, ids, types;
  PackedBatch batch;
  TestBatch(const EncoderConfig& cfg, const std::vector<int>& lens, bool with_types) : cu(cu_of(lens)) {
    const size_t N = static_cast<size_t>(cu.back());
    std::uniform_int_distribution<int> uid(0, int(cfg.vocab) - 1), utt(0, 1);
    ids.resize(N);
    types.resize(N);
    for (auto& v : ids) v = uid(rng);
    for (auto& v : types) v = utt(rng);
    batch = PackedBatch{ids.data(), with_types ? types.data() : nullptr, cu.data(), static_cast<int>(lens.size()), N};
  }
};

// max over the tensors of the layout of (max |x - ref| / max |ref|) in that tensor (each tensor against its
// own largest value: some gradients are 1e-3 of others); the worst tensor's name in worst
double per_tensor_err(const std::vector<float>& x, const std::vector<float>& ref, const ParamLayout& L, std::string& worst) {
  double err = 0;
  for (const ParamEntry& e : L.entries) {
    double diff = 0, mag = 1e-12;
    for (size_t i = e.offset; i < e.offset + e.numel(); ++i) {
      if (!std::isfinite(x[i])) diff = INFINITY;  // std::max would pass over a NaN
      diff = std::max(diff, std::fabs(double(x[i]) - ref[i]));
      mag = std::max(mag, std::fabs(double(ref[i])));
    }
    if (diff / mag > err) err = diff / mag, worst = e.name;
  }
  return err;
}

void test_encoder(Arch arch, size_t heads) {
  TestModel model(arch, heads);
  const EncoderConfig& cfg = model.cfg;
  const ParamLayout& L = model.L;
  std::vector<float>& params = model.params;
  const TestBatch tb(cfg, {5, 80, 1, 33}, arch == Arch::bert);
  const auto& cu = tb.cu;
  const auto& ids = tb.ids;
  const int B = 4;
  const size_t N = static_cast<size_t>(cu.back()), V = cfg.vocab;
  const PackedBatch batch = tb.batch;
  cuda::CudaEncoder enc(cfg, params.data());
  std::vector<float> w0(B * V);
  expect_throws([&] { enc.forward(w0.data(), nullptr, batch, Pooling::max, false, true); }, kInvalidArgument,
                "CudaEncoder packed forward before prepare()");
  const std::string name = std::string(arch_name(arch)) + " heads " + std::to_string(heads);
  for (Pooling pooling : {Pooling::max, Pooling::sum}) {
    const std::string s = "CudaEncoder " + name + (pooling == Pooling::max ? " max" : " sum");
    std::vector<float> ref(B * V), got(B * V);
    std::vector<int32_t> arg(B * V, -7);
    encoder_splade_forward(ref.data(), nullptr, cfg, L, params.data(), batch, pooling, true);
    enc.forward(got.data(), arg.data(), batch, pooling, true, false);  // fp32 on the arena
    expect_close(got, ref, 1e-4, s + " reference path");
    size_t bad = 0;
    for (int b = 0; b < B; ++b)
      for (size_t j = 0; j < V; ++j) {
        const int32_t a = arg[b * V + j];
        if (pooling == Pooling::sum) bad += a != -1;
        else bad += ref[b * V + j] > 1e-3f ? (a < cu[b] || a >= cu[b + 1]) : (a != -1 && (a < cu[b] || a >= cu[b + 1]));
      }
    expect(bad == 0, s + ": " + std::to_string(bad) + " argmax entries out of their sequence");
    enc.prepare(false);  // packed fp32: the fp32 kernels again
    enc.forward(got.data(), nullptr, batch, pooling, false, true);
    expect_close(got, ref, 1e-4, s + " packed fp32");
    enc.prepare(true);  // packed bf16: tensor cores
    enc.forward(got.data(), nullptr, batch, pooling, false, true);
    expect_close(got, ref, 2e-2, s + " packed bf16 (fast path)");
    enc.forward(got.data(), nullptr, batch, pooling, true, true);  // reference on the packed weights: fp32
    expect_close(got, ref, 1e-4, s + " packed, reference");
  }
  // training forward + backward (fp32 on the GPU) against the CPU reference. Gradients are compared per
  // parameter tensor relative to that tensor's own largest gradient (some are 1e-3 of others): 1e-3,
  // for fp32 sums in other orders through the whole backward (the CPU reference accumulates in double).
  {
    std::vector<float> dw = rand_vec(B * V), w_ref(B * V), w_gpu(B * V);
    std::vector<float> g_ref(L.total, 0.0f), g_gpu(L.total, 0.0f);
    EncoderActivations acts;
    encoder_splade_forward_train(w_ref.data(), acts, cfg, L, params.data(), batch, Pooling::max, true);
    encoder_splade_backward(g_ref.data(), acts, dw.data(), cfg, L, params.data(), batch, Pooling::max, true);
    enc.gradients(w_gpu.data(), g_gpu.data(), dw.data(), batch, Pooling::max);
    expect_close(w_gpu, w_ref, 1e-4, "CudaEncoder::gradients " + name + " w");
    std::string worst;
    const double gerr = per_tensor_err(g_gpu, g_ref, L, worst);
    expect(gerr <= 1e-3, "CudaEncoder::gradients " + name + " " + worst + ": rel err " + std::to_string(gerr));
    // a weight update (as an optimizer step makes): unpacked forwards and prepare() see it
    for (size_t i = 0; i < L.total; ++i) params[i] -= 0.01f * g_ref[i];
    std::vector<float> w2_ref(B * V), w2_gpu(B * V);
    encoder_splade_forward(w2_ref.data(), nullptr, cfg, L, params.data(), batch, Pooling::max, true);
    enc.forward(w2_gpu.data(), nullptr, batch, Pooling::max, true, false);
    expect_close(w2_gpu, w2_ref, 1e-4, "CudaEncoder " + name + " unpacked forward after a weight update");
    enc.prepare(false);
    enc.forward(w2_gpu.data(), nullptr, batch, Pooling::max, false, true);
    expect_close(w2_gpu, w2_ref, 1e-4, "CudaEncoder " + name + " packed forward after a weight update and prepare()");
  }
  std::vector<int32_t> bad_ids = ids;
  bad_ids[7] = static_cast<int32_t>(V);
  const PackedBatch bad{bad_ids.data(), nullptr, cu.data(), B, N};
  std::vector<float> w(B * V);
  expect_throws([&] { enc.forward(w.data(), nullptr, bad, Pooling::max, false, true); }, kOutOfRange,
                "CudaEncoder with an id outside the vocabulary");
}

// The Trainer's device-resident step (CudaEncoder::train_forward / train_backward / grad_norm_sq /
// adamw_update / read_*): a queries batch and a documents batch through one encoder, as Trainer.step runs
// them, against the CPU reference. Tolerances: vectors 1e-4 and gradients 1e-3 per tensor, as for
// gradients() above; the norm 1e-4 relative (a sum of squares of gradients that agree to ~1e-5). The
// update is checked on the GPU's own gradients (read back), so it must match adamw_update_ref as
// adamw_update_cuda does (1e-6: the same float operations in the same order), isolating the arena-wide
// update, the decay mask and the moments from the gradients' own rounding (which Adam's normalisation
// would amplify where a gradient is near zero).
void test_train_step(Arch arch, size_t heads) {
  TestModel model(arch, heads);
  const EncoderConfig& cfg = model.cfg;
  const ParamLayout& L = model.L;
  const size_t V = cfg.vocab, total = L.total;
  const std::string name = std::string("train step ") + arch_name(arch) + " heads " + std::to_string(heads);
  const TestBatch q(cfg, {4, 9, 2}, false), d(cfg, {30, 7, 64, 1, 12, 50}, false);
  std::vector<float> host = model.params;  // the host arena the encoder mirrors
  cuda::CudaEncoder enc(cfg, host.data());

  // CPU reference: both forwards, both backwards into one gradient
  const auto dwq = rand_vec(q.batch.B * V), dwd = rand_vec(d.batch.B * V);
  std::vector<float> wq_ref(q.batch.B * V), wd_ref(d.batch.B * V), g_ref(total, 0.0f);
  EncoderActivations aq, ad;
  encoder_splade_forward_train(wq_ref.data(), aq, cfg, L, model.params.data(), q.batch, Pooling::max, true);
  encoder_splade_forward_train(wd_ref.data(), ad, cfg, L, model.params.data(), d.batch, Pooling::max, true);
  encoder_splade_backward(g_ref.data(), aq, dwq.data(), cfg, L, model.params.data(), q.batch, Pooling::max, true);
  encoder_splade_backward(g_ref.data(), ad, dwd.data(), cfg, L, model.params.data(), d.batch, Pooling::max, true);

  // the device: both forwards before either backward (their activations coexist), as the Trainer runs them
  enc.zero_grads();
  std::vector<float> wq(q.batch.B * V), wd(d.batch.B * V), g(total);
  auto hq = enc.train_forward(wq.data(), q.batch, Pooling::max, true);
  auto hd = enc.train_forward(wd.data(), d.batch, Pooling::max, false);
  expect_close(wq, wq_ref, 1e-4, name + ": queries' vectors");
  expect_close(wd, wd_ref, 1e-4, name + ": documents' vectors");
  expect_throws([&] { enc.train_backward(*hq, dwq.data(), dwq.size() - 1); }, kInvalidArgument, name + ": dw of the wrong size");
  enc.train_backward(*hq, dwq.data(), dwq.size());
  expect_throws([&] { enc.train_backward(*hq, dwq.data(), dwq.size()); }, kInvalidArgument, name + ": a second backward");
  enc.train_backward(*hd, dwd.data(), dwd.size());
  enc.read_grads(g.data());
  std::string worst;
  const double gerr = per_tensor_err(g, g_ref, L, worst);
  expect(gerr <= 1e-3, name + ": gradients, " + worst + " rel err " + std::to_string(gerr));
  const double nsq = enc.grad_norm_sq(), nsq_ref = grad_norm_sq_ref(g_ref.data(), total);
  expect(std::fabs(nsq - nsq_ref) <= 1e-4 * nsq_ref, name + ": grad norm^2 " + std::to_string(nsq) + " vs " + std::to_string(nsq_ref));
  // gradients() keeps its own gradient: the trainer's accumulated one is untouched
  {
    std::vector<float> w_tmp(q.batch.B * V), g_tmp(total, 0.0f), g_after(total);
    enc.gradients(w_tmp.data(), g_tmp.data(), dwq.data(), q.batch, Pooling::max);
    enc.read_grads(g_after.data());
    expect(g_after == g, name + ": gradients() changed the device training gradient");
  }
  // another encoder's activations are refused
  {
    cuda::CudaEncoder other(cfg, host.data());
    std::vector<float> w_other(q.batch.B * V);
    auto h_other = other.train_forward(w_other.data(), q.batch, Pooling::max, false);
    expect_throws([&] { enc.train_backward(*h_other, dwq.data(), dwq.size()); }, kInvalidArgument,
                  name + ": activations of another encoder");
  }

  // two optimizer steps (clipped: scale 0.5), on the device and on the CPU from the device's own gradients
  std::vector<uint8_t> mask(total, 0);
  for (const ParamEntry& e : L.entries)
    if (e.name.find("bias") == std::string::npos && e.name.find("LayerNorm") == std::string::npos &&
        e.name.find("layer_norm") == std::string::npos)
      std::fill(mask.begin() + e.offset, mask.begin() + e.offset + e.numel(), uint8_t{1});
  std::vector<float> p_ref = model.params, m_ref(total, 0.0f), v_ref(total, 0.0f);
  for (int64_t step = 1; step <= 2; ++step) {
    adamw_update_ref(p_ref.data(), m_ref.data(), v_ref.data(), g.data(), total, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step,
                     mask.data(), 0.5f);
    enc.adamw_update(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step, 0.5f, mask.data());
  }
  enc.read_params(host.data());
  expect_close(host, p_ref, 1e-6, name + ": parameters after two AdamW steps");
  std::vector<float> m(total), v(total);
  enc.read_moments(m.data(), v.data());
  expect_close(m, m_ref, 1e-6, name + ": first moments");
  expect_close(v, v_ref, 1e-6, name + ": second moments");

  // the next forward runs on the updated device parameters (no upload) ...
  std::vector<float> w2(q.batch.B * V), w2_ref(q.batch.B * V);
  encoder_splade_forward(w2_ref.data(), nullptr, cfg, L, p_ref.data(), q.batch, Pooling::max, true);
  enc.train_forward(w2.data(), q.batch, Pooling::max, false);
  expect_close(w2, w2_ref, 1e-4, name + ": forward on the updated device parameters");
  // ... and, with upload, on the host arena as it is now
  for (size_t i = 0; i < total; i += 3) host[i] *= 0.5f;
  encoder_splade_forward(w2_ref.data(), nullptr, cfg, L, host.data(), q.batch, Pooling::max, true);
  enc.train_forward(w2.data(), q.batch, Pooling::max, true);
  expect_close(w2, w2_ref, 1e-4, name + ": forward after upload from the host arena");
  // moments written and read back; gradients zeroed
  const auto m_in = rand_vec(total), v_in = rand_vec(total, 0.0f, 1.0f);
  enc.write_moments(m_in.data(), v_in.data());
  enc.read_moments(m.data(), v.data());
  expect(m == m_in && v == v_in, name + ": moments written and read back");
  enc.reset_optimizer();
  enc.read_moments(m.data(), v.data());
  expect(std::all_of(m.begin(), m.end(), [](float x) { return x == 0.0f; }) &&
             std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; }),
         name + ": reset_optimizer");
  enc.zero_grads();
  expect(enc.grad_norm_sq() == 0.0, name + ": zero_grads");
}

// The training forward and backward with dropout (BERT's sites, the CPU's masks) against
// encoder_train_forward / encoder_train_backward (reference kernels, same seed): the tolerances of
// test_train_step; and a different seed gives different vectors (the masks are used).
void test_train_dropout(Arch arch, size_t heads) {
  TestModel model(arch, heads);
  const EncoderConfig& cfg = model.cfg;
  const ParamLayout& L = model.L;
  const size_t V = cfg.vocab;
  const std::string name = std::string("train step with dropout ") + arch_name(arch);
  const TestBatch tb(cfg, {17, 3, 40}, arch == Arch::bert);
  const TrainDropout drop{0.1f, 4242};
  std::vector<float> w_ref(tb.batch.B * V), w(tb.batch.B * V), g_ref(model.L.total, 0.0f), g(model.L.total);
  const auto dw = rand_vec(tb.batch.B * V);
  EncoderActivations acts;
  encoder_train_forward(w_ref.data(), acts, cfg, L, model.params.data(), tb.batch, Pooling::max, drop, true);
  encoder_train_backward(g_ref.data(), acts, dw.data(), cfg, L, model.params.data(), tb.batch, Pooling::max, drop, true);
  cuda::CudaEncoder enc(cfg, model.params.data());
  enc.zero_grads();
  auto h = enc.train_forward(w.data(), tb.batch, Pooling::max, false, drop);
  expect_close(w, w_ref, 1e-4, name + ": vectors");
  enc.train_backward(*h, dw.data(), dw.size());
  enc.read_grads(g.data());
  std::string worst;
  const double gerr = per_tensor_err(g, g_ref, L, worst);
  expect(gerr <= 1e-3, name + ": gradients, " + worst + " rel err " + std::to_string(gerr));
  std::vector<float> w_other(tb.batch.B * V);
  enc.train_forward(w_other.data(), tb.batch, Pooling::max, false, TrainDropout{0.1f, 4243});
  expect(rel_err(w_other, w_ref) > 1e-3, name + ": another seed gives the same vectors");
  expect_throws([&] { enc.train_forward(w_other.data(), tb.batch, Pooling::max, false, TrainDropout{1.0f, 1}); },
                kInvalidArgument, name + ": dropout 1");
}

// The masked-LM head alone against mlm_head_forward_backward_ref (double): more labelled rows than one
// block of 1024, so the blocking is exercised; the loss within 1e-5 relative, what dt / dE / dbias gain
// (they accumulate onto random values) within 1e-4 of its largest (fp32 logits and products against double).
void test_mlm_head() {
  const size_t N = 2600, C = 24, V = 97;
  const auto t = rand_vec(N * C), E = rand_vec(V * C, -0.5f, 0.5f), bias = rand_vec(V);
  std::vector<int32_t> labels(N, -1), rows, row_labels;
  std::uniform_int_distribution<int> uv(0, int(V) - 1);
  for (size_t n = 0; n < N; n += 2) labels[n] = uv(rng);  // 1300 labelled rows
  for (size_t n = 0; n < N; ++n)
    if (labels[n] >= 0) rows.push_back(int32_t(n)), row_labels.push_back(labels[n]);
  // accumulate onto these: small, so that subtracting them back loses nothing at the tolerance, yet as large
  // as what is added (an overwrite instead of += would show)
  const auto dt0 = rand_vec(N * C, -1e-3f, 1e-3f), dE0 = rand_vec(V * C, -1e-3f, 1e-3f), db0 = rand_vec(V, -1e-3f, 1e-3f);
  auto dt = dt0, dE = dE0, db = db0;
  Dev<float> d_t(t), d_E(E), d_bias(bias), d_dt(dt), d_dE(dE), d_db(db);
  size_t count = 0;
  const double ref = mlm_head_forward_backward_ref(dt.data(), dE.data(), db.data(), t.data(), E.data(), bias.data(),
                                                   labels.data(), N, C, V, &count);
  const double got = mlm_head_forward_backward_cuda(d_dt.p, d_dE.p, d_db.p, d_t.p, d_E.p, d_bias.p, rows.data(),
                                                    row_labels.data(), rows.size(), N, C, V, nullptr);
  expect(count == rows.size(), "mlm_head: label count");
  expect(std::fabs(got - ref) <= 1e-5 * std::fabs(ref), "mlm_head_forward_backward_cuda loss " + std::to_string(got) + " vs " + std::to_string(ref));
  auto gained = [](const std::vector<float>& x, const std::vector<float>& x0) {
    std::vector<float> d(x.size());
    for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] - x0[i];
    return d;
  };
  for (auto [dev, ref_v, base, what] : {std::tuple{&d_dt, &dt, &dt0, "dt"}, std::tuple{&d_dE, &dE, &dE0, "dE"},
                                        std::tuple{&d_db, &db, &db0, "dbias"}}) {
    const auto got_d = gained(dev->down(), *base), ref_d = gained(*ref_v, *base);
    double diff = 0, mag = 0;
    for (size_t i = 0; i < ref_d.size(); ++i) {
      if (!std::isfinite(got_d[i])) diff = INFINITY;
      diff = std::max(diff, std::fabs(double(got_d[i]) - ref_d[i]));
      mag = std::max(mag, std::fabs(double(ref_d[i])));
    }
    expect(mag > 0 && diff <= 1e-4 * mag, std::string("mlm_head_forward_backward_cuda ") + what + ": rel err " + std::to_string(diff / mag));
  }
  row_labels[3] = int32_t(V);
  expect_throws([&] { mlm_head_forward_backward_cuda(d_dt.p, d_dE.p, d_db.p, d_t.p, d_E.p, d_bias.p, rows.data(),
                                                     row_labels.data(), rows.size(), N, C, V, nullptr); },
                kInvalidArgument, "mlm_head_forward_backward_cuda with a label out of range");
}

// CudaEncoder::mlm_gradients (with dropout) against encoder_mlm_train (reference kernels, same seed): the
// loss within 1e-5 relative, the gradients within 1e-3 per tensor as for the SPLADE objective; labels
// outside [-1, V) refused; none labelled: loss 0 and no gradient.
void test_mlm_gradients(Arch arch, size_t heads) {
  TestModel model(arch, heads);
  const EncoderConfig& cfg = model.cfg;
  const ParamLayout& L = model.L;
  const std::string name = std::string("mlm_gradients ") + arch_name(arch);
  const TestBatch tb(cfg, {12, 30, 5}, false);
  std::vector<int32_t> labels(tb.ids.size(), -1);
  std::uniform_int_distribution<int> uv(0, int(cfg.vocab) - 1);
  for (size_t n = 1; n < labels.size(); n += 3) labels[n] = uv(rng);
  const TrainDropout drop{0.1f, 777};
  std::vector<float> g_ref(L.total, 0.0f), g(L.total);
  size_t count_ref = 0, count = 0;
  const double ref = encoder_mlm_train(g_ref.data(), labels.data(), cfg, L, model.params.data(), tb.batch, drop, true, &count_ref);
  cuda::CudaEncoder enc(cfg, model.params.data());
  enc.zero_grads();
  const double got = enc.mlm_gradients(tb.batch, labels.data(), false, drop, &count);
  expect(count == count_ref, name + ": label count");
  expect(std::fabs(got - ref) <= 1e-5 * std::fabs(ref), name + ": loss " + std::to_string(got) + " vs " + std::to_string(ref));
  enc.read_grads(g.data());
  std::string worst;
  const double gerr = per_tensor_err(g, g_ref, L, worst);
  expect(gerr <= 1e-3, name + ": gradients, " + worst + " rel err " + std::to_string(gerr));
  std::vector<int32_t> none(labels.size(), -1), bad = labels;
  bad[4] = -2;
  expect_throws([&] { enc.mlm_gradients(tb.batch, bad.data(), false, drop, &count); }, kOutOfRange, name + ": label -2");
  expect(enc.mlm_gradients(tb.batch, none.data(), false, drop, &count) == 0.0 && count == 0, name + ": no labels");
  std::vector<float> g2(L.total);
  enc.read_grads(g2.data());
  expect(g2 == g, name + ": a batch without labels changed the gradients");
}

// ---- what needs no device ----

// The head's tiling plan (host code): every sequence's rows split at tile boundaries into segments, in
// order, and every tile's segments exactly the ones starting in it, covering the tile's rows.
void test_pool_plan() {
  for (int tile_rows : {128, 8, 1}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::uniform_int_distribution<int> ub(0, 40), ul(0, trial % 2 ? 300 : 20);
      std::vector<int> lens(ub(rng));
      for (int& l : lens) l = ul(rng);
      const auto cu = cu_of(lens);
      const int B = static_cast<int>(lens.size());
      const PoolPlan p = make_pool_plan(cu.data(), B, tile_rows);
      const std::string s = "make_pool_plan tile " + std::to_string(tile_rows) + " trial " + std::to_string(trial);
      bool ok = p.seq_segs.size() == size_t(B) + 1 && p.seq_segs[0] == 0 && size_t(p.seq_segs[B]) == p.segs.size();
      for (int b = 0; ok && b < B; ++b) {
        int32_t next = cu[b];
        for (int32_t k = p.seq_segs[b]; ok && k < p.seq_segs[b + 1]; ++k) {
          const PoolSegment& g = p.segs[k];
          ok = g.row_begin == next && g.row_end > g.row_begin && g.row_begin / tile_rows == (g.row_end - 1) / tile_rows;
          next = g.row_end;
        }
        ok = ok && next == cu[b + 1];
      }
      const int32_t N = cu.back();
      const size_t tiles = (size_t(N) + tile_rows - 1) / tile_rows;
      ok = ok && p.tile_segs.size() == tiles + 1;
      for (size_t t = 0; ok && t < tiles; ++t) {
        int32_t next = int32_t(t) * tile_rows;
        for (int32_t k = p.tile_segs[t]; ok && k < p.tile_segs[t + 1]; ++k) {
          ok = p.segs[k].row_begin / tile_rows == int32_t(t) && p.segs[k].row_begin == next;
          next = p.segs[k].row_end;
        }
        ok = ok && next == std::min<int32_t>(N, int32_t(t + 1) * tile_rows);
      }
      expect(ok, s + ": segments do not tile the rows");
    }
  }
  const int32_t bad[] = {0, 5, 3};
  expect_throws([&] { make_pool_plan(bad, 2, 128); }, kInvalidArgument, "make_pool_plan with decreasing cu_seqlens");
}

// The embedding backward's grouping (host code): every row once, in its key's group, rows ascending,
// groups by ascending key, no empty group.
void test_row_groups() {
  for (size_t num_keys : {1, 7, 300}) {
    std::uniform_int_distribution<int> uk(0, int(num_keys) - 1);
    std::vector<int32_t> keys(500);
    for (auto& k : keys) k = uk(rng);
    const RowGroups g = group_rows_by_key(keys, num_keys);
    bool ok = g.offsets.size() == g.target.size() + 1 && g.offsets[0] == 0 && size_t(g.offsets.back()) == keys.size();
    std::vector<int> seen(keys.size(), 0);
    for (size_t i = 0; ok && i < g.target.size(); ++i) {
      ok = g.offsets[i + 1] > g.offsets[i] && (i == 0 || g.target[i] > g.target[i - 1]);
      for (int32_t k = g.offsets[i]; ok && k < g.offsets[i + 1]; ++k) {
        ok = keys[g.rows[k]] == g.target[i] && (k == g.offsets[i] || g.rows[k] > g.rows[k - 1]);
        ++seen[g.rows[k]];
      }
    }
    ok = ok && std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; });
    expect(ok, "group_rows_by_key with " + std::to_string(num_keys) + " keys");
  }
  expect_throws([] { group_rows_by_key({0, 3}, 3); }, kInvalidArgument, "group_rows_by_key with a key out of range");
}

void test_without_device(int devices) {
  test_pool_plan();
  test_row_groups();
  GemmBf16Args g;
  g.M = g.N = 4; g.K = 12; g.lda = g.ldb = 16; g.ldc = 4;
  g.A = g.B = reinterpret_cast<const __nv_bfloat16*>(uintptr_t{256});
  float c = 0;
  g.C = &c;
  expect_throws([&] { gemm_bf16_cuda(g, nullptr); }, kInvalidArgument, "gemm_bf16_cuda with K % 8 != 0");
  g.K = 16; g.A = reinterpret_cast<const __nv_bfloat16*>(uintptr_t{258});
  expect_throws([&] { gemm_bf16_cuda(g, nullptr); }, kInvalidArgument, "gemm_bf16_cuda with a misaligned A");
  expect_throws([&] { attention_forward_cuda(&c, &c, reinterpret_cast<const int32_t*>(&c), 1, 10, 3, 1, 1, nullptr); },
                kInvalidArgument, "attention_forward_cuda with C % NH != 0");
  if (devices == 0) expect_throws([] { cuda::Context ctx(0); }, kUnsupported, "cuda::Context without a device");
  else expect_throws([&] { cuda::Context ctx(devices); }, kInvalidArgument, "cuda::Context on a missing device");
}

}  // namespace

int main() {
  const int devices = cuda::device_count();
  try {
    test_without_device(devices);
    if (devices == 0) {
      std::printf("cuda_test: %d/%d checks that need no device passed (argument checks, tiling plan, row grouping); no CUDA device: skipped the kernel checks\n",
                  checks - failures, checks);
      return failures ? 1 : 0;
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    std::printf("cuda_test: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    test_f32_to_bf16();
    test_sgemm();
    test_gemm_bf16();
    test_layernorm();
    test_gelu();
    test_embed();
    test_attention();
    test_splade_pool();
    test_adamw();
    test_encoder(Arch::bert, 2);        // head 32: the register attention kernel
    test_encoder(Arch::distilbert, 1);  // head 64
    test_encoder(Arch::bert, 8);        // head 8: the generic attention kernel
    test_encoder(Arch::roberta, 2);     // positions offset past the padding index
    test_train_step(Arch::bert, 2);
    test_train_step(Arch::distilbert, 1);
    test_train_step(Arch::roberta, 2);
    test_dropout();
    test_attention_dropout();
    test_train_dropout(Arch::bert, 2);
    test_train_dropout(Arch::distilbert, 1);
    test_mlm_head();
    test_mlm_gradients(Arch::bert, 2);
    test_mlm_gradients(Arch::distilbert, 1);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  std::printf("cuda_test: %d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}

#endif  // SPLADE_WITH_CUDA
