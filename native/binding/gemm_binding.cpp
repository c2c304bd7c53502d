// sgemm(opts), sgemmAsync(opts), fmaPeak(opts): the SGEMM and its FMA-peak probe for JavaScript.
// Operands are Float32Array views used in place (C is written in place). lib/kernels.ts validates
// with friendly messages first; every size and index is checked again here, so a bad call throws an
// Error with code ERR_SPLADE_INVALID_ARGUMENT and never reads or writes out of bounds.
#include <cmath>
#include <cstdint>
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
  if (!v.IsString() || !parse_isa(v.As<Napi::String>().Utf8Value(), &isa)) bad(std::string("Expected one of ") + isa_names() + " for cpu");
  if (!isa_supported(isa)) fail(kUnsupported, std::string("this CPU cannot run the ") + isa_name(isa) + " kernels");
  return isa;
}

struct SgemmCall {
  GemmArgs args;
  Isa isa;
  std::shared_ptr<PackedB> packed_b;  // args.packed_b points here; the worker holds a copy of the pointer
  std::vector<Napi::Value> arrays;    // pinned for an async call
};

// The packing of op(B) a call reads instead of b: { cpu, k, n, data } from packB(), checked against the
// product (same kernels, same K and N, data long enough for that layout).
std::shared_ptr<PackedB> packed_prop(const Napi::Object& o, Isa isa, int64_t K, int64_t N) {
  const Napi::Value v = prop(o, "packedB");
  if (!v.IsObject()) bad("Expected an object from packB() for packedB");
  const Napi::Object p = v.As<Napi::Object>();
  Isa packed_isa;
  const Napi::Value cpu = prop(p, "cpu");
  if (!cpu.IsString() || !parse_isa(cpu.As<Napi::String>().Utf8Value(), &packed_isa)) bad(std::string("Expected one of ") + isa_names() + " for packedB.cpu");
  if (packed_isa != isa)
    bad(std::string("packedB was packed for the ") + isa_name(packed_isa) + " kernels but the product runs on the " + isa_name(isa) + " ones");
  if (int_prop(p, "k", 0, kMaxDim) != K || int_prop(p, "n", 0, kMaxDim) != N)
    bad("packedB was packed for another shape: it needs k = " + std::to_string(K) + " and n = " + std::to_string(N));
  const View<float> data = f32_prop(p, "data");
  const size_t need = sgemm_packed_b_floats(isa, static_cast<size_t>(K), static_cast<size_t>(N));
  if (data.size < need) bad("packedB.data is too short: the packing needs " + std::to_string(need) + " elements but it has " + std::to_string(data.size));
  return std::make_shared<PackedB>(PackedB{isa, static_cast<size_t>(K), static_cast<size_t>(N), data.data});
}

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
  call.isa = isa_prop(o);
  const bool packed = present(o, "packedB");
  const View<float> a = f32_prop(o, "a"), c = f32_prop(o, "c");
  const View<float> b = packed ? View<float>{nullptr, 0} : f32_prop(o, "b");
  if (M && N && K) {
    check_extent("a", a.size, g.ta == Trans::no ? M : K, g.ta == Trans::no ? K : M, lda, "lda");
    if (!packed) check_extent("b", b.size, g.tb == Trans::no ? K : N, g.tb == Trans::no ? N : K, ldb, "ldb");
  }
  check_extent("c", c.size, M, N, ldc, "ldc");
  g.A = a.data; g.B = b.data; g.C = c.data;
  call.arrays = {prop(o, "a"), prop(o, "c")};
  if (packed) {
    call.packed_b = packed_prop(o, call.isa, K, N);
    g.packed_b = call.packed_b.get();
    call.arrays.push_back(prop(prop(o, "packedB").As<Napi::Object>(), "data"));
  } else {
    call.arrays.push_back(prop(o, "b"));
  }
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
        info.Env(), [args, isa, keep = call.packed_b] { sgemm_isa(isa, args); }, [](Napi::Env env) { return env.Undefined(); },
        call.arrays);
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

// sgemmPackedFloats({ k, n, cpu }) -> the floats a packing of op(B) (k, n) takes for those kernels.
Napi::Value SgemmPackedFloats(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) bad("Expected an options object for sgemmPackedFloats");
    const Napi::Object o = info[0].As<Napi::Object>();
    const int64_t K = int_prop(o, "k", 0, kMaxDim), N = int_prop(o, "n", 0, kMaxDim);
    return Napi::Number::New(info.Env(), static_cast<double>(sgemm_packed_b_floats(isa_prop(o), K, N)));
  });
}

// sgemmPackB({ b, k, n, transB, ldb, cpu, out }) -> offset: packs op(B) into out from the first 64-byte
// aligned element (the offset returned), which the caller sized as sgemmPackedFloats + 16.
Napi::Value SgemmPackB(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) bad("Expected an options object for sgemmPackB");
    const Napi::Object o = info[0].As<Napi::Object>();
    const int64_t K = int_prop(o, "k", 0, kMaxDim), N = int_prop(o, "n", 0, kMaxDim), ldb = int_prop(o, "ldb", 1, kMaxDim);
    const Trans tb = bool_prop(o, "transB") ? Trans::yes : Trans::no;
    const Isa isa = isa_prop(o);
    const View<float> b = f32_prop(o, "b"), out = f32_prop(o, "out");
    if (K && N) check_extent("b", b.size, tb == Trans::no ? K : N, tb == Trans::no ? N : K, ldb, "ldb");
    const size_t need = sgemm_packed_b_floats(isa, K, N);
    const size_t offset = (64 - reinterpret_cast<uintptr_t>(out.data) % 64) % 64 / sizeof(float);
    if (out.size < offset + need) bad("out is too short: the packing needs " + std::to_string(need + 16) + " elements");
    sgemm_pack_b(isa, tb, K, N, b.data, ldb, out.data + offset);
    return Napi::Number::New(info.Env(), static_cast<double>(offset));
  });
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemmPackedFloats", Napi::Function::New(env, SgemmPackedFloats, "sgemmPackedFloats"));
  exports.Set("sgemmPackB", Napi::Function::New(env, SgemmPackB, "sgemmPackB"));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm, "sgemm"));
  exports.Set("sgemmAsync", Napi::Function::New(env, SgemmAsync, "sgemmAsync"));
  exports.Set("fmaPeak", Napi::Function::New(env, FmaPeak, "fmaPeak"));
}

Registrar registrar("gemm", Init);

}  // namespace
}  // namespace splade::binding
