// Shared glue for the binding files: module registration, argument guards that throw (never crash),
// zero-copy typed-array views, and a Promise-returning AsyncWorker that maps C++ exceptions to
// JavaScript Errors with a `code`. The TypeScript layer validates arguments with friendly messages
// first; these guards are the second, cheap line of defence.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "../common/error.h"

namespace splade::binding {

// Each binding file registers its exports with `static Registrar r("name", InitFoo);`.
using InitFn = void (*)(Napi::Env env, Napi::Object exports);
struct Registrar {
  Registrar(const char* name, InitFn fn);
};
void init_all(Napi::Env env, Napi::Object exports);

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void throw_error(Napi::Env env, const char* code, const std::string& message);

// Runs fn, turning any C++ exception into a thrown JavaScript Error (for synchronous calls).
template <class Fn>
auto guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const SpladeError& e) {
    throw make_error(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(env, kInternal, "out of memory");
  } catch (const std::exception& e) {
    throw make_error(env, kInternal, e.what());
  }
}

// Argument access: each throws a TypeError-like Error naming the argument on mismatch.
double arg_number(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* name);
bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* name);

template <class T>
struct View {
  T* data;
  size_t size;
};
// Zero-copy view of a typed array of the given element type (Float32Array, Int32Array, Uint32Array...).
template <class T>
View<T> arg_typed(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type type);
View<float> arg_f32(const Napi::CallbackInfo& info, size_t i, const char* name);
View<int32_t> arg_i32(const Napi::CallbackInfo& info, size_t i, const char* name);
View<uint32_t> arg_u32(const Napi::CallbackInfo& info, size_t i, const char* name);

// A Promise-returning AsyncWorker: `work` runs on a libuv thread and must not touch V8; `done` runs
// on the main thread and builds the resolved value. Values in `keep_alive` (input typed arrays,
// the wrapped object) are referenced until the worker finishes, so zero-copy inputs outlive it.
// Every async call of the binding goes through it, because it alone survives a torn-down
// environment: when a worker thread is terminated mid-call the work still completes, but nothing
// can run there any more, and settling the promise the usual way would abort the process (see
// OnWorkComplete).
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  static Napi::Promise run(Napi::Env env, Work work, Done done, const std::vector<Napi::Value>& keep_alive = {});

 private:
  PromiseWorker(Napi::Env env, Work work, Done done, const std::vector<Napi::Value>& keep_alive);
  void Execute() override;
  void OnWorkComplete(Napi::Env env, napi_status status) override;
  void settle(Napi::Env env);
  static void on_teardown(napi_async_cleanup_hook_handle handle, void* self);

  Napi::Promise::Deferred deferred_;
  // Held from the start to the completion: an environment torn down meanwhile (a worker thread
  // terminated mid-call) waits for the work before it frees the JavaScript memory the work reads and
  // writes (typed arrays, the parameter arena).
  napi_async_cleanup_hook_handle teardown_hook_ = nullptr;
  Work work_;
  Done done_;
  std::vector<Napi::Reference<Napi::Value>> keep_alive_;
  bool failed_ = false;
  const char* code_ = kInternal;
  std::string error_;
};

}  // namespace splade::binding
