// firstNonFinite(values): the checkpoint loaders' scan for NaN / infinite weights (native/common/finite.h).
#include "../common/finite.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  const View<float> x = arg_f32(info, 0, "values");
  return guarded(info.Env(), [&]() -> Napi::Value {
    const size_t i = first_non_finite(x.data, x.size);
    return Napi::Number::New(info.Env(), i == x.size ? -1.0 : static_cast<double>(i));
  });
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite, "firstNonFinite"));
}

Registrar registrar("tensor", Init);

}  // namespace
}  // namespace splade::binding
