// Module entry: every binding file registers itself (see Registrar), so adding an op family means
// adding a file, not editing this one.
#include "napi_util.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  splade::binding::init_all(env, exports);
  return exports;
}

NODE_API_MODULE(splade, Init)
