// IndexBuilder and IndexHandle: the inverted index for JavaScript. IndexBuilder takes documents in
// chunks of concatenated typed arrays (zero-copy views); `new IndexHandle('build', builder, docIds)`
// finishes it and `new IndexHandle('open', path)` maps a file. search() is synchronous; searchBatch()
// runs the queries on its own threads (at most `threads`) inside a PromiseWorker, holding the index
// and the query arrays alive until it settles; its results carry their docIds (when the index stores
// them), so a batch in flight finishes even if the index is disposed meanwhile.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <memory>
#include <thread>

#include "../common/thread_pool.h"
#include "../index/builder.h"
#include "../index/index.h"
#include "../index/search.h"
#include "napi_util.h"

namespace splade::binding {
namespace {

using index::Algorithm;
using index::Builder;
using index::Index;
using index::SearchResult;

class IndexBuilderWrap : public Napi::ObjectWrap<IndexBuilderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IndexBuilder",
                       {InstanceMethod("add", &IndexBuilderWrap::Add),
                        InstanceAccessor("numDocs", &IndexBuilderWrap::NumDocs, nullptr)});
  }

  // new IndexBuilder(blockSize, impactBits, scale (0: the largest value), vocabSize (0: from the data),
  //                  bmpBlockDocs (0: no block-max store), reorder ('none' | 'bp'),
  //                  store ('lists' | 'compact': the block-max store as the only copy of the postings))
  explicit IndexBuilderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IndexBuilderWrap>(info) {
    index::BuildOptions o;
    o.block_size = static_cast<uint32_t>(arg_int(info, 0, "blockSize", index::kMinBlockSize, index::kMaxBlockSize));
    o.impact_bits = static_cast<uint32_t>(arg_int(info, 1, "impactBits", 8, 16));
    const double scale = arg_number(info, 2, "scale");
    o.scale = static_cast<float>(scale);
    o.vocab_size = static_cast<uint32_t>(arg_int(info, 3, "vocabSize", 0, index::kMaxVocab));
    o.bmp_block_docs = static_cast<uint32_t>(arg_int(info, 4, "bmpBlockDocs", 0, index::kBmpMaxBlockDocs));
    const std::string reorder = arg_string(info, 5, "reorder");
    if (reorder != "none" && reorder != "bp") {
      throw_error(info.Env(), kInvalidArgument, "Expected 'none' or 'bp' for reorder but received " + reorder);
    }
    o.reorder_bp = reorder == "bp";
    const std::string store = arg_string(info, 6, "store");
    if (store != "lists" && store != "compact") {
      throw_error(info.Env(), kInvalidArgument, "Expected 'lists' or 'compact' for store but received " + store);
    }
    o.lists = store == "lists";
    guarded(info.Env(), [&] {
      builder_ = std::make_unique<Builder>(o);
      return 0;
    });
  }

  std::unique_ptr<Builder> take(Napi::Env env) {
    if (!builder_) throw_error(env, kInvalidArgument, "the index builder was already finished");
    return std::move(builder_);
  }

 private:
  // add(indices: Uint32Array, values: Float32Array, offsets: Uint32Array (numDocs + 1))
  Napi::Value Add(const Napi::CallbackInfo& info) {
    auto idx = arg_u32(info, 0, "indices");
    auto val = arg_f32(info, 1, "values");
    auto off = arg_u32(info, 2, "offsets");
    if (idx.size != val.size) throw_error(info.Env(), kInvalidArgument, "indices and values must have the same length");
    if (off.size < 1) throw_error(info.Env(), kInvalidArgument, "offsets must hold at least one entry");
    if (!builder_) throw_error(info.Env(), kInvalidArgument, "the index builder was already finished");
    return guarded(info.Env(), [&]() -> Napi::Value {
      builder_->add(idx.data, val.data, idx.size, off.data, static_cast<uint32_t>(off.size - 1));
      return info.Env().Undefined();
    });
  }
  Napi::Value NumDocs(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), builder_ ? builder_->num_docs() : 0);
  }

  std::unique_ptr<Builder> builder_;
};

Napi::Object result_object(Napi::Env env, const SearchResult& r) {
  Napi::Object o = Napi::Object::New(env);
  auto ids = Napi::Uint32Array::New(env, r.ids.size());
  auto scores = Napi::Float32Array::New(env, r.scores.size());
  std::copy(r.ids.begin(), r.ids.end(), ids.Data());
  std::copy(r.scores.begin(), r.scores.end(), scores.Data());
  o.Set("ids", ids);
  o.Set("scores", scores);
  o.Set("postingsScored", Napi::Number::New(env, static_cast<double>(r.postings_scored)));
  return o;
}

// The stored external ids of ids (an index that stores them).
Napi::Array doc_id_array(Napi::Env env, const Index& ix, const uint32_t* ids, size_t n) {
  Napi::Array out = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) out.Set(static_cast<uint32_t>(i), ix.doc_id(ids[i]));
  return out;
}

Algorithm algorithm_arg(const Napi::CallbackInfo& info, size_t i) {
  const std::string name = arg_string(info, i, "algorithm");
  Algorithm a;
  if (!index::parse_algorithm(name, &a)) {
    throw_error(info.Env(), kInvalidArgument,
                "Expected one of 'exhaustive', 'wand', 'maxscore', 'bmw', 'bmp', 'approximate' for algorithm but received " +
                    name);
  }
  return a;
}

// alpha, beta: the approximate-search knobs (see index/search.h), checked in the core.
index::BmpParams params_arg(const Napi::CallbackInfo& info, size_t i) {
  index::BmpParams p;
  p.alpha = static_cast<float>(arg_number(info, i, "alpha"));
  p.beta = static_cast<float>(arg_number(info, i + 1, "beta"));
  guarded(info.Env(), [&] {
    index::check_params(p);
    return 0;
  });
  return p;
}

// Optional deletions: undefined, or a Uint8Array bitmap of ceil(numDocs / 8) bytes over input positions.
const uint8_t* deleted_arg(const Napi::CallbackInfo& info, size_t i, const Index& ix) {
  if (info.Length() <= i || info[i].IsUndefined()) return nullptr;
  auto bits = arg_typed<uint8_t>(info, i, "deleted", napi_uint8_array);
  if (bits.size != (size_t{ix.num_docs()} + 7) / 8) {
    throw_error(info.Env(), kInvalidArgument, "deleted must hold ceil(numDocs / 8) bytes");
  }
  return bits.data;
}

class IndexWrap : public Napi::ObjectWrap<IndexWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IndexHandle",
                       {InstanceMethod("search", &IndexWrap::Search),
                        InstanceMethod("searchBatch", &IndexWrap::SearchBatch),
                        InstanceMethod("save", &IndexWrap::Save),
                        InstanceMethod("docIds", &IndexWrap::DocIds),
                        InstanceMethod("stats", &IndexWrap::Stats),
                        InstanceMethod("documentFrequencies", &IndexWrap::DocumentFrequencies),
                        InstanceMethod("dispose", &IndexWrap::Dispose)});
  }

  // new IndexHandle('build', builder: IndexBuilder, docIds: string[] | undefined)
  // new IndexHandle('open', path: string)
  explicit IndexWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IndexWrap>(info) {
    Napi::Env env = info.Env();
    const std::string how = arg_string(info, 0, "how");
    if (how == "open") {
      const std::string path = arg_string(info, 1, "path");
      index_ = guarded(env, [&] { return Index::open(path); });
    } else if (how == "build") {
      if (info.Length() < 2 || !info[1].IsObject()) throw_error(env, kInvalidArgument, "Expected an IndexBuilder");
      IndexBuilderWrap* bw = IndexBuilderWrap::Unwrap(info[1].As<Napi::Object>());
      std::vector<std::string> ids;
      if (info.Length() > 2 && !info[2].IsUndefined()) {
        if (!info[2].IsArray()) throw_error(env, kInvalidArgument, "Expected an array of strings for docIds");
        auto arr = info[2].As<Napi::Array>();
        ids.reserve(arr.Length());
        for (uint32_t i = 0; i < arr.Length(); ++i) {
          Napi::Value v = arr.Get(i);
          if (!v.IsString()) throw_error(env, kInvalidArgument, "docIds[" + std::to_string(i) + "] is not a string");
          ids.push_back(v.As<Napi::String>().Utf8Value());
        }
      }
      std::unique_ptr<Builder> b = bw->take(env);
      index_ = guarded(env, [&] { return Index::from_image(b->finish(ids)); });
    } else {
      throw_error(env, kInvalidArgument, "Expected 'open' or 'build'");
    }
  }

 private:
  const std::shared_ptr<Index>& live(Napi::Env env) {
    if (!index_) throw_error(env, kInvalidArgument, "this index was disposed");
    return index_;
  }

  // search(indices: Uint32Array, values: Float32Array, k, algorithm, alpha, beta, deleted?: Uint8Array,
  //        floor?: number (only scores above it))
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto idx = arg_u32(info, 0, "indices");
    auto val = arg_f32(info, 1, "values");
    const uint32_t k = static_cast<uint32_t>(arg_int(info, 2, "k", 1, index::kMaxK));
    const Algorithm a = algorithm_arg(info, 3);
    const index::BmpParams params = params_arg(info, 4);
    if (idx.size != val.size) throw_error(env, kInvalidArgument, "query indices and values must have the same length");
    const auto& ix = live(env);
    const uint8_t* deleted = deleted_arg(info, 6, *ix);
    const float floor = info.Length() > 7 && !info[7].IsUndefined() ? static_cast<float>(arg_number(info, 7, "floor"))
                                                                     : -std::numeric_limits<float>::infinity();
    if (std::isnan(floor)) throw_error(env, kInvalidArgument, "floor must be a number");
    return guarded(env, [&]() -> Napi::Value {
      const SearchResult r =
          index::search(*ix, index::Query{idx.data, val.data, static_cast<uint32_t>(idx.size)}, k, a, params, deleted, floor);
      return result_object(env, r);
    });
  }

  // searchBatch(indices: Uint32Array, values: Float32Array, offsets: Uint32Array (numQueries + 1),
  //             k, algorithm, threads (0: the pool's size), alpha, beta, deleted?: Uint8Array) -> Promise<result[]>
  Napi::Value SearchBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto idx = arg_u32(info, 0, "indices");
    auto val = arg_f32(info, 1, "values");
    auto off = arg_u32(info, 2, "offsets");
    const uint32_t k = static_cast<uint32_t>(arg_int(info, 3, "k", 1, index::kMaxK));
    const Algorithm a = algorithm_arg(info, 4);
    int threads = static_cast<int>(arg_int(info, 5, "threads", 0, 1024));
    const index::BmpParams params = params_arg(info, 6);
    if (idx.size != val.size) throw_error(env, kInvalidArgument, "query indices and values must have the same length");
    if (off.size < 1) throw_error(env, kInvalidArgument, "offsets must hold at least one entry");
    const size_t nq = off.size - 1;
    for (size_t i = 0; i < nq; ++i) {
      if (off.data[i] > off.data[i + 1] || off.data[i + 1] > idx.size) {
        throw_error(env, kOutOfRange, "query offsets not ascending or beyond the arrays");
      }
    }
    std::shared_ptr<Index> ix = live(env);
    const uint8_t* deleted = deleted_arg(info, 8, *ix);
    // Check every query now, so that a bad one rejects the call before any work.
    guarded(env, [&] {
      for (size_t i = 0; i < nq; ++i) {
        try {
          index::check_query(*ix, index::Query{idx.data + off.data[i], val.data + off.data[i], off.data[i + 1] - off.data[i]});
        } catch (const SpladeError& e) {
          fail(e.code(), "query " + std::to_string(i) + ": " + e.what());
        }
      }
      return 0;
    });
    if (threads <= 0) threads = num_threads();
    threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(nq, 1)));
    auto results = std::make_shared<std::vector<SearchResult>>(nq);
    auto work = [ix, idx, val, off, nq, k, a, params, threads, results, deleted] {
      std::atomic<size_t> next{0};
      std::exception_ptr error;
      std::mutex m;
      auto run = [&] {
        for (;;) {
          const size_t i = next.fetch_add(1);
          if (i >= nq) return;
          try {
            (*results)[i] = index::search(
                *ix, index::Query{idx.data + off.data[i], val.data + off.data[i], off.data[i + 1] - off.data[i]}, k, a,
                params, deleted);
          } catch (...) {
            std::lock_guard<std::mutex> lk(m);
            if (!error) error = std::current_exception();
            next.store(nq);
          }
        }
      };
      std::vector<std::thread> pool;
      for (int t = 1; t < threads; ++t) pool.emplace_back(run);
      run();
      for (auto& t : pool) t.join();
      if (error) std::rethrow_exception(error);
    };
    // The external ids come with the results, read through the batch's own reference to the index:
    // a dispose() while the batch ran must not fail it.
    auto done = [results, ix](Napi::Env env) -> Napi::Value {
      Napi::Array out = Napi::Array::New(env, results->size());
      for (size_t i = 0; i < results->size(); ++i) {
        const SearchResult& r = (*results)[i];
        Napi::Object o = result_object(env, r);
        if (ix->has_doc_ids()) o.Set("docIds", doc_id_array(env, *ix, r.ids.data(), r.ids.size()));
        out.Set(static_cast<uint32_t>(i), o);
      }
      return out;
    };
    std::vector<Napi::Value> keep{info.This(), info[0], info[1], info[2]};
    if (deleted) keep.push_back(info[8]);  // the bitmap is read in place until the batch settles
    return PromiseWorker::run(env, work, done, keep);
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    const std::string path = arg_string(info, 0, "path");
    const auto& ix = live(info.Env());
    return guarded(info.Env(), [&]() -> Napi::Value {
      ix->save(path);
      return info.Env().Undefined();
    });
  }

  // docIds(ids: Uint32Array) -> string[] | undefined (when the index stores none)
  Napi::Value DocIds(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto ids = arg_u32(info, 0, "ids");
    const auto& ix = live(env);
    if (!ix->has_doc_ids()) return env.Undefined();
    return guarded(env, [&]() -> Napi::Value { return doc_id_array(env, *ix, ids.data, ids.size); });
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& ix = live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("numDocs", ix->num_docs());
    o.Set("numPostings", static_cast<double>(ix->num_postings()));
    o.Set("vocabSize", ix->vocab_size());
    o.Set("sizeBytes", static_cast<double>(ix->size_bytes()));
    o.Set("blockSize", ix->block_size());
    o.Set("impactBits", ix->impact_bits());
    o.Set("scale", ix->scale());
    o.Set("hasDocIds", ix->has_doc_ids());
    o.Set("reordered", ix->reordered());
    o.Set("hasBmp", ix->has_bmp());
    o.Set("hasLists", ix->has_lists());
    return o;
  }

  // Fills a caller-allocated Uint32Array of vocabSize entries with each term's posting count.
  Napi::Value DocumentFrequencies(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto out = arg_u32(info, 0, "out");
    const auto& ix = live(env);
    if (out.size != ix->vocab_size()) throw_error(env, kInvalidArgument, "documentFrequencies: out must have vocabSize entries");
    for (uint32_t t = 0; t < ix->vocab_size(); ++t) out.data[t] = ix->term(t).df;
    return env.Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    index_.reset();  // a batch in flight keeps its own reference
    return info.Env().Undefined();
  }

  std::shared_ptr<Index> index_;
};

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("IndexBuilder", IndexBuilderWrap::Define(env));
  exports.Set("IndexHandle", IndexWrap::Define(env));
}

Registrar registrar("index", Init);

}  // namespace
}  // namespace splade::binding
