// Training ops: adamwUpdate() and gradNormSq() over Float32Array views (a parameter tensor or a whole
// arena). Synchronous: elementwise passes over at most a few million floats, threaded inside.
#include <cmath>

#include "../cpu/adamw.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

float opt_number(const Napi::Object& o, const char* key) {
  const Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(o.Env(), kInvalidArgument, std::string("Expected a number for opts.") + key);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_error(o.Env(), kInvalidArgument, std::string("Expected a finite number for opts.") + key);
  return static_cast<float>(d);
}

// adamwUpdate(params, m, v, grads: Float32Array (n each),
//             opts: { lr, beta1, beta2, eps, weightDecay, step, gradScale }, decayMask: Uint8Array (n) | null)
Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<float> p = arg_f32(info, 0, "params");
  View<float> m = arg_f32(info, 1, "m");
  View<float> v = arg_f32(info, 2, "v");
  View<float> g = arg_f32(info, 3, "grads");
  if (info.Length() < 5 || !info[4].IsObject()) throw_error(env, kInvalidArgument, "Expected an object for opts");
  const Napi::Object o = info[4].As<Napi::Object>();
  const bool has_mask = info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined();
  View<uint8_t> mask{nullptr, 0};
  if (has_mask) mask = arg_typed<uint8_t>(info, 5, "decayMask", napi_uint8_array);
  if (m.size != p.size || v.size != p.size || g.size != p.size || (has_mask && mask.size != p.size))
    throw_error(env, kInvalidArgument, "Expected params, m, v, grads (and decayMask) of equal lengths");
  const double step = opt_number(o, "step");
  if (!(step >= 1) || step != static_cast<double>(static_cast<int64_t>(step)))
    throw_error(env, kInvalidArgument, "Expected a positive integer for opts.step");
  const float lr = opt_number(o, "lr"), b1 = opt_number(o, "beta1"), b2 = opt_number(o, "beta2"),
              eps = opt_number(o, "eps"), wd = opt_number(o, "weightDecay"), gs = opt_number(o, "gradScale");
  guarded(env, [&] {
    adamw_update(p.data, m.data, v.data, g.data, p.size, lr, b1, b2, eps, wd, static_cast<int64_t>(step), mask.data, gs);
  });
  return env.Undefined();
}

// gradNormSq(grads: Float32Array): number (sum of squares, double accumulation)
Napi::Value GradNormSq(const Napi::CallbackInfo& info) {
  View<float> g = arg_f32(info, 0, "grads");
  return Napi::Number::New(info.Env(), guarded(info.Env(), [&] { return grad_norm_sq(g.data, g.size); }));
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwUpdate", Napi::Function::New(env, AdamwUpdate, "adamwUpdate"));
  exports.Set("gradNormSq", Napi::Function::New(env, GradNormSq, "gradNormSq"));
}

Registrar registrar("train", Init);

}  // namespace
}  // namespace splade::binding
