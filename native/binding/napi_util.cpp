#include "napi_util.h"

#include <cmath>
#include <utility>

namespace splade::binding {
namespace {

std::vector<std::pair<const char*, InitFn>>& registry() {
  static std::vector<std::pair<const char*, InitFn>> r;
  return r;
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return v.ToString().Utf8Value() + " of type number";
  if (v.IsString()) return "a string";
  if (v.IsTypedArray()) return "a typed array of another element type";
  if (v.IsArray()) return "an array";
  return "a value of another type";
}

[[noreturn]] void bad_arg(const Napi::CallbackInfo& info, size_t i, const char* name, const char* expected) {
  const Napi::Value v = i < info.Length() ? info[i] : info.Env().Undefined();
  throw_error(info.Env(), kInvalidArgument,
              std::string("Expected ") + expected + " for " + name + " but received " + describe(v));
}

}  // namespace

Registrar::Registrar(const char* name, InitFn fn) { registry().emplace_back(name, fn); }

void init_all(Napi::Env env, Napi::Object exports) {
  for (auto& [name, fn] : registry()) fn(env, exports);
}

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void throw_error(Napi::Env env, const char* code, const std::string& message) { throw make_error(env, code, message); }

double arg_number(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) bad_arg(info, i, name, "a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (std::isnan(v)) bad_arg(info, i, name, "a number that is not NaN");
  return v;
}

int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max) {
  const double v = arg_number(info, i, name);
  if (v != std::floor(v) || v < static_cast<double>(min) || v > static_cast<double>(max)) {
    bad_arg(info, i, name, ("an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]").c_str());
  }
  return static_cast<int64_t>(v);
}

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString()) bad_arg(info, i, name, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsBoolean()) bad_arg(info, i, name, "a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

template <class T>
View<T> arg_typed(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type type) {
  if (i >= info.Length() || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
    const char* expected = type == napi_float32_array ? "a Float32Array"
                           : type == napi_int32_array ? "an Int32Array"
                           : type == napi_uint32_array ? "a Uint32Array"
                           : type == napi_uint8_array ? "a Uint8Array"
                                                      : "a typed array";
    bad_arg(info, i, name, expected);
  }
  auto arr = info[i].As<Napi::TypedArray>();
  auto* base = static_cast<uint8_t*>(arr.ArrayBuffer().Data());
  return View<T>{reinterpret_cast<T*>(base + arr.ByteOffset()), arr.ElementLength()};
}

template View<uint8_t> arg_typed<uint8_t>(const Napi::CallbackInfo&, size_t, const char*, napi_typedarray_type);
template View<uint16_t> arg_typed<uint16_t>(const Napi::CallbackInfo&, size_t, const char*, napi_typedarray_type);

View<float> arg_f32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return arg_typed<float>(info, i, name, napi_float32_array);
}
View<int32_t> arg_i32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return arg_typed<int32_t>(info, i, name, napi_int32_array);
}
View<uint32_t> arg_u32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return arg_typed<uint32_t>(info, i, name, napi_uint32_array);
}

Napi::Promise PromiseWorker::run(Napi::Env env, Work work, Done done, const std::vector<Napi::Value>& keep_alive) {
  auto* w = new PromiseWorker(env, std::move(work), std::move(done), keep_alive);
  Napi::Promise p = w->deferred_.Promise();
  w->Queue();  // the worker deletes itself after OnOK/OnError
  return p;
}

PromiseWorker::PromiseWorker(Napi::Env env, Work work, Done done, const std::vector<Napi::Value>& keep_alive)
    : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {
  for (const auto& v : keep_alive) keep_alive_.push_back(Napi::Persistent(v));
  if (napi_add_async_cleanup_hook(env, &PromiseWorker::on_teardown, this, &teardown_hook_) != napi_ok) teardown_hook_ = nullptr;
}

// Called when the environment starts to go away with the work still pending: nothing to do here, as
// the teardown goes on running the event loop until OnWorkComplete removes the hook.
void PromiseWorker::on_teardown(napi_async_cleanup_hook_handle, void*) {}

void PromiseWorker::Execute() {
  try {
    work_();
    return;
  } catch (const SpladeError& e) {
    code_ = e.code();
    error_ = e.what();
  } catch (const std::bad_alloc&) {
    error_ = "out of memory";
  } catch (const std::exception& e) {
    error_ = e.what();
  } catch (...) {
    error_ = "unknown native error";
  }
  failed_ = true;
}

namespace {

// Whether JavaScript can still run in env. A worker thread terminated while our work is in flight
// tears its environment down; the completion callback still runs there, but every N-API call that
// needs JavaScript fails, node-addon-api turns the failure into a Napi::Error, and one thrown out of
// the completion callback (or while reporting one) aborts the whole process. A plain C call that
// needs JavaScript, checked by its status, tells the two cases apart without throwing.
bool can_run_js(napi_env env) {
  napi_value probe, value;
  if (napi_create_object(env, &probe) != napi_ok || napi_get_boolean(env, true, &value) != napi_ok) return false;
  return napi_set_named_property(env, probe, "alive", value) == napi_ok;
}

}  // namespace

// Replaces AsyncWorker's completion, which reports errors through Error::New + OnError (both of which
// throw where JavaScript cannot run): settles the promise only where it can be observed, then frees
// the worker (and with it the keep-alive references) in either case.
void PromiseWorker::OnWorkComplete(Napi::Env env, napi_status status) {
  if (status != napi_cancelled && can_run_js(env)) {
    Napi::HandleScope scope(env);
    settle(env);
  }
  if (teardown_hook_ != nullptr) napi_remove_async_cleanup_hook(teardown_hook_);
  Destroy();
}

void PromiseWorker::settle(Napi::Env env) {
  try {
    if (failed_) {
      deferred_.Reject(make_error(env, code_, error_).Value());
      return;
    }
    try {
      deferred_.Resolve(guarded(env, [&] { return done_(env); }));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  } catch (...) {
    // Only reachable if the environment began to go away while settling; no one is left to tell.
  }
}

}  // namespace splade::binding
