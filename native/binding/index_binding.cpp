// IndexBuilder and IndexHandle: the inverted index for JavaScript. IndexBuilder takes documents in
// chunks of concatenated typed arrays (zero-copy views); `new IndexHandle('build', builder, docIds)`
// finishes it and `new IndexHandle('open', path)` maps a file. search() is synchronous; searchBatch()
// runs the queries on its own threads (at most `threads`) inside a PromiseWorker, holding the index
// and the query arrays alive until it settles; its results carry their docIds (when the index stores
// them), so a batch in flight finishes even if the index is disposed meanwhile. searchSegments() and
// searchSegmentsBatch() search a live index's segments (IndexHandles) as one collection.
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
  //                  store ('lists' | 'compact': the block-max store as the only copy of the postings),
  //                  topBlocks (store 'compact': blocks listed per term for approximate search; 0: none;
  //                  -1: the default, index::auto_top_blocks))
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
    const int64_t top_blocks = arg_int(info, 7, "topBlocks", -1, index::kMaxTopBlocks);
    o.top_blocks = top_blocks < 0 ? index::kAutoTopBlocks : static_cast<uint32_t>(top_blocks);
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

// alpha, beta, blocks: the approximate-search knobs (see index/search.h), checked in the core.
index::BmpParams params_arg(const Napi::CallbackInfo& info, size_t i) {
  index::BmpParams p;
  p.alpha = static_cast<float>(arg_number(info, i, "alpha"));
  p.beta = static_cast<float>(arg_number(info, i + 1, "beta"));
  p.blocks = static_cast<uint32_t>(arg_int(info, i + 2, "blocks", 0, index::kMaxApproximateBlocks));
  guarded(info.Env(), [&] {
    index::check_params(p);
    return 0;
  });
  return p;
}

// One query's arguments from position i on: indices: Uint32Array, values: Float32Array, k, algorithm, alpha, beta, blocks.
struct QueryArgs {
  View<uint32_t> indices;
  View<float> values;
  uint32_t k;
  Algorithm algorithm;
  index::BmpParams params;
  index::Query query() const { return index::Query{indices.data, values.data, static_cast<uint32_t>(indices.size)}; }
};
QueryArgs query_args(const Napi::CallbackInfo& info, size_t i) {
  QueryArgs a{arg_u32(info, i, "indices"), arg_f32(info, i + 1, "values"),
              static_cast<uint32_t>(arg_int(info, i + 2, "k", 1, index::kMaxK)), algorithm_arg(info, i + 3), params_arg(info, i + 4)};
  if (a.indices.size != a.values.size) throw_error(info.Env(), kInvalidArgument, "query indices and values must have the same length");
  return a;
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

// A batch's queries: offsets (numQueries + 1) ascending and within the arrays; returns numQueries.
size_t batch_size(Napi::Env env, const View<uint32_t>& idx, const View<float>& val, const View<uint32_t>& off) {
  if (idx.size != val.size) throw_error(env, kInvalidArgument, "query indices and values must have the same length");
  if (off.size < 1) throw_error(env, kInvalidArgument, "offsets must hold at least one entry");
  const size_t nq = off.size - 1;
  for (size_t i = 0; i < nq; ++i) {
    if (off.data[i] > off.data[i + 1] || off.data[i + 1] > idx.size) {
      throw_error(env, kOutOfRange, "query offsets not ascending or beyond the arrays");
    }
  }
  return nq;
}

index::Query batch_query(const View<uint32_t>& idx, const View<float>& val, const View<uint32_t>& off, size_t i) {
  return index::Query{idx.data + off.data[i], val.data + off.data[i], off.data[i + 1] - off.data[i]};
}

// Checks every query of a batch now (check(query) throws SpladeError), so that a bad one rejects the
// call before any work.
template <class Check>
void check_batch(Napi::Env env, const View<uint32_t>& idx, const View<float>& val, const View<uint32_t>& off, size_t nq,
                 const Check& check) {
  guarded(env, [&] {
    for (size_t i = 0; i < nq; ++i) {
      try {
        check(batch_query(idx, val, off, i));
      } catch (const SpladeError& e) {
        fail(e.code(), "query " + std::to_string(i) + ": " + e.what());
      }
    }
    return 0;
  });
}

// Runs query(i) for every i below nq on `threads` threads (this one among them); the first
// exception stops the rest and is rethrown.
template <class Fn>
void run_queries(size_t nq, int threads, const Fn& query) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex m;
  auto run = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= nq) return;
      try {
        query(i);
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
}

// threads (0: the pool's size), at most one per query.
int batch_threads(int threads, size_t nq) {
  if (threads <= 0) threads = num_threads();
  return static_cast<int>(std::min<size_t>(threads, std::max<size_t>(nq, 1)));
}

// Marks IndexHandle objects, so that nothing else passes for one where a list of them is taken.
const napi_type_tag kIndexTag = {0x1d3a5e7b9c2f4a61ULL, 0x8e0b6d4c2a197f35ULL};

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
    if (napi_type_tag_object(env, info.This(), &kIndexTag) != napi_ok) throw_error(env, kInternal, "could not tag the index handle");
  }

  // The index of v, an IndexHandle that was not disposed (what: how the caller names v).
  static std::shared_ptr<Index> index_of(Napi::Env env, Napi::Value v, const std::string& what) {
    bool tagged = false;
    if (!v.IsObject() || napi_check_object_type_tag(env, v, &kIndexTag, &tagged) != napi_ok || !tagged) {
      throw_error(env, kInvalidArgument, "Expected an IndexHandle for " + what);
    }
    return Unwrap(v.As<Napi::Object>())->live(env);
  }

 private:
  const std::shared_ptr<Index>& live(Napi::Env env) {
    if (!index_) throw_error(env, kInvalidArgument, "this index was disposed");
    return index_;
  }

  // search(indices: Uint32Array, values: Float32Array, k, algorithm, alpha, beta, blocks, deleted?: Uint8Array,
  //        floor?: number (only scores above it))
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const QueryArgs q = query_args(info, 0);
    const auto& ix = live(env);
    const uint8_t* deleted = deleted_arg(info, 7, *ix);
    const float floor = info.Length() > 8 && !info[8].IsUndefined() ? static_cast<float>(arg_number(info, 8, "floor"))
                                                                     : -std::numeric_limits<float>::infinity();
    if (std::isnan(floor)) throw_error(env, kInvalidArgument, "floor must be a number");
    return guarded(env, [&]() -> Napi::Value {
      return result_object(env, index::search(*ix, q.query(), q.k, q.algorithm, q.params, deleted, floor));
    });
  }

  // searchBatch(indices: Uint32Array, values: Float32Array, offsets: Uint32Array (numQueries + 1),
  //             k, algorithm, threads (0: the pool's size), alpha, beta, blocks, deleted?: Uint8Array) -> Promise<result[]>
  Napi::Value SearchBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto idx = arg_u32(info, 0, "indices");
    auto val = arg_f32(info, 1, "values");
    auto off = arg_u32(info, 2, "offsets");
    const uint32_t k = static_cast<uint32_t>(arg_int(info, 3, "k", 1, index::kMaxK));
    const Algorithm a = algorithm_arg(info, 4);
    int threads = static_cast<int>(arg_int(info, 5, "threads", 0, 1024));
    const index::BmpParams params = params_arg(info, 6);
    const size_t nq = batch_size(env, idx, val, off);
    std::shared_ptr<Index> ix = live(env);
    const uint8_t* deleted = deleted_arg(info, 9, *ix);
    check_batch(env, idx, val, off, nq, [&](const index::Query& q) { index::check_query(*ix, q); });
    threads = batch_threads(threads, nq);
    auto results = std::make_shared<std::vector<SearchResult>>(nq);
    auto work = [ix, idx, val, off, nq, k, a, params, threads, results, deleted] {
      run_queries(nq, threads, [&](size_t i) {
        (*results)[i] = index::search(*ix, batch_query(idx, val, off, i), k, a, params, deleted);
      });
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
    if (deleted) keep.push_back(info[9]);  // the bitmap is read in place until the batch settles
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

// Segments searched as one collection (index::search_segments): arguments 0 and 1 are an array of
// IndexHandles and an array as long holding undefined or each one's deletion bitmap.
struct SegmentsArg {
  std::vector<std::shared_ptr<Index>> indexes;  // held until a batch settles
  std::vector<index::Segment> segments;
  std::vector<Napi::Value> bitmaps;  // read in place until a batch settles
};

SegmentsArg segments_arg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray()) {
    throw_error(env, kInvalidArgument, "Expected an array of IndexHandles and an array of deletion bitmaps");
  }
  auto handles = info[0].As<Napi::Array>();
  auto bitmaps = info[1].As<Napi::Array>();
  if (bitmaps.Length() != handles.Length()) throw_error(env, kInvalidArgument, "Expected one deletion bitmap (or undefined) per segment");
  SegmentsArg out;
  for (uint32_t i = 0; i < handles.Length(); ++i) {
    const std::string where = "segments[" + std::to_string(i) + "]";
    out.indexes.push_back(IndexWrap::index_of(env, handles.Get(i), where));
    const Index& ix = *out.indexes.back();
    const Napi::Value b = bitmaps.Get(i);
    const uint8_t* deleted = nullptr;
    if (!b.IsUndefined()) {
      if (!b.IsTypedArray() || b.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw_error(env, kInvalidArgument, "Expected a Uint8Array or undefined for the deletions of " + where);
      }
      auto arr = b.As<Napi::Uint8Array>();
      if (arr.ElementLength() != (size_t{ix.num_docs()} + 7) / 8) {
        throw_error(env, kInvalidArgument, "the deletions of " + where + " must hold ceil(numDocs / 8) bytes");
      }
      deleted = arr.Data();
      out.bitmaps.push_back(b);
    }
    out.segments.push_back({&ix, deleted});
  }
  return out;
}

// A searchSegments result, with the external ids of its documents when every segment stores them
// (read here, in one call, rather than by one docIds call per segment from JavaScript).
Napi::Object segments_result(Napi::Env env, const SegmentsArg& segs, const SearchResult& r) {
  Napi::Object o = result_object(env, r);
  for (const auto& ix : segs.indexes)
    if (!ix->has_doc_ids()) return o;
  Napi::Array ids = Napi::Array::New(env, r.ids.size());
  for (size_t i = 0; i < r.ids.size(); ++i) {
    uint32_t d = r.ids[i];
    size_t s = 0;
    while (s + 1 < segs.indexes.size() && d >= segs.indexes[s]->num_docs()) d -= segs.indexes[s++]->num_docs();
    ids.Set(static_cast<uint32_t>(i), segs.indexes[s]->doc_id(d));
  }
  o.Set("docIds", ids);
  return o;
}

// searchSegments(segments: IndexHandle[], deleted: (Uint8Array | undefined)[], indices: Uint32Array,
//                values: Float32Array, k, algorithm ('bmp' | 'approximate'), alpha, beta, blocks) -> result
// ids number the documents of all segments in order (see index::search_segments).
Napi::Value SearchSegments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const SegmentsArg segs = segments_arg(info);
  const QueryArgs q = query_args(info, 2);
  return guarded(env, [&]() -> Napi::Value {
    return segments_result(env, segs, index::search_segments(segs.segments, q.query(), q.k, q.algorithm, q.params));
  });
}

// searchSegmentsBatch(segments, deleted, indices, values, offsets: Uint32Array (numQueries + 1), k,
//                     algorithm, threads (0: the pool's size), alpha, beta, blocks) -> Promise<result[]>
Napi::Value SearchSegmentsBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto segs = std::make_shared<SegmentsArg>(segments_arg(info));
  auto idx = arg_u32(info, 2, "indices");
  auto val = arg_f32(info, 3, "values");
  auto off = arg_u32(info, 4, "offsets");
  const uint32_t k = static_cast<uint32_t>(arg_int(info, 5, "k", 1, index::kMaxK));
  const Algorithm a = algorithm_arg(info, 6);
  const int threads = static_cast<int>(arg_int(info, 7, "threads", 0, 1024));
  const index::BmpParams params = params_arg(info, 8);
  const size_t nq = batch_size(env, idx, val, off);
  check_batch(env, idx, val, off, nq, [&](const index::Query& q) {
    for (const index::Segment& s : segs->segments) index::check_query(*s.ix, q);
  });
  const int used = batch_threads(threads, nq);
  auto results = std::make_shared<std::vector<SearchResult>>(nq);
  auto work = [segs, idx, val, off, nq, k, a, params, used, results] {
    run_queries(nq, used, [&](size_t i) {
      (*results)[i] = index::search_segments(segs->segments, batch_query(idx, val, off, i), k, a, params);
    });
  };
  auto done = [segs, results](Napi::Env env) -> Napi::Value {
    Napi::Array out = Napi::Array::New(env, results->size());
    for (size_t i = 0; i < results->size(); ++i) out.Set(static_cast<uint32_t>(i), segments_result(env, *segs, (*results)[i]));
    return out;
  };
  std::vector<Napi::Value> keep{info[0], info[1], info[2], info[3], info[4]};
  keep.insert(keep.end(), segs->bitmaps.begin(), segs->bitmaps.end());
  segs->bitmaps.clear();  // the references above hold them
  return PromiseWorker::run(env, work, done, keep);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("IndexBuilder", IndexBuilderWrap::Define(env));
  exports.Set("IndexHandle", IndexWrap::Define(env));
  exports.Set("searchSegments", Napi::Function::New(env, SearchSegments, "searchSegments"));
  exports.Set("searchSegmentsBatch", Napi::Function::New(env, SearchSegmentsBatch, "searchSegmentsBatch"));
}

Registrar registrar("index", Init);

}  // namespace
}  // namespace splade::binding
