// CudaEncoder: the GPU twin of NativeEncoder (model_binding.cpp), over cuda::CudaEncoder, with the same
// methods and arguments (parsed by model_binding.h's helpers): prepare() (copy the arena to the device for
// the packed forwards), forward(), gradients(), trainForward (a handle over the batch's activations on the
// device), trainBackward, mlmGradients, zeroGrads, readGrads. The constructor copies the arena once
// (synchronously) and keeps it referenced, since prepare(), unpacked forwards and gradients() read it
// again; those run in PromiseWorkers and fill the caller's typed arrays. The Trainer's device-resident
// optimizer adds resetOptimizer, gradNormSq, adamwUpdate, readParams (into the constructor's arena),
// readMoments / writeMoments. In a build without the CUDA
// backend the constructor only throws ERR_SPLADE_UNSUPPORTED, so a misuse is an Error, never a crash.
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "model_binding.h"
#include "napi_util.h"
#ifdef SPLADE_WITH_CUDA
#include "../cuda/encoder_cuda.h"
#endif

namespace splade::binding {
namespace {

#ifdef SPLADE_WITH_CUDA

const napi_type_tag kActivationsTag = {0x5b1ade0c0da7a1e5ULL, 0x7ac71a710b5cd0e1ULL};
using ActivationsPtr = std::shared_ptr<cuda::CudaTrainActivations>;

class CudaEncoder : public Napi::ObjectWrap<CudaEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("CudaEncoder", DefineClass(env, "CudaEncoder", {InstanceMethod("prepare", &CudaEncoder::Prepare),
                                                                InstanceMethod("forward", &CudaEncoder::Forward),
                                                                InstanceMethod("gradients", &CudaEncoder::Gradients),
                                                                InstanceMethod("trainForward", &CudaEncoder::TrainForward),
                                                                InstanceMethod("trainBackward", &CudaEncoder::TrainBackward),
                                                                InstanceMethod("mlmGradients", &CudaEncoder::MlmGradients),
                                                                InstanceMethod("zeroGrads", &CudaEncoder::ZeroGrads),
                                                                InstanceMethod("resetOptimizer", &CudaEncoder::ResetOptimizer),
                                                                InstanceMethod("gradNormSq", &CudaEncoder::GradNormSq),
                                                                InstanceMethod("adamwUpdate", &CudaEncoder::AdamwUpdate),
                                                                InstanceMethod("readParams", &CudaEncoder::ReadParams),
                                                                InstanceMethod("readGrads", &CudaEncoder::ReadGrads),
                                                                InstanceMethod("readMoments", &CudaEncoder::ReadMoments),
                                                                InstanceMethod("writeMoments", &CudaEncoder::WriteMoments),
                                                                InstanceMethod("dispose", &CudaEncoder::Dispose)}));
  }

  // new CudaEncoder(config, arena: Float32Array, device: number)
  explicit CudaEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaEncoder>(info) {
    const EncoderConfig cfg = parse_config(info, 0);
    const View<float> arena = arg_f32(info, 1, "arena");
    const int device = static_cast<int>(arg_int(info, 2, "device", 0, 1024));
    vocab_ = cfg.vocab;
    guarded(info.Env(), [&] {
      total_ = make_layout(cfg).total;
      if (arena.size < total_) fail(kInvalidArgument, "Expected an arena as large as the layout's total");
      enc_ = std::make_shared<cuda::CudaEncoder>(cfg, arena.data, device);
    });
    arena_ = arena.data;
    arena_ref_ = Napi::Persistent(info[1].As<Napi::Object>());  // re-read after each gradients() call
    env_ = info.Env();
    std::lock_guard<std::mutex> lock(live_mutex());
    live().insert(this);
  }
  ~CudaEncoder() override {
    std::lock_guard<std::mutex> lock(live_mutex());
    live().erase(this);
  }

  // At an environment's teardown (main thread or a worker): free its encoders' device memory and streams
  // before the CUDA runtime goes.
  static void release_all(napi_env env) {
    std::lock_guard<std::mutex> lock(live_mutex());
    for (CudaEncoder* e : live())
      if (e->env_ == env) e->enc_.reset();
  }

 private:
  // prepare(precision: 'fp32' | 'bf16'): Promise<number>. Copies the arena as it is now to the device for
  // the packed forwards, in that precision; resolves with the device bytes of the weights.
  Napi::Value Prepare(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool bf16 = arg_precision(info, 0) == Precision::bf16;
    check_live(env);
    auto bytes = std::make_shared<size_t>(0);
    return PromiseWorker::run(
        env, [this, enc = enc_, bf16, bytes] { *bytes = enc->prepare(bf16); },
        [bytes](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, static_cast<double>(*bytes)); },
        {info.This()});
  }

  // forward(ids, typeIds | null, cuSeqlens, pooling: 'max'|'sum', reference, out (B*V), argmax (B*V) | null,
  //         packed?: boolean): on the weights prepare() copied (packed), else on the arena as it is, in fp32
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const bool reference = arg_bool(info, 4, "reference");
    const View<float> out = arg_f32(info, 5, "out");
    const bool has_argmax = info.Length() > 6 && !info[6].IsNull() && !info[6].IsUndefined();
    const View<int32_t> argmax = has_argmax ? arg_i32(info, 6, "argmax") : View<int32_t>{nullptr, 0};
    const bool packed = info.Length() > 7 && !info[7].IsUndefined() && arg_bool(info, 7, "packed");
    const size_t BV = in.B * vocab_;
    if (out.size != BV || (argmax.data && argmax.size != BV))
      throw_error(env, kInvalidArgument, "Expected out (and argmax) to hold B * vocab = " + std::to_string(BV) + " values");
    check_live(env);
    std::vector<Napi::Value> keep = {info.This(), info[5]};  // objects only (references)
    in.keep(info, keep);
    if (argmax.data) keep.push_back(info[6]);
    return PromiseWorker::run(
        env,
        [this, enc = enc_, batch = in.batch(), pooling, reference, packed, w = out.data, am = argmax.data] {
          enc->forward(w, am, batch, pooling, reference, packed);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // gradients(ids, typeIds | null, cuSeqlens, pooling, dw (B*V), out (B*V), grads (arena-sized)): Promise<void>
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const View<float> dw = arg_f32(info, 4, "dw"), out = arg_f32(info, 5, "out"), grads = arg_f32(info, 6, "grads");
    const size_t BV = in.B * vocab_;
    if (dw.size != BV || out.size != BV)
      throw_error(env, kInvalidArgument, "Expected dw and out to hold B * vocab = " + std::to_string(BV) + " floats");
    if (grads.size < total_) throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(total_) + " floats");
    check_live(env);
    std::vector<Napi::Value> keep = {info.This(), info[4], info[5], info[6]};
    in.keep(info, keep);
    return PromiseWorker::run(
        env, [this, enc = enc_, batch = in.batch(), pooling, d = dw.data, w = out.data, g = grads.data] {
          enc->gradients(w, g, d, batch, pooling);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // trainForward(ids, typeIds | null, cuSeqlens, pooling, out (B*V), upload: boolean, dropout, seed):
  // Promise<handle>. The training forward on the device parameters (first refreshed from the arena when
  // upload), with the CPU trainForward's dropout masks for (dropout in [0, 1), seed < 2^53); out receives
  // the vectors; the handle holds the activations (device memory) for one trainBackward.
  Napi::Value TrainForward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const Pooling pooling = arg_pooling(info, 3);
    const View<float> out = arg_f32(info, 4, "out");
    const bool upload = arg_bool(info, 5, "upload");
    const TrainDropout drop = arg_dropout(info, 6);
    if (in.B == 0) throw_error(env, kInvalidArgument, "Expected a non-empty batch");
    if (out.size != in.B * vocab_)
      throw_error(env, kInvalidArgument, "Expected out to hold B * vocab = " + std::to_string(in.B * vocab_) + " floats");
    check_live(env);
    auto result = std::make_shared<ActivationsPtr>();
    std::vector<Napi::Value> keep = {info.This(), info[4]};
    in.keep(info, keep);
    return PromiseWorker::run(
        env, [this, enc = enc_, result, batch = in.batch(), pooling, upload, drop, w = out.data] {
          *result = enc->train_forward(w, batch, pooling, upload, drop);
        },
        [result](Napi::Env e) -> Napi::Value { return make_activations_handle(e, std::move(*result), kActivationsTag); }, keep);
  }

  // mlmGradients(ids, typeIds | null, cuSeqlens, labels (N: an id or -1), upload, dropout, seed):
  // Promise<{ loss, count }>. The masked-LM forward, loss and backward (device gradients +=), as the CPU's.
  Napi::Value MlmGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const BatchArgs in = arg_batch(info, 0);
    const View<int32_t> labels = arg_i32(info, 3, "labels");
    const bool upload = arg_bool(info, 4, "upload");
    const TrainDropout drop = arg_dropout(info, 5);
    if (in.B == 0) throw_error(env, kInvalidArgument, "Expected a non-empty batch");
    if (labels.size != in.ids.size) throw_error(env, kInvalidArgument, "Expected typeIds and labels as long as ids");
    check_live(env);
    auto r = std::make_shared<MlmResult>();
    std::vector<Napi::Value> keep = {info.This(), info[3]};
    in.keep(info, keep);
    return PromiseWorker::run(
        env, [this, enc = enc_, r, batch = in.batch(), l = labels.data, upload, drop] { r->loss = enc->mlm_gradients(batch, l, upload, drop, &r->count); },
        [r](Napi::Env e) { return r->to_js(e); }, keep);
  }

  // trainBackward(handle, dw (B*V)): Promise<void>. Device gradients += dLoss/dparams; frees the activations.
  Napi::Value TrainBackward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ActivationsPtr acts = arg_activations_handle<cuda::CudaTrainActivations>(info, 0, kActivationsTag, "CudaEncoder");
    const View<float> dw = arg_f32(info, 1, "dw");
    check_live(env);
    return PromiseWorker::run(
        env, [this, enc = enc_, acts, d = dw.data, n = dw.size] { enc->train_backward(*acts, d, n); },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This(), info[0], info[1]});
  }

  // zeroGrads(): Promise<void>
  Napi::Value ZeroGrads(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return PromiseWorker::run(
        info.Env(), [enc = enc_] { enc->zero_grads(); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This()});
  }

  // resetOptimizer(): Promise<void>. Moments to zero, the decay mask read again (a new Trainer).
  Napi::Value ResetOptimizer(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return PromiseWorker::run(
        info.Env(), [enc = enc_] { enc->reset_optimizer(); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); },
        {info.This()});
  }

  // gradNormSq(): Promise<number> (sum of squares of the device gradients, double accumulation)
  Napi::Value GradNormSq(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    auto out = std::make_shared<double>(0.0);
    return PromiseWorker::run(
        info.Env(), [this, enc = enc_, out] { *out = enc->grad_norm_sq(); },
        [out](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *out); }, {info.This()});
  }

  // adamwUpdate(opts: { lr, beta1, beta2, eps, weightDecay, step, gradScale }, decayMask: Uint8Array (arena-sized)):
  // Promise<void>. The device parameters and moments, from the device gradients.
  Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const AdamwArgs a = arg_adamw(info, 0);
    const View<uint8_t> mask = arg_typed<uint8_t>(info, 1, "decayMask", napi_uint8_array);
    if (mask.size != total_) throw_error(env, kInvalidArgument, "Expected decayMask to hold " + std::to_string(total_) + " bytes");
    check_live(env);
    return PromiseWorker::run(
        env, [this, enc = enc_, a, m = mask.data] {
          enc->adamw_update(a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step, a.grad_scale, m);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This(), info[1]});
  }

  // readParams(): Promise<void>. The constructor's arena <- the device parameters.
  Napi::Value ReadParams(const Napi::CallbackInfo& info) {
    check_live(info.Env());
    return PromiseWorker::run(
        info.Env(), [this, enc = enc_] { enc->read_params(arena_); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); },
        {info.This()});
  }

  // readGrads(out: Float32Array (arena-sized)): Promise<void>
  Napi::Value ReadGrads(const Napi::CallbackInfo& info) {
    const View<float> out = arena_sized(info, 0, "out");
    return PromiseWorker::run(
        info.Env(), [this, enc = enc_, g = out.data] { enc->read_grads(g); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); },
        {info.This(), info[0]});
  }

  // readMoments(m, v) / writeMoments(m, v): Float32Array (arena-sized) each; Promise<void>
  Napi::Value ReadMoments(const Napi::CallbackInfo& info) {
    const View<float> m = arena_sized(info, 0, "m"), v = arena_sized(info, 1, "v");
    return PromiseWorker::run(
        info.Env(), [this, enc = enc_, m = m.data, v = v.data] { enc->read_moments(m, v); },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This(), info[0], info[1]});
  }
  Napi::Value WriteMoments(const Napi::CallbackInfo& info) {
    const View<float> m = arena_sized(info, 0, "m"), v = arena_sized(info, 1, "v");
    return PromiseWorker::run(
        info.Env(), [this, enc = enc_, m = m.data, v = v.data] { enc->write_moments(m, v); },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, {info.This(), info[0], info[1]});
  }

  // dispose(): frees the device memory (once the calls in flight end); later calls throw.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    enc_.reset();
    disposed_ = true;
    return info.Env().Undefined();
  }

  View<float> arena_sized(const Napi::CallbackInfo& info, size_t i, const char* name) {
    const View<float> a = arg_f32(info, i, name);
    if (a.size != total_) throw_error(info.Env(), kInvalidArgument, std::string("Expected ") + name + " to hold " + std::to_string(total_) + " floats");
    check_live(info.Env());
    return a;
  }

  void check_live(Napi::Env env) const {
    if (disposed_) throw_error(env, kInvalidArgument, "this model was disposed");
    if (!enc_) throw_error(env, kCuda, "CUDA encoder: released at environment teardown");
  }

  static std::set<CudaEncoder*>& live() {  // every environment's encoders (worker threads have their own)
    static std::set<CudaEncoder*> encoders;
    return encoders;
  }
  static std::mutex& live_mutex() {
    static std::mutex m;
    return m;
  }

  napi_env env_ = nullptr;
  // null after dispose() or release_all(): calls then throw. Each call in flight holds its own
  // reference, so the device memory goes when the last of them ends.
  std::shared_ptr<cuda::CudaEncoder> enc_;
  bool disposed_ = false;
  Napi::ObjectReference arena_ref_;
  float* arena_ = nullptr;                   // arena_ref_'s floats (readParams writes them)
  size_t vocab_ = 0, total_ = 0;
};

void Init(Napi::Env env, Napi::Object exports) {
  CudaEncoder::Init(env, exports);
  env.AddCleanupHook([raw = napi_env(env)] { CudaEncoder::release_all(raw); });
}

#else  // no CUDA backend in this build

Napi::Value NoCuda(const Napi::CallbackInfo& info) {
  throw_error(info.Env(), kUnsupported, "this build of splade has no CUDA backend (nvcc was not found at build time)");
}

void Init(Napi::Env env, Napi::Object exports) { exports.Set("CudaEncoder", Napi::Function::New(env, NoCuda, "CudaEncoder")); }

#endif

Registrar registrar("cuda", Init);

}  // namespace
}  // namespace splade::binding
