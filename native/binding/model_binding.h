// What the encoder bindings (Encoder, on the CPU or CUDA, and NativeCrossEncoder) share: the config
// object ({ arch, vocabSize, hidden, ... }) -> EncoderConfig, and each call argument that more than one
// method takes, parsed and checked here once: the packed batch, the pooling, the dropout, and the
// sealed handle that carries a training forward's activations to its backward.
#pragma once
#include <napi.h>

#include <memory>
#include <vector>

#include "../model/encoder.h"
#include "../model/encoder_train.h"
#include "napi_util.h"

namespace splade::binding {

// info[i] is the config object; throws a JS Error (and validates the sizes) on a bad one.
EncoderConfig parse_config(const Napi::CallbackInfo& info, size_t i);

// ids (info[i]), typeIds | null (info[i + 1]), cuSeqlens (info[i + 2]) as zero-copy views: at least one
// entry in cuSeqlens, typeIds as long as ids (the kernels check the rest: validate_batch).
struct BatchArgs {
  size_t at = 0;
  View<int32_t> ids{nullptr, 0}, types{nullptr, 0}, cu{nullptr, 0};
  size_t B = 0;
  PackedBatch batch() const { return PackedBatch{ids.data, types.data, cu.data, static_cast<int>(B), ids.size}; }
  // Adds the batch's arrays to what a worker keeps referenced until it finishes.
  void keep(const Napi::CallbackInfo& info, std::vector<Napi::Value>& values) const;
};
BatchArgs arg_batch(const Napi::CallbackInfo& info, size_t i);

Pooling arg_pooling(const Napi::CallbackInfo& info, size_t i);       // 'max' | 'sum'
Precision arg_precision(const Napi::CallbackInfo& info, size_t i);   // 'fp32' | 'bf16' | 'int8'
TrainDropout arg_dropout(const Napi::CallbackInfo& info, size_t i);  // dropout in [0, 1), seed < 2^53 at i + 1

// What mlmGradients resolves to: { loss, count } (the mean masked-LM loss, the labelled positions).
struct MlmResult {
  double loss = 0;
  size_t count = 0;
  Napi::Value to_js(Napi::Env env) const {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", Napi::Number::New(env, loss));
    o.Set("count", Napi::Number::New(env, static_cast<double>(count)));
    return o;
  }
};

// An arena's table of named offsets as encoderLayout returns it: { total, entries: [{ name, offset, shape }] }
Napi::Value layout_to_js(Napi::Env env, const std::vector<ParamEntry>& table, size_t total);

// AdamW's opts object { lr, beta1, beta2, eps, weightDecay, step, gradScale } at info[i]: finite numbers,
// step a positive integer.
struct AdamwArgs {
  float lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t step;
};
AdamwArgs arg_adamw(const Napi::CallbackInfo& info, size_t i);

// A trainForward handle: a frozen object holding the activations in an external, type-tagged (objects can
// be tagged from N-API 8 on; externals not in every Node version), so nothing else passes for one.
template <class T>
Napi::Value make_activations_handle(Napi::Env env, std::shared_ptr<T> acts, const napi_type_tag& tag) {
  auto* owner = new std::shared_ptr<T>(std::move(acts));
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("activations", Napi::External<std::shared_ptr<T>>::New(env, owner, [](Napi::Env, std::shared_ptr<T>* p) { delete p; }));
  if (napi_type_tag_object(env, handle, &tag) != napi_ok || napi_object_freeze(env, handle) != napi_ok)
    throw_error(env, kInternal, "trainForward: could not seal the handle");
  return handle;
}
template <class T>
std::shared_ptr<T> arg_activations_handle(const Napi::CallbackInfo& info, size_t i, const napi_type_tag& tag, const char* what) {
  bool tagged = false;
  const bool ok = info.Length() > i && info[i].IsObject() && napi_check_object_type_tag(info.Env(), info[i], &tag, &tagged) == napi_ok;
  const Napi::Value ext = ok && tagged ? info[i].As<Napi::Object>().Get("activations") : info.Env().Undefined();
  if (!ext.IsExternal()) throw_error(info.Env(), kInvalidArgument, std::string("Expected a ") + what + " trainForward handle");
  return *ext.As<Napi::External<std::shared_ptr<T>>>().Data();
}

}  // namespace splade::binding
