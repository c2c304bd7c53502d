// The cross-encoder handle: crossEncoderLayout(config) (the arena's table of named offsets: the BERT
// transformer, bert.pooler.dense.*, classifier.*) and NativeCrossEncoder (an ObjectWrap over an arena
// that JavaScript allocated). forward() runs in a PromiseWorker; the arena and every typed array it
// reads or fills stay referenced until it finishes.
#include "../model/cross_encoder.h"
#include "../model/cross_encoder_train.h"
#include "model_binding.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

Napi::Value CrossEncoderLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EncoderConfig cfg = parse_config(info, 0);
  return guarded(env, [&]() -> Napi::Value {
    const ParamLayout L = make_cross_layout(cfg).base;
    Napi::Object out = Napi::Object::New(env);
    out.Set("total", static_cast<double>(L.total));
    Napi::Array entries = Napi::Array::New(env, L.entries.size());
    for (size_t i = 0; i < L.entries.size(); ++i) {
      const ParamEntry& e = L.entries[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", e.name);
      o.Set("offset", static_cast<double>(e.offset));
      Napi::Array shape = Napi::Array::New(env, e.shape.size());
      for (size_t k = 0; k < e.shape.size(); ++k) shape.Set(static_cast<uint32_t>(k), static_cast<double>(e.shape[k]));
      o.Set("shape", shape);
      entries.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("entries", entries);
    return out;
  });
}

class NativeCrossEncoder : public Napi::ObjectWrap<NativeCrossEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeCrossEncoder", {InstanceMethod("forward", &NativeCrossEncoder::Forward),
                                                                 InstanceMethod("train", &NativeCrossEncoder::Train)});
    exports.Set("NativeCrossEncoder", cls);
  }

  // new NativeCrossEncoder(config, arena: Float32Array)
  explicit NativeCrossEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeCrossEncoder>(info) {
    cfg_ = parse_config(info, 0);
    layout_ = guarded(info.Env(), [&] { return make_cross_layout(cfg_); });
    View<float> arena = arg_f32(info, 1, "arena");
    if (arena.size < layout_.base.total)
      throw_error(info.Env(), kInvalidArgument,
                  "Expected an arena of at least " + std::to_string(layout_.base.total) + " floats but received " +
                      std::to_string(arena.size));
    params_ = arena.data;
    arena_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  }

 private:
  // forward(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, reference: boolean,
  //         logits: Float32Array (B), hidden: Float32Array (B*C) | null): Promise<void>
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<int32_t> ids = arg_i32(info, 0, "ids");
    const bool has_types = info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined();
    View<int32_t> types{nullptr, 0};
    if (has_types) types = arg_i32(info, 1, "typeIds");
    View<int32_t> cu = arg_i32(info, 2, "cuSeqlens");
    const bool reference = arg_bool(info, 3, "reference");
    View<float> logits = arg_f32(info, 4, "logits");
    const bool has_hidden = info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined();
    View<float> hidden{nullptr, 0};
    if (has_hidden) hidden = arg_f32(info, 5, "hidden");
    if (cu.size < 1) throw_error(env, kInvalidArgument, "Expected at least one entry in cuSeqlens");
    const size_t B = cu.size - 1;
    if (has_types && types.size != ids.size) throw_error(env, kInvalidArgument, "Expected typeIds as long as ids");
    if (logits.size != B) throw_error(env, kInvalidArgument, "Expected logits to hold " + std::to_string(B) + " floats");
    if (has_hidden && hidden.size != B * cfg_.hidden)
      throw_error(env, kInvalidArgument, "Expected hidden to hold " + std::to_string(B * cfg_.hidden) + " floats");
    PackedBatch batch{ids.data, has_types ? types.data : nullptr, cu.data, static_cast<int>(B), ids.size};
    std::vector<Napi::Value> keep = {info.This(), info[0], info[2], info[4]};
    if (has_types) keep.push_back(info[1]);
    if (has_hidden) keep.push_back(info[5]);
    return PromiseWorker::run(
        env,
        [this, batch, reference, l = logits.data, h = hidden.data] {
          cross_encoder_forward(l, h, cfg_, layout_, params_, batch, reference);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // train(ids, typeIds | null, cuSeqlens, loss: 'pointwise' | 'listwise', targets: Float32Array (B) | null,
  //       groupSizes: Int32Array | null, grads: Float32Array (arena-sized, +=), logits: Float32Array (B),
  //       dropout: number, seed: integer, reference: boolean): Promise<number> (the mean loss)
  Napi::Value Train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    View<int32_t> ids = arg_i32(info, 0, "ids");
    const bool has_types = !info[1].IsNull() && !info[1].IsUndefined();
    View<int32_t> types{nullptr, 0};
    if (has_types) types = arg_i32(info, 1, "typeIds");
    View<int32_t> cu = arg_i32(info, 2, "cuSeqlens");
    const std::string loss_name = arg_string(info, 3, "loss");
    if (loss_name != "pointwise" && loss_name != "listwise")
      throw_error(env, kInvalidArgument, "Expected loss 'pointwise' or 'listwise' but received '" + loss_name + "'");
    const CrossLoss loss = loss_name == "pointwise" ? CrossLoss::pointwise : CrossLoss::listwise;
    if (cu.size < 1) throw_error(env, kInvalidArgument, "Expected at least one entry in cuSeqlens");
    const size_t B = cu.size - 1;
    View<float> targets{nullptr, 0};
    View<int32_t> groups{nullptr, 0};
    if (loss == CrossLoss::pointwise) {
      targets = arg_f32(info, 4, "targets");
      if (targets.size != B) throw_error(env, kInvalidArgument, "Expected targets to hold " + std::to_string(B) + " floats");
    } else {
      groups = arg_i32(info, 5, "groupSizes");
    }
    View<float> grads = arg_f32(info, 6, "grads");
    if (grads.size < layout_.base.total)
      throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(layout_.base.total) + " floats");
    View<float> logits = arg_f32(info, 7, "logits");
    if (logits.size != B) throw_error(env, kInvalidArgument, "Expected logits to hold " + std::to_string(B) + " floats");
    const double p = arg_number(info, 8, "dropout");
    if (!(p >= 0.0 && p < 1.0)) throw_error(env, kInvalidArgument, "Expected dropout in [0, 1)");
    const TrainDropout drop{static_cast<float>(p), static_cast<uint64_t>(arg_int(info, 9, "seed", 0, int64_t{1} << 53))};
    const bool reference = arg_bool(info, 10, "reference");
    if (has_types && types.size != ids.size) throw_error(env, kInvalidArgument, "Expected typeIds as long as ids");
    PackedBatch batch{ids.data, has_types ? types.data : nullptr, cu.data, static_cast<int>(B), ids.size};
    std::vector<Napi::Value> keep = {info.This(), info[0], info[2], info[6], info[7]};
    if (has_types) keep.push_back(info[1]);
    if (targets.data) keep.push_back(info[4]);
    if (groups.data) keep.push_back(info[5]);
    auto result = std::make_shared<double>(0.0);
    return PromiseWorker::run(
        env,
        [this, batch, loss, drop, reference, result, t = targets.data, gs = groups.data, ng = groups.size, g = grads.data,
         l = logits.data] {
          *result = cross_encoder_train(g, l, loss, t, gs, ng, cfg_, layout_, params_, batch, drop, reference);
        },
        [result](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *result); }, keep);
  }

  EncoderConfig cfg_;
  CrossLayout layout_;
  const float* params_ = nullptr;
  Napi::ObjectReference arena_ref_;
};

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEncoderLayout", Napi::Function::New(env, CrossEncoderLayout, "crossEncoderLayout"));
  NativeCrossEncoder::Init(env, exports);
}

Registrar registrar("cross", Init);

}  // namespace
}  // namespace splade::binding
