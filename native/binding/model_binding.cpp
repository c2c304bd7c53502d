// The encoder handle: NativeEncoder (an ObjectWrap over a parameter arena that JavaScript allocated,
// so parameters() are zero-copy views) and encoderLayout() (the arena's table of named offsets).
// NativeEncoder has CudaEncoder's methods (cuda_binding.cpp) for the forward and the training step:
// prepare, forward, gradients, trainForward (a handle over the batch's activations), trainBackward and
// mlmGradients into the handle's own gradient arena, zeroGrads, readGrads. Each pass runs in a
// PromiseWorker; the arena and every input/output typed array stay referenced until it finishes.
#include <algorithm>
#include <cmath>
#include <memory>

#include "../model/encoder.h"
#include "../model/precision.h"
#include "model_binding.h"
#include "napi_util.h"

namespace splade::binding {

static size_t get_size(const Napi::Object& o, const char* key, size_t min) {
  const Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_error(o.Env(), kInvalidArgument, std::string("Expected a number for config.") + key);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min)) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 1e9)
    throw_error(o.Env(), kInvalidArgument, std::string("Expected an integer >= ") + std::to_string(min) + " for config." + key);
  return static_cast<size_t>(d);
}

EncoderConfig parse_config(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsObject()) throw_error(info.Env(), kInvalidArgument, "Expected an object for config");
  Napi::Object o = info[i].As<Napi::Object>();
  EncoderConfig c;
  const Napi::Value arch = o.Get("arch");
  const std::string a = arch.IsString() ? arch.As<Napi::String>().Utf8Value() : "";
  if (a == "bert") c.arch = Arch::bert;
  else if (a == "distilbert") c.arch = Arch::distilbert;
  else throw_error(info.Env(), kUnsupported, "Expected 'bert' or 'distilbert' for config.arch");
  c.vocab = get_size(o, "vocabSize", 1);
  c.hidden = get_size(o, "hidden", 1);
  c.layers = get_size(o, "layers", 1);
  c.heads = get_size(o, "heads", 1);
  c.intermediate = get_size(o, "intermediate", 1);
  c.max_positions = get_size(o, "maxPositions", 1);
  c.type_vocab = get_size(o, "typeVocab", 0);
  const Napi::Value eps = o.Get("eps");
  if (!eps.IsNumber()) throw_error(info.Env(), kInvalidArgument, "Expected a number for config.eps");
  c.eps = eps.As<Napi::Number>().FloatValue();
  guarded(info.Env(), [&] { validate_config(c); });
  return c;
}

void BatchArgs::keep(const Napi::CallbackInfo& info, std::vector<Napi::Value>& values) const {
  values.push_back(info[at]);
  values.push_back(info[at + 2]);
  if (types.data) values.push_back(info[at + 1]);
}

BatchArgs arg_batch(const Napi::CallbackInfo& info, size_t i) {
  BatchArgs a;
  a.at = i;
  a.ids = arg_i32(info, i, "ids");
  if (info.Length() > i + 1 && !info[i + 1].IsNull() && !info[i + 1].IsUndefined()) a.types = arg_i32(info, i + 1, "typeIds");
  a.cu = arg_i32(info, i + 2, "cuSeqlens");
  if (a.cu.size < 1) throw_error(info.Env(), kInvalidArgument, "Expected at least one entry in cuSeqlens");
  if (a.types.data && a.types.size != a.ids.size) throw_error(info.Env(), kInvalidArgument, "Expected typeIds as long as ids");
  a.B = a.cu.size - 1;
  return a;
}

Pooling arg_pooling(const Napi::CallbackInfo& info, size_t i) {
  const std::string p = arg_string(info, i, "pooling");
  if (p != "max" && p != "sum") throw_error(info.Env(), kInvalidArgument, "Expected 'max' or 'sum' for pooling but received " + p);
  return p == "max" ? Pooling::max : Pooling::sum;
}

Precision arg_precision(const Napi::CallbackInfo& info, size_t i) {
  const std::string p = arg_string(info, i, "precision");
  Precision out;
  if (!parse_precision(p, &out))
    throw_error(info.Env(), kInvalidArgument, "Expected 'fp32', 'bf16' or 'int8' for precision but received " + p);
  return out;
}

TrainDropout arg_dropout(const Napi::CallbackInfo& info, size_t i) {
  const double p = arg_number(info, i, "dropout");
  if (!(p >= 0.0 && p < 1.0)) throw_error(info.Env(), kInvalidArgument, "Expected dropout in [0, 1)");
  return TrainDropout{static_cast<float>(p), static_cast<uint64_t>(arg_int(info, i + 1, "seed", 0, int64_t{1} << 53))};
}

AdamwArgs arg_adamw(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsObject()) throw_error(env, kInvalidArgument, "Expected an object for opts");
  const Napi::Object o = info[i].As<Napi::Object>();
  auto num = [&](const char* key) {
    const Napi::Value v = o.Get(key);
    if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
      throw_error(env, kInvalidArgument, std::string("Expected a finite number for opts.") + key);
    return v.As<Napi::Number>().DoubleValue();
  };
  const double step = num("step");
  if (!(step >= 1) || step != std::floor(step)) throw_error(env, kInvalidArgument, "Expected a positive integer for opts.step");
  return AdamwArgs{float(num("lr")), float(num("beta1")), float(num("beta2")), float(num("eps")), float(num("weightDecay")),
                   float(num("gradScale")), static_cast<int64_t>(step)};
}

namespace {

Napi::Value EncoderLayout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EncoderConfig cfg = parse_config(info, 0);
  return guarded(env, [&]() -> Napi::Value {
    const ParamLayout L = make_layout(cfg);
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

// One batch's training forward on the CPU, kept for its backward: a copy of the batch (the caller's
// arrays may change in between) and the activations.
struct CpuActivations {
  const void* owner = nullptr;  // the NativeEncoder that made it
  std::vector<int32_t> ids, types, cu;
  Pooling pooling = Pooling::max;
  TrainDropout drop;
  EncoderActivations acts;
  bool consumed = false;
  PackedBatch batch() const {
    return PackedBatch{ids.data(), types.empty() ? nullptr : types.data(), cu.data(), static_cast<int>(cu.size()) - 1, ids.size()};
  }
};
const napi_type_tag kCpuActivationsTag = {0x5b1ade0c9a7a1e5dULL, 0x3ac71a710b5cd0e2ULL};

class NativeEncoder : public Napi::ObjectWrap<NativeEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeEncoder", {InstanceMethod("forward", &NativeEncoder::Forward),
                                       InstanceMethod("prepare", &NativeEncoder::Prepare),
                                       InstanceMethod("gradients", &NativeEncoder::Gradients),
                                       InstanceMethod("trainForward", &NativeEncoder::TrainForward),
                                       InstanceMethod("trainBackward", &NativeEncoder::TrainBackward),
                                       InstanceMethod("mlmGradients", &NativeEncoder::MlmGradients),
                                       InstanceMethod("zeroGrads", &NativeEncoder::ZeroGrads),
                                       InstanceMethod("readGrads", &NativeEncoder::ReadGrads)});
    exports.Set("NativeEncoder", cls);
  }

  // new NativeEncoder(config, arena: Float32Array)
  explicit NativeEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEncoder>(info) {
    cfg_ = parse_config(info, 0);
    layout_ = guarded(info.Env(), [&] { return make_layout(cfg_); });
    View<float> arena = arg_f32(info, 1, "arena");
    if (arena.size < layout_.total)
      throw_error(info.Env(), kInvalidArgument,
                  "Expected an arena of at least " + std::to_string(layout_.total) + " floats but received " +
                      std::to_string(arena.size));
    params_ = arena.data;
    arena_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  }

 private:
  // prepare(precision: 'fp32' | 'bf16'): Promise<number>. Packs the weights the inference forward uses
  // (pack_encoder) from the arena as it is now; resolves with the bytes they hold. Forwards already
  // running keep the copies they started with.
  Napi::Value Prepare(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Precision precision = arg_precision(info, 0);
    auto result = std::make_shared<std::shared_ptr<const EncoderPacked>>();
    const uint64_t seq = ++prepare_seq_;  // of two prepares in flight, the later call's copy wins
    return PromiseWorker::run(
        env, [this, precision, result] { *result = pack_encoder(cfg_, layout_, params_, precision); },
        [this, result, seq](Napi::Env e) -> Napi::Value {
          if (seq > installed_seq_) packed_ = *result, installed_seq_ = seq;
          return Napi::Number::New(e, static_cast<double>((*result)->bytes()));
        },
        {info.This(), arena_ref_.Value()});
  }

  // forward(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, pooling: 'max'|'sum',
  //         reference: boolean, out: Float32Array (B*V), argmax: Int32Array (B*V) | null,
  //         packed?: boolean): Promise<void>. packed: run on the weights prepare() packed (and in
  //         their precision); an Error when none were prepared.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const bool reference = arg_bool(info, 4, "reference");
    View<float> out = arg_f32(info, 5, "out");
    const bool has_argmax = info.Length() > 6 && !info[6].IsNull() && !info[6].IsUndefined();
    View<int32_t> argmax{nullptr, 0};
    if (has_argmax) argmax = arg_i32(info, 6, "argmax");
    if (out.size != in.B * cfg_.vocab)
      throw_error(env, kInvalidArgument, "Expected out to hold " + std::to_string(in.B * cfg_.vocab) + " floats");
    if (has_argmax && argmax.size != in.B * cfg_.vocab)
      throw_error(env, kInvalidArgument, "Expected argmax to hold " + std::to_string(in.B * cfg_.vocab) + " ints");
    const bool use_packed = info.Length() > 7 && !info[7].IsUndefined() && arg_bool(info, 7, "packed");
    if (use_packed && !packed_) throw_error(env, kInvalidArgument, "forward: packed weights requested before prepare()");
    std::vector<Napi::Value> keep = {info.This(), info[5]};
    in.keep(info, keep);
    if (has_argmax) keep.push_back(info[6]);
    std::shared_ptr<const EncoderPacked> packed = use_packed ? packed_ : nullptr;  // held until the worker ends
    return PromiseWorker::run(
        env,
        [this, batch = in.batch(), pooling, reference, w = out.data, am = argmax.data, packed] {
          encoder_splade_forward(w, am, cfg_, layout_, params_, batch, pooling, reference, packed.get());
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // gradients(ids, typeIds | null, cuSeqlens, pooling, dw: Float32Array (B*V), out: Float32Array (B*V),
  //           grads: Float32Array (arena-sized)): Promise<void>. Training forward (reference kernels) +
  // backward: out receives w, grads accumulates dLoss/dparams for dLoss/dw = dw.
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    View<float> dw = arg_f32(info, 4, "dw");
    View<float> out = arg_f32(info, 5, "out");
    View<float> grads = arg_f32(info, 6, "grads");
    if (out.size != in.B * cfg_.vocab || dw.size != in.B * cfg_.vocab)
      throw_error(env, kInvalidArgument, "Expected dw and out to hold " + std::to_string(in.B * cfg_.vocab) + " floats");
    if (grads.size < layout_.total)
      throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(layout_.total) + " floats");
    std::vector<Napi::Value> keep = {info.This(), info[4], info[5], info[6]};
    in.keep(info, keep);
    return PromiseWorker::run(
        env,
        [this, batch = in.batch(), pooling, d = dw.data, w = out.data, g = grads.data] {
          EncoderActivations acts;
          encoder_splade_forward_train(w, acts, cfg_, layout_, params_, batch, pooling);
          encoder_splade_backward(g, acts, d, cfg_, layout_, params_, batch, pooling);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // trainForward(ids, typeIds | null, cuSeqlens, pooling, out (B*V), upload: boolean, dropout, seed):
  // Promise<handle>. The training forward on the arena (upload: there is nothing to copy on the CPU),
  // with dropout masks from (dropout in [0, 1), seed < 2^53); out receives the vectors; the handle keeps
  // a copy of the batch and the activations for one trainBackward.
  Napi::Value TrainForward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    auto h = std::make_shared<CpuActivations>();
    h->pooling = arg_pooling(info, 3);
    const View<float> out = arg_f32(info, 4, "out");
    arg_bool(info, 5, "upload");
    h->drop = arg_dropout(info, 6);
    if (in.B == 0) throw_error(env, kInvalidArgument, "Expected a non-empty batch");
    if (out.size != in.B * cfg_.vocab) throw_error(env, kInvalidArgument, "Expected out to hold " + std::to_string(in.B * cfg_.vocab) + " floats");
    h->owner = this;
    h->ids.assign(in.ids.data, in.ids.data + in.ids.size);
    if (in.types.data) h->types.assign(in.types.data, in.types.data + in.types.size);
    h->cu.assign(in.cu.data, in.cu.data + in.cu.size);
    return PromiseWorker::run(
        env, [this, h, w = out.data] { encoder_train_forward(w, h->acts, cfg_, layout_, params_, h->batch(), h->pooling, h->drop, false); },
        [h](Napi::Env e) -> Napi::Value { return make_activations_handle(e, h, kCpuActivationsTag); }, {info.This(), info[4]});
  }

  // trainBackward(handle, dw (B*V)): Promise<void>. The gradient arena += dLoss/dparams; frees the activations.
  Napi::Value TrainBackward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<CpuActivations> h = arg_activations_handle<CpuActivations>(info, 0, kCpuActivationsTag, "NativeEncoder");
    const View<float> dw = arg_f32(info, 1, "dw");
    if (h->owner != this) throw_error(env, kInvalidArgument, "trainBackward: activations of another NativeEncoder");
    if (h->consumed) throw_error(env, kInvalidArgument, "Expected a trainForward handle not yet used by trainBackward");
    const size_t BV = (h->cu.size() - 1) * cfg_.vocab;
    if (dw.size != BV) throw_error(env, kInvalidArgument, "Expected dw to hold " + std::to_string(BV) + " floats");
    h->consumed = true;
    float* g = grads();
    return PromiseWorker::run(
        env,
        [this, h, g, d = dw.data] {
          encoder_train_backward(g, h->acts, d, cfg_, layout_, params_, h->batch(), h->pooling, h->drop, false);
          h->acts = EncoderActivations{};
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This(), info[0], info[1]});
  }

  // mlmGradients(ids, typeIds | null, cuSeqlens, labels (N: an id or -1), upload, dropout, seed):
  // Promise<{ loss, count }>. The masked-LM forward, loss and backward (the gradient arena +=).
  Napi::Value MlmGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const View<int32_t> labels = arg_i32(info, 3, "labels");
    arg_bool(info, 4, "upload");
    const TrainDropout drop = arg_dropout(info, 5);
    if (in.B == 0) throw_error(env, kInvalidArgument, "Expected a non-empty batch");
    if (labels.size != in.ids.size) throw_error(env, kInvalidArgument, "Expected labels as long as ids");
    auto r = std::make_shared<MlmResult>();
    std::vector<Napi::Value> keep = {info.This(), info[3]};
    in.keep(info, keep);
    return PromiseWorker::run(
        env,
        [this, r, batch = in.batch(), l = labels.data, drop, g = grads()] {
          r->loss = encoder_mlm_train(g, l, cfg_, layout_, params_, batch, drop, false, &r->count);
        },
        [r](Napi::Env e) { return r->to_js(e); }, keep);
  }

  // zeroGrads() / readGrads(out (arena-sized)): Promise<void>; a memset / memcpy here on the main thread (calls
  // take turns): a worker per call spread the next passes' allocations over more malloc arenas, which keep them.
  Napi::Value ZeroGrads(const Napi::CallbackInfo& info) {
    std::fill_n(grads(), layout_.total, 0.0f);
    return resolved(info.Env());
  }
  Napi::Value ReadGrads(const Napi::CallbackInfo& info) {
    const View<float> out = arg_f32(info, 0, "out");
    if (out.size != layout_.total)
      throw_error(info.Env(), kInvalidArgument, "Expected out to hold " + std::to_string(layout_.total) + " floats");
    std::copy(grads(), grads() + layout_.total, out.data);
    return resolved(info.Env());
  }
  static Napi::Value resolved(Napi::Env env) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }

  // The gradient arena (layout-shaped, zero at first), allocated on the first training call (main thread).
  float* grads() {
    if (grads_.size() != layout_.total) grads_.assign(layout_.total, 0.0f);
    return grads_.data();
  }

  EncoderConfig cfg_;
  ParamLayout layout_;
  const float* params_ = nullptr;
  Napi::ObjectReference arena_ref_;
  std::shared_ptr<const EncoderPacked> packed_;  // set on the main thread only (prepare's completion)
  uint64_t prepare_seq_ = 0, installed_seq_ = 0;   // main thread only
  std::vector<float> grads_;                      // training calls take turns (the Trainer's lock)
};

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("encoderLayout", Napi::Function::New(env, EncoderLayout, "encoderLayout"));
  // bf16Kernel(): 'amx' | 'avx512_bf16' | 'fallback', what the bf16 GEMMs run on this machine now
  exports.Set("bf16Kernel", Napi::Function::New(
                                env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                                  return Napi::String::New(info.Env(), bf16_kernel_name());
                                },
                                "bf16Kernel"));
  NativeEncoder::Init(env, exports);
}

Registrar registrar("model", Init);

}  // namespace
}  // namespace splade::binding
