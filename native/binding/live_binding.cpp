// The live index's native half (lib/live): mergeSegments(outPath, paths, deleted, scale, blockSize,
// impactBits, vocabSize, bmpBlockDocs, sync?) merges segment files into one (index/segment_merge.h)
// on a libuv thread and resolves to { docs, postings }; with sync true it merges on the calling
// thread and returns them (the live writer's merge worker does, at a lower priority of its own, which
// a libuv pool thread shared with flushes and searches cannot take). deleted[i] is source i's
// deletion bitmap (an empty Uint8Array: none), held alive until the merge settles. releaseFreeMemory() trims the heap.
#include <cstdlib>  // defines __GLIBC__ where it applies

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "../index/segment_merge.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

Napi::Value MergeSegments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const std::string out = arg_string(info, 0, "outPath");
    if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsArray()) throw_error(env, kInvalidArgument, "mergeSegments: expected arrays of paths and bitmaps");
    auto paths = info[1].As<Napi::Array>();
    auto deleted = info[2].As<Napi::Array>();
    if (paths.Length() != deleted.Length()) throw_error(env, kInvalidArgument, "mergeSegments: one bitmap per path");
    auto sources = std::make_shared<std::vector<index::MergeSource>>();
    std::vector<Napi::Value> keep;
    for (uint32_t i = 0; i < paths.Length(); ++i) {
      Napi::Value p = paths[i], d = deleted[i];
      if (!p.IsString() || !d.IsTypedArray() || d.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw_error(env, kInvalidArgument, "mergeSegments: paths must be strings and bitmaps Uint8Arrays");
      }
      auto bits = d.As<Napi::Uint8Array>();
      sources->push_back({p.As<Napi::String>().Utf8Value(), bits.ElementLength() ? bits.Data() : nullptr, bits.ElementLength()});
      keep.push_back(d);
    }
    index::MergeOptions o{};
    o.scale = static_cast<float>(arg_number(info, 3, "scale"));
    o.block_size = static_cast<uint32_t>(arg_int(info, 4, "blockSize", 16, 1024));
    o.impact_bits = static_cast<uint32_t>(arg_int(info, 5, "impactBits", 8, 16));
    o.vocab_size = static_cast<uint32_t>(arg_int(info, 6, "vocabSize", 1, 1 << 24));
    o.bmp_block_docs = static_cast<uint32_t>(arg_int(info, 7, "bmpBlockDocs", 0, 256));
    auto result = std::make_shared<index::MergeResult>();
    auto to_js = [=](Napi::Env e) -> Napi::Value {
      Napi::Object r = Napi::Object::New(e);
      r.Set("docs", Napi::Number::New(e, result->num_docs));
      r.Set("postings", Napi::Number::New(e, static_cast<double>(result->num_postings)));
      return r;
    };
    if (info.Length() > 8 && info[8].ToBoolean().Value()) {
      *result = index::merge_segments(*sources, out, o);
      return to_js(env);
    }
    return PromiseWorker::run(env, [=] { *result = index::merge_segments(*sources, out, o); }, to_js, keep);
  });
}

// releaseFreeMemory(): hands the heap's free pages back to the system (glibc keeps what a flush's
// builder or a merge freed, per thread arena, and the process's resident size would only grow with
// the largest of them); a no-op elsewhere.
Napi::Value ReleaseFreeMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mergeSegments", Napi::Function::New(env, MergeSegments, "mergeSegments"));
  exports.Set("releaseFreeMemory", Napi::Function::New(env, ReleaseFreeMemory, "releaseFreeMemory"));
}

Registrar registrar("live", Init);

}  // namespace
}  // namespace splade::binding
