// sgemm(opts), sgemmAsync(opts), fmaPeak(opts): the SGEMM and its FMA-peak probe for JavaScript.
// Operands are Float32Array views used in place (C is written in place). lib/kernels.ts validates
// with friendly messages first; every size and index is checked again here, so a bad call throws an
// Error with code ERR_SPLADE_INVALID_ARGUMENT and never reads or writes out of bounds.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../common/cpu_features.h"
#include "../common/thread_pool.h"
#include "../cpu/gemm.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

// Dimensions and leading dimensions stay below 2^31, so (rows - 1) * ld + cols fits in 64 bits.
constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

[[noreturn]] void bad(const std::string& message) { fail(kInvalidArgument, message); }

Napi::Value prop(const Napi::Object& o, const char* name) { return o.Get(name); }

int64_t int_prop(const Napi::Object& o, const char* name, int64_t min, int64_t max) {
  const Napi::Value v = prop(o, name);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.5;
  if (!v.IsNumber() || d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    bad(std::string("Expected an integer in [") + std::to_string(min) + ", " + std::to_string(max) + "] for " + name);
  }
  return static_cast<int64_t>(d);
}

float float_prop(const Napi::Object& o, const char* name) {
  const Napi::Value v = prop(o, name);
  if (!v.IsNumber()) bad(std::string("Expected a finite number for ") + name);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == d) || d == INFINITY || d == -INFINITY) bad(std::string("Expected a finite number for ") + name);
  return static_cast<float>(d);
}

bool bool_prop(const Napi::Object& o, const char* name) {
  const Napi::Value v = prop(o, name);
  if (!v.IsBoolean()) bad(std::string("Expected a boolean for ") + name);
  return v.As<Napi::Boolean>().Value();
}

bool present(const Napi::Object& o, const char* name) {
  const Napi::Value v = prop(o, name);
  return !v.IsUndefined() && !v.IsNull();
}

View<float> f32_prop(const Napi::Object& o, const char* name) {
  const Napi::Value v = prop(o, name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    bad(std::string("Expected a Float32Array for ") + name);
  auto arr = v.As<Napi::TypedArray>();
  auto* base = static_cast<uint8_t*>(arr.ArrayBuffer().Data());
  return View<float>{reinterpret_cast<float*>(base + arr.ByteOffset()), arr.ElementLength()};
}

// A (rows, cols) row-major operand with leading dimension ld must hold (rows - 1) * ld + cols elements.
void check_extent(const char* name, size_t have, int64_t rows, int64_t cols, int64_t ld, const char* ld_name) {
  if (rows == 0 || cols == 0) return;
  if (ld < cols) bad(std::string("Expected ") + ld_name + " >= " + std::to_string(cols) + " but received " + std::to_string(ld));
  const int64_t need = (rows - 1) * ld + cols;
  if (static_cast<int64_t>(have) < need)
    bad(std::string(name) + " is too short: (" + std::to_string(rows) + ", " + std::to_string(cols) + ") with leading dimension " +
        std::to_string(ld) + " needs " + std::to_string(need) + " elements but it has " + std::to_string(have));
}

Isa isa_prop(const Napi::Object& o) {
  if (!present(o, "cpu")) return active_isa();
  const Napi::Value v = prop(o, "cpu");
  Isa isa;
  if (!v.IsString() || !parse_isa(v.As<Napi::String>().Utf8Value(), &isa)) bad("Expected one of avx512, avx2, generic for cpu");
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  return isa;
}

struct SgemmCall {
  GemmArgs args;
  Isa isa;
  std::vector<Napi::Value> arrays;  // pinned for an async call
};

// Copies the options into a plain GemmArgs on the main thread (the worker never touches V8).
SgemmCall parse(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) bad("Expected an options object for sgemm");
  const Napi::Object o = info[0].As<Napi::Object>();
  SgemmCall call;
  GemmArgs& g = call.args;
  const int64_t M = int_prop(o, "m", 0, kMaxDim), N = int_prop(o, "n", 0, kMaxDim), K = int_prop(o, "k", 0, kMaxDim);
  g.M = M; g.N = N; g.K = K;
  g.ta = bool_prop(o, "transA") ? Trans::yes : Trans::no;
  g.tb = bool_prop(o, "transB") ? Trans::yes : Trans::no;
  const int64_t lda = int_prop(o, "lda", 1, kMaxDim), ldb = int_prop(o, "ldb", 1, kMaxDim), ldc = int_prop(o, "ldc", 1, kMaxDim);
  g.lda = lda; g.ldb = ldb; g.ldc = ldc;
  g.alpha = float_prop(o, "alpha");
  g.beta = float_prop(o, "beta");
  const View<float> a = f32_prop(o, "a"), b = f32_prop(o, "b"), c = f32_prop(o, "c");
  if (M && N && K) {
    check_extent("a", a.size, g.ta == Trans::no ? M : K, g.ta == Trans::no ? K : M, lda, "lda");
    check_extent("b", b.size, g.tb == Trans::no ? K : N, g.tb == Trans::no ? N : K, ldb, "ldb");
  }
  check_extent("c", c.size, M, N, ldc, "ldc");
  g.A = a.data; g.B = b.data; g.C = c.data;
  call.arrays = {prop(o, "a"), prop(o, "b"), prop(o, "c")};
  if (present(o, "bias")) {
    const View<float> bias = f32_prop(o, "bias");
    if (static_cast<int64_t>(bias.size) < N) bad("bias is too short: it needs n = " + std::to_string(N) + " elements but it has " + std::to_string(bias.size));
    g.epilogue.bias = bias.data;
    call.arrays.push_back(prop(o, "bias"));
  }
  if (present(o, "residual")) {
    const View<float> res = f32_prop(o, "residual");
    const int64_t ldr = int_prop(o, "ldr", 1, kMaxDim);
    check_extent("residual", res.size, M, N, ldr, "ldr");
    g.epilogue.residual = res.data;
    g.epilogue.ldr = ldr;
    call.arrays.push_back(prop(o, "residual"));
  }
  const Napi::Value act = prop(o, "activation");
  const std::string act_name = act.IsString() ? act.As<Napi::String>().Utf8Value() : "";
  if (act_name == "gelu") g.epilogue.activation = Activation::gelu;
  else if (act_name != "none") bad("Expected one of none, gelu for activation");
  call.isa = isa_prop(o);
  sgemm_validate(g);  // the core's own checks (residual overlapping C, ...), still on the main thread
  return call;
}

Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    SgemmCall call = parse(info);
    sgemm_isa(call.isa, call.args);
    return info.Env().Undefined();
  });
}

Napi::Value SgemmAsync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    SgemmCall call = parse(info);
    const GemmArgs args = call.args;
    const Isa isa = call.isa;
    return PromiseWorker::run(
        info.Env(), [args, isa] { sgemm_isa(isa, args); }, [](Napi::Env env) { return env.Undefined(); }, call.arrays);
  });
}

// fmaPeak({ threads, seconds, cpu }) -> Promise<GFLOP/s>
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) bad("Expected an options object for fmaPeak");
    const Napi::Object o = info[0].As<Napi::Object>();
    const int threads = static_cast<int>(int_prop(o, "threads", 1, num_threads()));
    const float seconds = float_prop(o, "seconds");
    if (!(seconds > 0 && seconds <= 10)) bad("Expected seconds in (0, 10] for fmaPeak");
    const Isa isa = isa_prop(o);
    auto result = std::make_shared<double>(0);
    return PromiseWorker::run(
        info.Env(), [=] { *result = fma_peak_gflops(isa, threads, seconds); },
        [result](Napi::Env env) { return Napi::Number::New(env, *result); });
  });
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, Sgemm, "sgemm"));
  exports.Set("sgemmAsync", Napi::Function::New(env, SgemmAsync, "sgemmAsync"));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak, "fmaPeak"));
}

Registrar registrar("gemm", Init);

}  // namespace
}  // namespace splade::binding
