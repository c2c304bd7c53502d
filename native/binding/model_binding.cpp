// The encoder handle: Encoder, one ObjectWrap over an EncoderBackend (model/encoder_backend.h: the CPU's
// over the parameter arena that JavaScript allocated, so parameters() are zero-copy views, or CUDA's),
// and encoderLayout() (the arena's table of named offsets). Methods: prepare, forward, gradients,
// trainForward (a handle over the batch's activations), trainBackward and mlmGradients into the
// backend's gradients, zeroGrads, readGrads, and the optimizer over the whole arena (resetOptimizer,
// gradNormSq, adamwUpdate, readParams, readMoments, writeMoments). Each pass runs in a PromiseWorker;
// the arena and every input/output typed array stay referenced until it finishes.
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <set>

#include "../model/encoder.h"
#include "../model/encoder_backend.h"
#include "../model/precision.h"
#ifdef SPLADE_WITH_CUDA
#include "../cuda/cuda_backend.h"
#endif
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

// config.modernbert: { halfWindow, globalEvery, globalRopeTheta, localRopeTheta } (lib/model/modernbert-config.ts)
static ModernBertOptions parse_modernbert(const Napi::Object& config) {
  const Napi::Value v = config.Get("modernbert");
  if (!v.IsObject()) throw_error(config.Env(), kInvalidArgument, "Expected an object for config.modernbert");
  const Napi::Object o = v.As<Napi::Object>();
  auto theta = [&](const char* key) {
    const Napi::Value t = o.Get(key);
    if (!t.IsNumber()) throw_error(o.Env(), kInvalidArgument, std::string("Expected a number for config.modernbert.") + key);
    return t.As<Napi::Number>().FloatValue();
  };
  ModernBertOptions m;
  m.window = get_size(o, "halfWindow", 0);
  m.global_every = get_size(o, "globalEvery", 1);
  m.global_theta = theta("globalRopeTheta");
  m.local_theta = theta("localRopeTheta");
  return m;
}

EncoderConfig parse_config(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsObject()) throw_error(info.Env(), kInvalidArgument, "Expected an object for config");
  Napi::Object o = info[i].As<Napi::Object>();
  EncoderConfig c;
  const Napi::Value arch = o.Get("arch");
  const std::string a = arch.IsString() ? arch.As<Napi::String>().Utf8Value() : "";
  if (a == "bert") c.arch = Arch::bert;
  else if (a == "distilbert") c.arch = Arch::distilbert;
  else if (a == "roberta") c.arch = Arch::roberta;
  else if (a == "modernbert") c.arch = Arch::modernbert;
  else throw_error(info.Env(), kUnsupported, "Expected 'bert', 'distilbert', 'roberta' or 'modernbert' for config.arch");
  c.vocab = get_size(o, "vocabSize", 1);
  c.hidden = get_size(o, "hidden", 1);
  c.layers = get_size(o, "layers", 1);
  c.heads = get_size(o, "heads", 1);
  c.intermediate = get_size(o, "intermediate", 1);
  c.max_positions = get_size(o, "maxPositions", 1);
  c.type_vocab = get_size(o, "typeVocab", 0);
  if (!o.Get("positionOffset").IsUndefined()) c.position_offset = get_size(o, "positionOffset", 0);
  const Napi::Value eps = o.Get("eps");
  if (!eps.IsNumber()) throw_error(info.Env(), kInvalidArgument, "Expected a number for config.eps");
  c.eps = eps.As<Napi::Number>().FloatValue();
  if (c.arch == Arch::modernbert) c.modernbert = parse_modernbert(o);
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

Napi::Value layout_to_js(Napi::Env env, const std::vector<ParamEntry>& table, size_t total) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("total", static_cast<double>(total));
  Napi::Array entries = Napi::Array::New(env, table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const ParamEntry& e = table[i];
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
    const ArenaTable L = arena_table(cfg);
    return layout_to_js(env, L.entries, L.total);
  });
}

const napi_type_tag kActivationsTag = {0x5b1ade0c9a7a1e5dULL, 0x3ac71a710b5cd0e2ULL};

// The one encoder handle: argument checks and workers over an EncoderBackend (model/encoder_backend.h),
// the CPU's or, given a device number, CUDA's. In a build without the CUDA backend a device number is
// ERR_SPLADE_UNSUPPORTED, so a misuse is an Error, never a crash.
class Encoder : public Napi::ObjectWrap<Encoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Encoder", DefineClass(env, "Encoder", {InstanceMethod("prepare", &Encoder::Prepare),
                                                        InstanceMethod("forward", &Encoder::Forward),
                                                        InstanceMethod("gradients", &Encoder::Gradients),
                                                        InstanceMethod("trainForward", &Encoder::TrainForward),
                                                        InstanceMethod("trainBackward", &Encoder::TrainBackward),
                                                        InstanceMethod("mlmGradients", &Encoder::MlmGradients),
                                                        InstanceMethod("zeroGrads", &Encoder::ZeroGrads),
                                                        InstanceMethod("readGrads", &Encoder::ReadGrads),
                                                        InstanceMethod("resetOptimizer", &Encoder::ResetOptimizer),
                                                        InstanceMethod("gradNormSq", &Encoder::GradNormSq),
                                                        InstanceMethod("adamwUpdate", &Encoder::AdamwUpdate),
                                                        InstanceMethod("readParams", &Encoder::ReadParams),
                                                        InstanceMethod("readMoments", &Encoder::ReadMoments),
                                                        InstanceMethod("writeMoments", &Encoder::WriteMoments),
                                                        InstanceMethod("dispose", &Encoder::Dispose)}));
    env.AddCleanupHook([raw = napi_env(env)] { release_devices(raw); });
  }

  // new Encoder(config, arena: Float32Array, device?: number): on the CPU over the arena (zero-copy), or
  // on CUDA device `device` over a copy of it. The arena stays referenced: prepare(), unpacked forwards,
  // uploads and readParams() read or write it again.
  explicit Encoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Encoder>(info) {
    Napi::Env env = info.Env();
    const EncoderConfig cfg = parse_config(info, 0);
    const View<float> arena = arg_f32(info, 1, "arena");
    const bool on_device = info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull();
    const int device = on_device ? static_cast<int>(arg_int(info, 2, "device", 0, 1024)) : -1;
    total_ = guarded(env, [&] { return arena_table(cfg).total; });
    if (arena.size < total_)
      throw_error(env, kInvalidArgument, "Expected an arena of at least " + std::to_string(total_) + " floats but received " +
                                             std::to_string(arena.size));
    vocab_ = cfg.vocab;
    arena_ = arena.data;
    guarded(env, [&] { backend_ = make_backend(cfg, arena.data, device); });
    arena_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
    if (device >= 0) {
      env_ = env;
      std::lock_guard<std::mutex> lock(devices_mutex());
      devices().insert(this);
    }
  }
  ~Encoder() override {
    if (env_ == nullptr) return;
    std::lock_guard<std::mutex> lock(devices_mutex());
    devices().erase(this);
  }

 private:
  static std::shared_ptr<EncoderBackend> make_backend(const EncoderConfig& cfg, float* arena, int device) {
    if (cfg.arch == Arch::modernbert) {
      if (device >= 0) fail(kUnsupported, "ModernBERT encoders run on the CPU only");
      return make_modernbert_encoder(cfg, arena);
    }
    if (device < 0) return make_cpu_encoder(cfg, arena);
#ifdef SPLADE_WITH_CUDA
    return std::make_shared<cuda::CudaBackend>(cfg, arena, device);
#else
    fail(kUnsupported, "this build of splade has no CUDA backend (nvcc was not found at build time)");
#endif
  }

  // At an environment's teardown (main thread or a worker): free its device encoders' memory and streams
  // before the CUDA runtime goes; calls on them afterwards throw.
  static void release_devices(napi_env env) {
    std::lock_guard<std::mutex> lock(devices_mutex());
    for (Encoder* e : devices())
      if (e->env_ == env) e->backend_.reset();
  }
  static std::set<Encoder*>& devices() {  // every environment's device encoders (workers have their own)
    static std::set<Encoder*> encoders;
    return encoders;
  }
  static std::mutex& devices_mutex() {
    static std::mutex m;
    return m;
  }

  // The backend for one call: each worker holds its own reference, so dispose() or an environment's
  // teardown never frees a backend under a call in flight.
  std::shared_ptr<EncoderBackend> backend(Napi::Env env) const {
    if (disposed_) throw_error(env, kInvalidArgument, "this model was disposed");
    if (!backend_) throw_error(env, kCuda, "CUDA encoder: released at environment teardown");
    return backend_;
  }

  // dispose(): frees the backend (its packed weights, gradients and moments; device memory on a GPU)
  // once the calls in flight end; later calls throw. The parameter arena is JavaScript's.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    disposed_ = true;
    packed_.reset();
    backend_.reset();
    return info.Env().Undefined();
  }
  void check_bv(Napi::Env env, size_t size, size_t B, const char* what) const {
    if (size != B * vocab_) throw_error(env, kInvalidArgument, std::string("Expected ") + what + " to hold B * vocab = " + std::to_string(B * vocab_) + " values");
  }
  View<float> arena_sized(const Napi::CallbackInfo& info, size_t i, const char* name) const {
    const View<float> a = arg_f32(info, i, name);
    if (a.size != total_) throw_error(info.Env(), kInvalidArgument, std::string("Expected ") + name + " to hold " + std::to_string(total_) + " floats");
    return a;
  }
  static Napi::Value done(Napi::Env e) { return e.Undefined(); }

  // prepare(precision: 'fp32' | 'bf16'): Promise<number>. Packs the weights the inference forward uses
  // from the arena as it is now; resolves with the bytes they hold. Forwards already running keep the
  // weights they started with; of two prepares in flight, the later call's weights win.
  Napi::Value Prepare(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Precision precision = arg_precision(info, 0);
    std::shared_ptr<EncoderBackend> b = backend(env);
    auto result = std::make_shared<std::shared_ptr<const PackedWeights>>();
    const uint64_t seq = ++prepare_seq_;
    return PromiseWorker::run(
        env, [b, precision, result] { *result = b->pack(precision); },
        [this, result, seq](Napi::Env e) -> Napi::Value {
          if (seq > installed_seq_ && !disposed_) packed_ = *result, installed_seq_ = seq;
          return Napi::Number::New(e, static_cast<double>((*result)->bytes()));
        },
        {info.This(), arena_ref_.Value()});
  }

  // forward(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array, pooling: 'max'|'sum',
  //         reference: boolean, out: Float32Array (B*V), argmax: Int32Array (B*V) | null,
  //         packed?: boolean): Promise<void>. packed: on the weights prepare() packed (and in their
  //         precision; an Error when none were prepared), else on the arena as it is, in fp32.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const bool reference = arg_bool(info, 4, "reference");
    const View<float> out = arg_f32(info, 5, "out");
    const bool has_argmax = info.Length() > 6 && !info[6].IsNull() && !info[6].IsUndefined();
    const View<int32_t> argmax = has_argmax ? arg_i32(info, 6, "argmax") : View<int32_t>{nullptr, 0};
    check_bv(env, out.size, in.B, "out");
    if (has_argmax) check_bv(env, argmax.size, in.B, "argmax");
    const bool use_packed = info.Length() > 7 && !info[7].IsUndefined() && arg_bool(info, 7, "packed");
    std::shared_ptr<EncoderBackend> b = backend(env);
    if (use_packed && !packed_) throw_error(env, kInvalidArgument, "forward: packed weights requested before prepare()");
    std::vector<Napi::Value> keep = {info.This(), info[5], arena_ref_.Value()};
    in.keep(info, keep);
    if (has_argmax) keep.push_back(info[6]);
    std::shared_ptr<const PackedWeights> packed = use_packed ? packed_ : nullptr;  // held until the worker ends
    return PromiseWorker::run(
        env, [b, batch = in.batch(), pooling, reference, w = out.data, am = argmax.data, packed] {
          b->forward(w, am, batch, pooling, reference, packed.get());
        },
        done, keep);
  }

  // gradients(ids, typeIds | null, cuSeqlens, pooling, dw (B*V), out (B*V), grads (arena-sized)): Promise<void>.
  // Training forward (reference kernels) + backward: out receives w, grads += dLoss/dparams for dLoss/dw = dw.
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const View<float> dw = arg_f32(info, 4, "dw"), out = arg_f32(info, 5, "out"), grads = arg_f32(info, 6, "grads");
    check_bv(env, dw.size, in.B, "dw");
    check_bv(env, out.size, in.B, "out");
    if (grads.size < total_) throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(total_) + " floats");
    std::shared_ptr<EncoderBackend> b = backend(env);
    std::vector<Napi::Value> keep = {info.This(), info[4], info[5], info[6], arena_ref_.Value()};
    in.keep(info, keep);
    return PromiseWorker::run(
        env, [b, batch = in.batch(), pooling, d = dw.data, w = out.data, g = grads.data] { b->gradients(w, g, d, batch, pooling); },
        done, keep);
  }

  // trainForward(ids, typeIds | null, cuSeqlens, pooling, out (B*V), upload: boolean, dropout, seed):
  // Promise<handle>. The training forward (on a device: on its parameters, refreshed from the arena
  // first when upload), with dropout masks from (dropout in [0, 1), seed < 2^53), the same on every
  // backend; out receives the vectors; the handle keeps the activations for one trainBackward.
  Napi::Value TrainForward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const View<float> out = arg_f32(info, 4, "out");
    const bool upload = arg_bool(info, 5, "upload");
    const TrainDropout drop = arg_dropout(info, 6);
    if (in.B == 0) throw_error(env, kInvalidArgument, "Expected a non-empty batch");
    check_bv(env, out.size, in.B, "out");
    std::shared_ptr<EncoderBackend> b = backend(env);
    auto result = std::make_shared<std::shared_ptr<TrainActivations>>();
    std::vector<Napi::Value> keep = {info.This(), info[4], arena_ref_.Value()};
    in.keep(info, keep);
    return PromiseWorker::run(
        env, [b, result, batch = in.batch(), pooling, upload, drop, w = out.data] { *result = b->train_forward(w, batch, pooling, upload, drop); },
        [result](Napi::Env e) -> Napi::Value { return make_activations_handle(e, std::move(*result), kActivationsTag); }, keep);
  }

  // trainBackward(handle, dw (B*V)): Promise<void>. The gradients += dLoss/dparams; frees the activations.
  Napi::Value TrainBackward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<TrainActivations> acts = arg_activations_handle<TrainActivations>(info, 0, kActivationsTag, "Encoder");
    const View<float> dw = arg_f32(info, 1, "dw");
    std::shared_ptr<EncoderBackend> b = backend(env);
    return PromiseWorker::run(
        env, [b, acts, d = dw.data, n = dw.size] { b->train_backward(*acts, d, n); }, done, {info.This(), info[0], info[1]});
  }

  // mlmGradients(ids, typeIds | null, cuSeqlens, labels (N: an id or -1), upload, dropout, seed):
  // Promise<{ loss, count }>. The masked-LM forward, loss and backward (the gradients +=).
  Napi::Value MlmGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const View<int32_t> labels = arg_i32(info, 3, "labels");
    const bool upload = arg_bool(info, 4, "upload");
    const TrainDropout drop = arg_dropout(info, 5);
    if (in.B == 0) throw_error(env, kInvalidArgument, "Expected a non-empty batch");
    if (labels.size != in.ids.size) throw_error(env, kInvalidArgument, "Expected labels as long as ids");
    std::shared_ptr<EncoderBackend> b = backend(env);
    auto r = std::make_shared<MlmResult>();
    std::vector<Napi::Value> keep = {info.This(), info[3], arena_ref_.Value()};
    in.keep(info, keep);
    return PromiseWorker::run(
        env, [b, r, batch = in.batch(), l = labels.data, upload, drop] { r->loss = b->mlm_gradients(batch, l, upload, drop, &r->count); },
        [r](Napi::Env e) { return r->to_js(e); }, keep);
  }

  // zeroGrads(), resetOptimizer(): Promise<void>
  Napi::Value ZeroGrads(const Napi::CallbackInfo& info) { return call(info, [](EncoderBackend& b) { b.zero_grads(); }); }
  Napi::Value ResetOptimizer(const Napi::CallbackInfo& info) { return call(info, [](EncoderBackend& b) { b.reset_optimizer(); }); }
  // readParams(): Promise<void>. The constructor's arena <- the backend's parameters.
  Napi::Value ReadParams(const Napi::CallbackInfo& info) {
    return call(info, [a = arena_](EncoderBackend& b) { b.read_params(a); }, {arena_ref_.Value()});
  }
  // readGrads(out (arena-sized)): Promise<void>
  Napi::Value ReadGrads(const Napi::CallbackInfo& info) {
    const View<float> out = arena_sized(info, 0, "out");
    return call(info, [g = out.data](EncoderBackend& b) { b.read_grads(g); }, {info[0]});
  }
  // readMoments(m, v) / writeMoments(m, v): Float32Array (arena-sized) each; Promise<void>
  Napi::Value ReadMoments(const Napi::CallbackInfo& info) {
    const View<float> m = arena_sized(info, 0, "m"), v = arena_sized(info, 1, "v");
    return call(info, [m = m.data, v = v.data](EncoderBackend& b) { b.read_moments(m, v); }, {info[0], info[1]});
  }
  Napi::Value WriteMoments(const Napi::CallbackInfo& info) {
    const View<float> m = arena_sized(info, 0, "m"), v = arena_sized(info, 1, "v");
    return call(info, [m = m.data, v = v.data](EncoderBackend& b) { b.write_moments(m, v); }, {info[0], info[1]});
  }

  // gradNormSq(): Promise<number> (sum of squares of the gradients, double accumulation, fixed order)
  Napi::Value GradNormSq(const Napi::CallbackInfo& info) {
    std::shared_ptr<EncoderBackend> b = backend(info.Env());
    auto out = std::make_shared<double>(0.0);
    return PromiseWorker::run(
        info.Env(), [b, out] { *out = b->grad_norm_sq(); }, [out](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *out); },
        {info.This()});
  }

  // adamwUpdate(opts: { lr, beta1, beta2, eps, weightDecay, step, gradScale }, decayMask: Uint8Array (arena-sized)):
  // Promise<void>. The parameters and moments, from the gradients; the mask is read on the first call
  // after a reset.
  Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const AdamwArgs a = arg_adamw(info, 0);
    const View<uint8_t> mask = arg_typed<uint8_t>(info, 1, "decayMask", napi_uint8_array);
    if (mask.size != total_) throw_error(env, kInvalidArgument, "Expected decayMask to hold " + std::to_string(total_) + " bytes");
    const AdamwStep step{a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.grad_scale, a.step};
    return call(info, [step, m = mask.data](EncoderBackend& b) { b.adamw_update(step, m); }, {info[1], arena_ref_.Value()});
  }

  // A backend call in a worker resolving to undefined; the handle and `more` stay referenced until it ends.
  template <class F>
  Napi::Value call(const Napi::CallbackInfo& info, F f, std::vector<Napi::Value> more = {}) {
    std::shared_ptr<EncoderBackend> b = backend(info.Env());
    more.push_back(info.This());
    return PromiseWorker::run(info.Env(), [b, f] { f(*b); }, done, more);
  }

  std::shared_ptr<EncoderBackend> backend_;  // null after dispose() or release_devices(): calls then throw
  napi_env env_ = nullptr;                   // set for device encoders only
  Napi::ObjectReference arena_ref_;
  float* arena_ = nullptr;
  size_t vocab_ = 0, total_ = 0;
  std::shared_ptr<const PackedWeights> packed_;  // set on the main thread only (prepare's completion)
  uint64_t prepare_seq_ = 0, installed_seq_ = 0;  // main thread only
  bool disposed_ = false;                          // main thread only
};

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("encoderLayout", Napi::Function::New(env, EncoderLayout, "encoderLayout"));
  // bf16Kernel(): 'amx' | 'avx512_bf16' | 'fallback', what the bf16 GEMMs run on this machine now
  exports.Set("bf16Kernel", Napi::Function::New(
                                env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                                  return Napi::String::New(info.Env(), bf16_kernel_name());
                                },
                                "bf16Kernel"));
  Encoder::Init(env, exports);
}

Registrar registrar("model", Init);

}  // namespace
}  // namespace splade::binding
