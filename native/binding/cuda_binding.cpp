// CudaEncoder: the GPU twin of NativeEncoder (model_binding.cpp), over cuda::CudaEncoder, with the same
// methods: prepare() (copy the arena to the device for the packed forwards), forward(), gradients(). The
// constructor copies the arena once (synchronously) and keeps it referenced, since prepare(), unpacked
// forwards and gradients() read it again; those run in PromiseWorkers and fill the caller's typed arrays. In a build without the CUDA backend the
// constructor only throws ERR_SPLADE_UNSUPPORTED, so a misuse is an Error, never a crash.
#include <memory>
#include <mutex>
#include <set>

#include "model_binding.h"
#include "napi_util.h"
#ifdef SPLADE_WITH_CUDA
#include "../cuda/encoder_cuda.h"
#endif

namespace splade::binding {
namespace {

#ifdef SPLADE_WITH_CUDA

class CudaEncoder : public Napi::ObjectWrap<CudaEncoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("CudaEncoder", DefineClass(env, "CudaEncoder", {InstanceMethod("prepare", &CudaEncoder::Prepare),
                                                                InstanceMethod("forward", &CudaEncoder::Forward),
                                                                InstanceMethod("gradients", &CudaEncoder::Gradients)}));
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
      enc_ = std::make_unique<cuda::CudaEncoder>(cfg, arena.data, device);
    });
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
    const std::string p = arg_string(info, 0, "precision");
    if (p != "fp32" && p != "bf16") throw_error(env, kInvalidArgument, "Expected 'fp32' or 'bf16' for precision but received " + p);
    if (!enc_) throw_error(env, kCuda, "CUDA encoder: released at environment teardown");
    auto bytes = std::make_shared<size_t>(0);
    return PromiseWorker::run(
        env, [this, bf16 = p == "bf16", bytes] { *bytes = enc_->prepare(bf16); },
        [bytes](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, static_cast<double>(*bytes)); },
        {info.This()});
  }

  // forward(ids, typeIds | null, cuSeqlens, pooling: 'max'|'sum', reference, out (B*V), argmax (B*V) | null,
  //         packed?: boolean): on the weights prepare() copied (packed), else on the arena as it is, in fp32
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto optional_i32 = [&](size_t i, const char* name) {
      const bool given = info.Length() > i && !info[i].IsNull() && !info[i].IsUndefined();
      return given ? arg_i32(info, i, name) : View<int32_t>{nullptr, 0};
    };
    const View<int32_t> ids = arg_i32(info, 0, "ids"), types = optional_i32(1, "typeIds");
    const View<int32_t> cu = arg_i32(info, 2, "cuSeqlens"), argmax = optional_i32(6, "argmax");
    const std::string pooling = arg_string(info, 3, "pooling");
    const bool reference = arg_bool(info, 4, "reference");
    const View<float> out = arg_f32(info, 5, "out");
    const bool packed = info.Length() > 7 && !info[7].IsUndefined() && arg_bool(info, 7, "packed");
    const size_t B = cu.size > 0 ? cu.size - 1 : 0, BV = B * vocab_;
    if (cu.size < 1) throw_error(env, kInvalidArgument, "Expected at least one entry in cuSeqlens");
    if (pooling != "max" && pooling != "sum") throw_error(env, kInvalidArgument, "Expected 'max' or 'sum' for pooling");
    if (types.data && types.size != ids.size) throw_error(env, kInvalidArgument, "Expected typeIds as long as ids");
    if (out.size != BV || (argmax.data && argmax.size != BV))
      throw_error(env, kInvalidArgument, "Expected out (and argmax) to hold B * vocab = " + std::to_string(BV) + " values");
    if (!enc_) throw_error(env, kCuda, "CUDA encoder: released at environment teardown");
    const PackedBatch batch{ids.data, types.data, cu.data, static_cast<int>(B), ids.size};
    const Pooling pool = pooling == "max" ? Pooling::max : Pooling::sum;
    std::vector<Napi::Value> keep = {info.This(), info[0], info[2], info[5]};  // objects only (references)
    if (types.data) keep.push_back(info[1]);
    if (argmax.data) keep.push_back(info[6]);
    return PromiseWorker::run(
        env,
        [this, batch, pool, reference, packed, w = out.data, am = argmax.data] {
          enc_->forward(w, am, batch, pool, reference, packed);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
  }

  // gradients(ids, typeIds | null, cuSeqlens, pooling, dw (B*V), out (B*V), grads (arena-sized)): Promise<void>
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool has_types = info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined();
    const View<int32_t> ids = arg_i32(info, 0, "ids"), cu = arg_i32(info, 2, "cuSeqlens");
    const View<int32_t> types = has_types ? arg_i32(info, 1, "typeIds") : View<int32_t>{nullptr, 0};
    const std::string pooling = arg_string(info, 3, "pooling");
    const View<float> dw = arg_f32(info, 4, "dw"), out = arg_f32(info, 5, "out"), grads = arg_f32(info, 6, "grads");
    const size_t B = cu.size > 0 ? cu.size - 1 : 0, BV = B * vocab_;
    if (cu.size < 1) throw_error(env, kInvalidArgument, "Expected at least one entry in cuSeqlens");
    if (pooling != "max" && pooling != "sum") throw_error(env, kInvalidArgument, "Expected 'max' or 'sum' for pooling");
    if (has_types && types.size != ids.size) throw_error(env, kInvalidArgument, "Expected typeIds as long as ids");
    if (dw.size != BV || out.size != BV)
      throw_error(env, kInvalidArgument, "Expected dw and out to hold B * vocab = " + std::to_string(BV) + " floats");
    if (grads.size < total_) throw_error(env, kInvalidArgument, "Expected grads to hold " + std::to_string(total_) + " floats");
    if (!enc_) throw_error(env, kCuda, "CUDA encoder: released at environment teardown");
    const PackedBatch batch{ids.data, types.data, cu.data, static_cast<int>(B), ids.size};
    const Pooling pool = pooling == "max" ? Pooling::max : Pooling::sum;
    std::vector<Napi::Value> keep = {info.This(), info[0], info[2], info[4], info[5], info[6]};
    if (has_types) keep.push_back(info[1]);
    return PromiseWorker::run(
        env, [this, batch, pool, d = dw.data, w = out.data, g = grads.data] { enc_->gradients(w, g, d, batch, pool); },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); }, keep);
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
  std::unique_ptr<cuda::CudaEncoder> enc_;  // null after release_all(): calls then throw
  Napi::ObjectReference arena_ref_;
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
