// info(), setCpu(), setThreads(): what the native core runs on, and the knobs that choose it.
#include "../common/cpu_features.h"
#include "../common/thread_pool.h"
#include "../model/precision.h"
#include "napi_util.h"
#ifdef SPLADE_WITH_CUDA
#include "../cuda/device.h"
#endif

namespace splade::binding {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpu", isa_name(active_isa()));
  Napi::Array cpus = Napi::Array::New(env);
  uint32_t i = 0;
  for (Isa isa : supported_isas()) cpus.Set(i++, isa_name(isa));
  out.Set("supportedCpus", cpus);
  Napi::Array extensions = Napi::Array::New(env);
  i = 0;
  for (const std::string& e : cpu_extensions()) extensions.Set(i++, e);
  out.Set("cpuExtensions", extensions);
  out.Set("threads", num_threads());
  Napi::Object precisions = Napi::Object::New(env);  // the kernels each precision runs on now
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::int8}) precisions.Set(precision_name(p), precision_kernel(p));
  out.Set("precisions", precisions);
#ifdef SPLADE_WITH_CUDA
  out.Set("cuda", true);
  out.Set("cudaDevices", cuda::device_count());
#else
  out.Set("cuda", false);
  out.Set("cudaDevices", 0);
#endif
  return out;
}

Napi::Value SetCpu(const Napi::CallbackInfo& info) {
  const std::string name = arg_string(info, 0, "cpu");
  return guarded(info.Env(), [&]() -> Napi::Value {
    Isa isa;
    if (!parse_isa(name, &isa)) fail(kInvalidArgument, std::string("Expected one of ") + isa_names() + " for cpu but received " + name);
    set_active_isa(isa);
    return info.Env().Undefined();
  });
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int n = static_cast<int>(arg_int(info, 0, "threads", 0, 1024));
  return guarded(info.Env(), [&]() -> Napi::Value {
    set_num_threads(n);
    return Napi::Number::New(info.Env(), num_threads());
  });
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setCpu", Napi::Function::New(env, SetCpu, "setCpu"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
}

Registrar registrar("info", Init);

}  // namespace
}  // namespace splade::binding
