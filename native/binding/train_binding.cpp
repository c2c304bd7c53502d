// Training ops: adamwUpdate() and gradNormSq() over Float32Array views (a parameter tensor or a whole
// arena; synchronous: elementwise passes over at most a few million floats, threaded inside); the
// encoder's training passes (trainForward keeps the activations in a handle that trainBackward
// consumes, mlmGradients runs a whole masked-LM forward/backward), dropoutFactors and
// trainKernelCheck for the tests.
#include <cmath>
#include <memory>

#include "../cpu/adamw.h"
#include "../model/encoder_train.h"
#include "../train/train_kernel_check.h"
#include "model_binding.h"
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

// One batch between trainForward and trainBackward: the batch (copied), the activations, the arena.
struct TrainHandle {
  EncoderConfig cfg;
  ParamLayout layout;
  const float* params = nullptr;
  Napi::Reference<Napi::Value> arena_ref;
  std::vector<int32_t> ids, types, cu;
  Pooling pooling = Pooling::max;
  TrainDropout drop;
  EncoderActivations acts;
  bool busy = false, consumed = false;
  PackedBatch batch() const {
    return PackedBatch{ids.data(), types.empty() ? nullptr : types.data(), cu.data(), static_cast<int>(cu.size()) - 1,
                       ids.size()};
  }
};

TrainDropout arg_dropout(const Napi::CallbackInfo& info, size_t i) {
  const double p = arg_number(info, i, "dropout");
  if (!(p >= 0.0 && p < 1.0)) throw_error(info.Env(), kInvalidArgument, "Expected dropout in [0, 1)");
  return TrainDropout{static_cast<float>(p), static_cast<uint64_t>(arg_int(info, i + 1, "seed", 0, int64_t{1} << 53))};
}

// The batch arguments ids, typeIds | null, cuSeqlens at info[i..i+2], checked and copied.
void arg_batch(const Napi::CallbackInfo& info, size_t i, std::vector<int32_t>& ids, std::vector<int32_t>& types,
               std::vector<int32_t>& cu) {
  View<int32_t> id = arg_i32(info, i, "ids");
  const bool has_types = info.Length() > i + 1 && !info[i + 1].IsNull() && !info[i + 1].IsUndefined();
  View<int32_t> ty{nullptr, 0};
  if (has_types) ty = arg_i32(info, i + 1, "typeIds");
  View<int32_t> c = arg_i32(info, i + 2, "cuSeqlens");
  if (c.size < 2) throw_error(info.Env(), kInvalidArgument, "Expected at least two entries in cuSeqlens");
  if (has_types && ty.size != id.size) throw_error(info.Env(), kInvalidArgument, "Expected typeIds as long as ids");
  ids.assign(id.data, id.data + id.size);
  if (has_types) types.assign(ty.data, ty.data + ty.size);
  cu.assign(c.data, c.data + c.size);
}

// A handle over config (info[0]), arena (info[1]) and the batch (info[2..4]), checked and copied.
std::shared_ptr<TrainHandle> arg_train_batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = std::make_shared<TrainHandle>();
  h->cfg = parse_config(info, 0);
  h->layout = guarded(env, [&] { return make_layout(h->cfg); });
  View<float> arena = arg_f32(info, 1, "arena");
  if (arena.size < h->layout.total) throw_error(env, kInvalidArgument, "Expected an arena of " + std::to_string(h->layout.total) + " floats");
  h->params = arena.data;
  arg_batch(info, 2, h->ids, h->types, h->cu);
  return h;
}

// trainForward(config, arena, ids, typeIds | null, cuSeqlens, pooling: 'max'|'sum', out: Float32Array (B*V),
//              dropout, seed): Promise<handle>. out receives the SPLADE vectors; the handle keeps the
// activations for one trainBackward.
Napi::Value TrainForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<TrainHandle> h = arg_train_batch(info);
  const std::string pooling = arg_string(info, 5, "pooling");
  if (pooling != "max" && pooling != "sum") throw_error(env, kInvalidArgument, "Expected 'max' or 'sum' for pooling but received " + pooling);
  h->pooling = pooling == "max" ? Pooling::max : Pooling::sum;
  View<float> out = arg_f32(info, 6, "out");
  const size_t B = h->cu.size() - 1;
  if (out.size != B * h->cfg.vocab) throw_error(env, kInvalidArgument, "Expected out to hold " + std::to_string(B * h->cfg.vocab) + " floats");
  h->drop = arg_dropout(info, 7);
  h->arena_ref = Napi::Persistent(info[1]);
  h->busy = true;
  auto* owner = new std::shared_ptr<TrainHandle>(h);
  Napi::External<std::shared_ptr<TrainHandle>> handle = Napi::External<std::shared_ptr<TrainHandle>>::New(
      env, owner, [](Napi::Env, std::shared_ptr<TrainHandle>* p) { delete p; });
  return PromiseWorker::run(
      env,
      [h, w = out.data] {
        encoder_train_forward(w, h->acts, h->cfg, h->layout, h->params, h->batch(), h->pooling, h->drop, false);
      },
      [h, ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(handle.As<Napi::Value>()))](
          Napi::Env) -> Napi::Value {
        h->busy = false;
        return ref->Value();
      },
      {info[6], handle});
}

std::shared_ptr<TrainHandle> arg_handle(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsExternal()) throw_error(info.Env(), kInvalidArgument, "Expected a trainForward handle");
  return *info[i].As<Napi::External<std::shared_ptr<TrainHandle>>>().Data();
}

// trainBackward(handle, dw: Float32Array (B*V), grads: Float32Array (arena-sized)): Promise<void>.
// grads += dLoss/dparams for dLoss/dw = dw; the handle's activations are released after.
Napi::Value TrainBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<TrainHandle> h = arg_handle(info, 0);
  View<float> dw = arg_f32(info, 1, "dw");
  View<float> grads = arg_f32(info, 2, "grads");
  if (h->busy || h->consumed) throw_error(env, kInvalidArgument, "Expected a finished trainForward handle not yet used by trainBackward");
  const size_t B = h->cu.size() - 1;
  if (dw.size != B * h->cfg.vocab) throw_error(env, kInvalidArgument, "Expected dw to hold " + std::to_string(B * h->cfg.vocab) + " floats");
  if (grads.size < h->layout.total) throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(h->layout.total) + " floats");
  h->busy = true;
  h->consumed = true;
  return PromiseWorker::run(
      env,
      [h, d = dw.data, g = grads.data] {
        encoder_train_backward(g, h->acts, d, h->cfg, h->layout, h->params, h->batch(), h->pooling, h->drop, false);
        h->acts = EncoderActivations{};
      },
      [h](Napi::Env e) -> Napi::Value {
        h->busy = false;
        return e.Undefined();
      },
      {info[0], info[1], info[2]});
}

// mlmGradients(config, arena, ids, typeIds | null, cuSeqlens, labels: Int32Array (N, -1: none),
//              grads: Float32Array (arena-sized), dropout, seed): Promise<{ loss, count }>.
Napi::Value MlmGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<TrainHandle> h = arg_train_batch(info);
  View<int32_t> labels = arg_i32(info, 5, "labels");
  if (labels.size != h->ids.size()) throw_error(env, kInvalidArgument, "Expected labels as long as ids");
  View<float> grads = arg_f32(info, 6, "grads");
  if (grads.size < h->layout.total) throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(h->layout.total) + " floats");
  h->drop = arg_dropout(info, 7);
  auto result = std::make_shared<std::pair<double, size_t>>(0.0, 0);
  return PromiseWorker::run(
      env,
      [h, result, l = labels.data, g = grads.data] {
        result->first = encoder_mlm_train(g, l, h->cfg, h->layout, h->params, h->batch(), h->drop, false, &result->second);
      },
      [result](Napi::Env e) -> Napi::Value {
        Napi::Object o = Napi::Object::New(e);
        o.Set("loss", result->first);
        o.Set("count", static_cast<double>(result->second));
        return o;
      },
      {info[1], info[5], info[6]});
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

// trainKernelCheck(op, seed): Float64Array [maxError, nonFinite, mismatches, checked] (train_kernel_check.h).
Napi::Value TrainKernelCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = arg_string(info, 0, "op");
  const int64_t seed = arg_int(info, 1, "seed", 0, int64_t{1} << 52);
  const KernelCheckResult r = guarded(env, [&] { return train_kernel_check(op, static_cast<uint64_t>(seed)); });
  Napi::Float64Array out = Napi::Float64Array::New(env, 4);
  const double values[4] = {r.max_error, double(r.non_finite), double(r.mismatches), double(r.checked)};
  for (size_t i = 0; i < 4; ++i) out[i] = values[i];
  return out;
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwUpdate", Napi::Function::New(env, AdamwUpdate, "adamwUpdate"));
  exports.Set("gradNormSq", Napi::Function::New(env, GradNormSq, "gradNormSq"));
  exports.Set("trainForward", Napi::Function::New(env, TrainForward, "trainForward"));
  exports.Set("trainBackward", Napi::Function::New(env, TrainBackward, "trainBackward"));
  exports.Set("mlmGradients", Napi::Function::New(env, MlmGradients, "mlmGradients"));
  exports.Set("dropoutFactors", Napi::Function::New(env, DropoutFactors, "dropoutFactors"));
  exports.Set("trainKernelCheck", Napi::Function::New(env, TrainKernelCheck, "trainKernelCheck"));
}

Registrar registrar("train", Init);

}  // namespace
}  // namespace splade::binding
