// The kernel-check addon (splade_check.node, built beside splade.node for the tests; not part of the
// product's addon): kernelCheck(op, cpu, seed) runs kernel_check.h's checks of the encoder kernels on one
// vector-unit variant, trainKernelCheck(op, seed) those of the training kernels; both
// return { maxError, nonFinite, mismatches, checked }.
#include "../binding/napi_util.h"
#include "kernel_check.h"

namespace splade::binding {
namespace {

Napi::Value to_js(Napi::Env env, const KernelCheckResult& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("maxError", r.max_error);
  out.Set("nonFinite", static_cast<double>(r.non_finite));
  out.Set("mismatches", static_cast<double>(r.mismatches));
  out.Set("checked", static_cast<double>(r.checked));
  return out;
}

// kernelCheck(op, cpu: 'avx512' | 'avx2' | 'generic', seed)
Napi::Value KernelCheck(const Napi::CallbackInfo& info) {
  const std::string op = arg_string(info, 0, "op");
  const std::string isa_s = arg_string(info, 1, "cpu");
  const int64_t seed = arg_int(info, 2, "seed", 0, int64_t{1} << 52);
  return to_js(info.Env(), guarded(info.Env(), [&] {
    Isa isa;
    if (!parse_isa(isa_s, &isa)) fail(kInvalidArgument, std::string("Expected one of ") + isa_names() + " for cpu but received " + isa_s);
    return kernel_check(op, isa, static_cast<uint64_t>(seed));
  }));
}

// trainKernelCheck(op, seed)
Napi::Value TrainKernelCheck(const Napi::CallbackInfo& info) {
  const std::string op = arg_string(info, 0, "op");
  const int64_t seed = arg_int(info, 1, "seed", 0, int64_t{1} << 52);
  return to_js(info.Env(), guarded(info.Env(), [&] { return train_kernel_check(op, static_cast<uint64_t>(seed)); }));
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kernelCheck", Napi::Function::New(env, KernelCheck, "kernelCheck"));
  exports.Set("trainKernelCheck", Napi::Function::New(env, TrainKernelCheck, "trainKernelCheck"));
}

Registrar registrar("check", Init);

}  // namespace
}  // namespace splade::binding
