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
    return layout_to_js(env, L.entries, L.total);
  });
}

class NativeCrossEncoder : public Napi::ObjectWrap<NativeCrossEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeCrossEncoder", {InstanceMethod("forward", &NativeCrossEncoder::Forward),
                                                                 InstanceMethod("train", &NativeCrossEncoder::Train),
                                                                 InstanceMethod("dispose", &NativeCrossEncoder::Dispose)});
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
    const BatchArgs in = arg_batch(info, 0);
    const bool reference = arg_bool(info, 3, "reference");
    View<float> logits = arg_f32(info, 4, "logits");
    const bool has_hidden = info.Length() > 5 && !info[5].IsNull() && !info[5].IsUndefined();
    View<float> hidden{nullptr, 0};
    if (has_hidden) hidden = arg_f32(info, 5, "hidden");
    const size_t B = in.B;
    if (logits.size != B) throw_error(env, kInvalidArgument, "Expected logits to hold " + std::to_string(B) + " floats");
    if (has_hidden && hidden.size != B * cfg_.hidden)
      throw_error(env, kInvalidArgument, "Expected hidden to hold " + std::to_string(B * cfg_.hidden) + " floats");
    check_live(env);
    std::vector<Napi::Value> keep = {info.This(), info[4]};
    in.keep(info, keep);
    if (has_hidden) keep.push_back(info[5]);
    return PromiseWorker::run(
        env,
        [this, batch = in.batch(), reference, l = logits.data, h = hidden.data] {
          cross_encoder_forward(l, h, cfg_, layout_, params_, batch, reference);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // train(ids, typeIds | null, cuSeqlens, loss: 'pointwise' | 'listwise', targets: Float32Array (B) | null,
  //       groupSizes: Int32Array | null, grads: Float32Array (arena-sized, +=), logits: Float32Array (B),
  //       dropout: number, seed: integer, reference: boolean): Promise<number> (the mean loss)
  Napi::Value Train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const std::string loss_name = arg_string(info, 3, "loss");
    if (loss_name != "pointwise" && loss_name != "listwise")
      throw_error(env, kInvalidArgument, "Expected loss 'pointwise' or 'listwise' but received '" + loss_name + "'");
    const CrossLoss loss = loss_name == "pointwise" ? CrossLoss::pointwise : CrossLoss::listwise;
    const size_t B = in.B;
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
    const TrainDropout drop = arg_dropout(info, 8);
    const bool reference = arg_bool(info, 10, "reference");
    check_live(env);
    std::vector<Napi::Value> keep = {info.This(), info[6], info[7]};
    in.keep(info, keep);
    if (targets.data) keep.push_back(info[4]);
    if (groups.data) keep.push_back(info[5]);
    auto result = std::make_shared<double>(0.0);
    return PromiseWorker::run(
        env,
        [this, batch = in.batch(), loss, drop, reference, result, t = targets.data, gs = groups.data, ng = groups.size, g = grads.data,
         l = logits.data] {
          *result = cross_encoder_train(g, l, loss, t, gs, ng, cfg_, layout_, params_, batch, drop, reference);
        },
        [result](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *result); }, keep);
  }

  // dispose(): later calls throw; the arena (JavaScript's) is released with the handle. Calls in
  // flight hold the handle and finish.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    return info.Env().Undefined();
  }
  void check_live(Napi::Env env) const {
    if (disposed_) throw_error(env, kInvalidArgument, "this model was disposed");
  }

  EncoderConfig cfg_;
  CrossLayout layout_;
  const float* params_ = nullptr;
  Napi::ObjectReference arena_ref_;
  bool disposed_ = false;
};

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEncoderLayout", Napi::Function::New(env, CrossEncoderLayout, "crossEncoderLayout"));
  NativeCrossEncoder::Init(env, exports);
}

Registrar registrar("cross", Init);

}  // namespace
}  // namespace splade::binding
