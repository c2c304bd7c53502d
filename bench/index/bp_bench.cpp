// Docid reordering speed and effect (a benchmark, not a test): build/bp_bench [--docs N] [--vocab V]
// [--topics T] [--terms-per-topic K] [--share S] [--zipf Z] [--max-topics M] [--min-len A] [--max-len B] [--iterations I] [--deep-iterations J] [--deep-range-size R] [--leaf L] [--min-df D] [--threads W]
// [--seed X]. Generates a topical collection (native/tests/bp_synthetic.h) in random order, runs
// bp_order on it and prints the seconds (wall and CPU: the machine may be shared), the resident memory before and at the peak (getrusage), and
// the log-gap bits a posting in random order, after BP, and sorted by each document's first topic (an
// oracle that knows the topics). Run it under `flock /tmp/bench.lock`.
//
// Measured (2-core AMD EPYC, shared, defaults, seed 1): 1M documents (120M postings) 38.0 s (73 s of
// CPU), 0.49 GiB, 5.593 -> 4.657 bits a posting; 8.8M documents (1.06G postings) 519 s (920 s of
// CPU), 4.27 GiB beyond the 4.04 GiB of input, 5.593 -> 4.515.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../native/common/thread_pool.h"
#include "../../native/index/reorder_bp.h"
#include "../../native/tests/bp_synthetic.h"

using namespace splade;

namespace {

double peak_rss_gib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + 1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  bp_synthetic::TopicalParams p;
  index::BpOptions opts;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const double v = std::strtod(argv[i + 1], nullptr);
    if (key == "--docs") p.n_docs = static_cast<uint32_t>(v);
    else if (key == "--vocab") p.vocab = static_cast<uint32_t>(v);
    else if (key == "--topics") p.topics = static_cast<uint32_t>(v);
    else if (key == "--terms-per-topic") p.terms_per_topic = static_cast<uint32_t>(v);
    else if (key == "--share") p.topic_share = v;
    else if (key == "--zipf") p.zipf = v;
    else if (key == "--max-topics") p.max_topics = static_cast<uint32_t>(v);
    else if (key == "--min-len") p.min_len = static_cast<uint32_t>(v);
    else if (key == "--max-len") p.max_len = static_cast<uint32_t>(v);
    else if (key == "--iterations") opts.iterations = static_cast<uint32_t>(v);
    else if (key == "--deep-iterations") opts.deep_iterations = static_cast<uint32_t>(v);
    else if (key == "--deep-range-size") opts.deep_range_size = static_cast<uint32_t>(v);
    else if (key == "--leaf") opts.leaf_size = static_cast<uint32_t>(v);
    else if (key == "--min-df") opts.min_df = static_cast<uint32_t>(v);
    else if (key == "--threads") opts.threads = static_cast<int>(v);
    else if (key == "--seed") seed = static_cast<uint64_t>(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  auto start = std::chrono::steady_clock::now();
  const auto c = bp_synthetic::topical(p, seed);
  const double postings = static_cast<double>(c.terms.size());
  std::printf("collection: %u documents, %.0f postings (%.1f a document), vocab %u, %u topics x %u terms, "
              "share %.2f, seed %llu: generated in %.1f s\n",
              c.n_docs(), postings, postings / c.n_docs(), c.vocab, p.topics, p.terms_per_topic, p.topic_share,
              static_cast<unsigned long long>(seed), seconds_since(start));
  const double rss_before = peak_rss_gib();

  start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  const auto order = index::bp_order(c.offsets.data(), c.terms.data(), c.n_docs(), c.vocab, opts);
  const double bp_seconds = seconds_since(start), bp_cpu = cpu_seconds() - cpu_start;
  const double rss_peak = peak_rss_gib();
  std::printf("bp_order: %.1f s (%.1f s of CPU) on %d threads (iterations %u, %u at most %u documents, leaf %u, "
              "min_df %u); peak RSS %.2f GiB, %.2f GiB before BP (%.2f GiB by BP)\n",
              bp_seconds, bp_cpu, opts.threads > 0 ? opts.threads : num_threads(), opts.iterations,
              opts.deep_iterations, opts.deep_range_size, opts.leaf_size, opts.min_df, rss_peak, rss_before, rss_peak - rss_before);

  start = std::chrono::steady_clock::now();
  const double random_bits = bp_synthetic::log_gap_bits(c, bp_synthetic::identity_order(c.n_docs())) / postings;
  const double bp_bits = bp_synthetic::log_gap_bits(c, order) / postings;
  std::vector<uint32_t> by_topic = bp_synthetic::identity_order(c.n_docs());
  std::stable_sort(by_topic.begin(), by_topic.end(),
                   [&](uint32_t a, uint32_t b) { return c.first_topic[a] < c.first_topic[b]; });
  const double topic_bits = bp_synthetic::log_gap_bits(c, by_topic) / postings;
  std::printf("log-gap bits a posting: random %.3f, BP %.3f (%.1f%% fewer), sorted by first topic %.3f "
              "(measured in %.1f s)\n",
              random_bits, bp_bits, 100 * (1 - bp_bits / random_bits), topic_bits, seconds_since(start));
  return 0;
}
