// Training ops on host memory: adamwUpdate() and gradNormSq() over Float32Array views (a parameter
// tensor or a whole arena; synchronous: elementwise passes over at most a few million floats, threaded
// inside); dropoutFactors for the tests. The encoder's training passes are
// methods of its handle (Encoder, model_binding.cpp, on the CPU or a GPU).
#include "../cpu/adamw.h"
#include "model_binding.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

// adamwUpdate(params, m, v, grads: Float32Array (n each),
//             opts: { lr, beta1, beta2, eps, weightDecay, step, gradScale }, decayMask: Uint8Array (n) | null)
Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View<float> p = arg_f32(info, 0, "params");
  View<float> m = arg_f32(info, 1, "m");
  View<float> v = arg_f32(info, 2, "v");
  View<float> g = arg_f32(info, 3, "grads");
  const AdamwArgs a = arg_adamw(info, 4);
  const bool has_mask = info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined();
  View<uint8_t> mask{nullptr, 0};
  if (has_mask) mask = arg_typed<uint8_t>(info, 5, "decayMask", napi_uint8_array);
  if (m.size != p.size || v.size != p.size || g.size != p.size || (has_mask && mask.size != p.size))
    throw_error(env, kInvalidArgument, "Expected params, m, v, grads (and decayMask) of equal lengths");
  guarded(env, [&] {
    adamw_update(p.data, m.data, v.data, g.data, p.size, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step, mask.data, a.grad_scale);
  });
  return env.Undefined();
}

// gradNormSq(grads: Float32Array): number (sum of squares, double accumulation)
Napi::Value GradNormSq(const Napi::CallbackInfo& info) {
  View<float> g = arg_f32(info, 0, "grads");
  return Napi::Number::New(info.Env(), guarded(info.Env(), [&] { return grad_norm_sq(g.data, g.size); }));
}

// dropoutFactors(p, seed, layer, site: 0..3, n): Float32Array of the first n mask factors of a flat site.
Napi::Value DropoutFactors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TrainDropout d = arg_dropout(info, 0);
  const int64_t layer = arg_int(info, 2, "layer", 0, 1 << 20), site = arg_int(info, 3, "site", 0, 3);
  const int64_t n = arg_int(info, 4, "n", 0, int64_t{1} << 28);
  const DropoutMask m(d.p, d.seed, static_cast<size_t>(layer), static_cast<DropSite>(site));
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(n));
  float* f = out.Data();
  for (int64_t i = 0; i < n; ++i) f[i] = m.active ? m.factor(static_cast<uint64_t>(i)) : 1.0f;
  return out;
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwUpdate", Napi::Function::New(env, AdamwUpdate, "adamwUpdate"));
  exports.Set("gradNormSq", Napi::Function::New(env, GradNormSq, "gradNormSq"));
  exports.Set("dropoutFactors", Napi::Function::New(env, DropoutFactors, "dropoutFactors"));
}

Registrar registrar("train", Init);

}  // namespace
}  // namespace splade::binding
