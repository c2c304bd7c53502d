// Docid reordering by recursive graph bisection (native/index/reorder_bp.h), runnable without Node
// (ctest): the order is a permutation; it is the same on one thread and two, and whatever `threads`
// says; on a seeded topical collection in random order it needs at least 25% fewer log-gap bits than
// the random order; tiny and degenerate inputs work; bad input is a SpladeError with its code.
// BP_TEST_SEED=<n> reruns the random parts with another seed.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../common/error.h"
#include "../common/thread_pool.h"
#include "../index/reorder_bp.h"
#include "bp_synthetic.h"

using namespace splade;
using splade::index::bp_order;
using splade::index::BpOptions;

namespace {

int failures = 0;
uint64_t seed = 14;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::printf("FAIL (seed %llu): %s\n", static_cast<unsigned long long>(seed), what.c_str());
  }
}

bool is_permutation(const std::vector<uint32_t>& order, uint32_t n) {
  if (order.size() != n) return false;
  std::vector<bool> seen(n, false);
  for (uint32_t d : order) {
    if (d >= n || seen[d]) return false;
    seen[d] = true;
  }
  return true;
}

std::vector<uint32_t> order_of(const bp_synthetic::Collection& c, const BpOptions& opts) {
  return bp_order(c.offsets.data(), c.terms.data(), c.n_docs(), c.vocab, opts);
}

// A collection given as documents (lists of terms).
bp_synthetic::Collection from_docs(const std::vector<std::vector<uint32_t>>& docs, uint32_t vocab) {
  bp_synthetic::Collection c;
  c.vocab = vocab;
  c.offsets.push_back(0);
  for (const auto& d : docs) {
    c.terms.insert(c.terms.end(), d.begin(), d.end());
    c.offsets.push_back(c.terms.size());
  }
  return c;
}

void test_tiny_inputs() {
  const BpOptions opts;
  check(bp_order(nullptr, nullptr, 0, 10, opts).empty(), "no documents: empty order");
  const std::vector<std::vector<std::vector<uint32_t>>> cases = {
      {{1, 2}},
      {{1, 2}, {2, 3}},
      {{}, {}},
      {{}, {4}, {}, {4, 5}, {}},
      // every term in one document only: below min_df, nothing to gain, every document still placed
      {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto c = from_docs(cases[i], 10);
    for (uint32_t leaf : {0u, 1u, 2u, 16u}) {
      BpOptions o;
      o.leaf_size = leaf;
      check(is_permutation(order_of(c, o), c.n_docs()),
            "tiny case " + std::to_string(i) + ", leaf " + std::to_string(leaf) + ": not a permutation");
    }
  }
  // Nothing to gain anywhere (all below min_df, or no rounds): the input order stays.
  const auto singles = from_docs(cases.back(), 10);
  BpOptions leaf1;
  leaf1.leaf_size = 1;
  check(order_of(singles, leaf1) == bp_synthetic::identity_order(10), "terms below min_df moved documents");
  BpOptions no_rounds;
  no_rounds.iterations = 0;
  const auto c = from_docs(cases[3], 10);
  check(order_of(c, no_rounds) == bp_synthetic::identity_order(5), "zero rounds moved documents");
}

void test_bad_input() {
  const std::vector<uint64_t> offsets = {0, 2, 1};
  const std::vector<uint32_t> terms = {1, 2, 3};
  auto code_of = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const SpladeError& e) {
      return e.code();
    }
    return "no error";
  };
  check(code_of([&] { bp_order(offsets.data(), terms.data(), 2, 10, BpOptions{}); }) == kInvalidArgument,
        "decreasing offsets are not ERR_SPLADE_INVALID_ARGUMENT");
  const std::vector<uint64_t> ok_offsets = {0, 2, 3};
  check(code_of([&] { bp_order(ok_offsets.data(), terms.data(), 2, 3, BpOptions{}); }) == kOutOfRange,
        "a term >= vocab is not ERR_SPLADE_OUT_OF_RANGE");
}

bp_synthetic::Collection test_collection(uint32_t n_docs) {
  bp_synthetic::TopicalParams p;
  p.n_docs = n_docs;
  p.vocab = 8000;
  p.topics = 100;
  p.max_topics = 2;
  p.terms_per_topic = 50;
  p.topic_share = 0.9;
  p.min_len = 20;
  p.max_len = 60;
  return bp_synthetic::topical(p, seed);
}

void test_permutation_and_determinism() {
  // Large enough that the first levels split their ranges between workers (bisect_parallel).
  const auto c = test_collection(40000);
  BpOptions opts;
  opts.iterations = 8;
  set_num_threads(1);
  const auto one = order_of(c, opts);
  check(is_permutation(one, c.n_docs()), "40k documents: not a permutation");
  set_num_threads(2);
  const auto two = order_of(c, opts);
  check(one == two, "the order differs between 1 and 2 pool threads");
  opts.threads = 1;
  check(order_of(c, opts) == two, "the order differs between threads = 1 and threads = 0");
  set_num_threads(3);  // more workers than the machine has cores: still the same order
  opts.threads = 0;
  check(order_of(c, opts) == two, "the order differs with 3 pool threads");
  set_num_threads(0);
}

void test_fewer_bits() {
  const auto c = test_collection(30000);
  const auto order = order_of(c, BpOptions{});
  check(is_permutation(order, c.n_docs()), "30k documents: not a permutation");
  const double postings = static_cast<double>(c.terms.size());
  const double random_bits = bp_synthetic::log_gap_bits(c, bp_synthetic::identity_order(c.n_docs())) / postings;
  const double bp_bits = bp_synthetic::log_gap_bits(c, order) / postings;
  std::printf("log-gap bits a posting, 30k topical documents: random order %.3f, BP %.3f (%.1f%% fewer)\n",
              random_bits, bp_bits, 100 * (1 - bp_bits / random_bits));
  check(bp_bits <= 0.75 * random_bits, "BP saves less than 25% of the random order's log-gap bits");
}

}  // namespace

int main() {
  if (const char* s = std::getenv("BP_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  test_tiny_inputs();
  test_bad_input();
  test_permutation_and_determinism();
  test_fewer_bits();
  std::printf("%s: bp_order (seed %llu)\n", failures ? "FAILED" : "ok", static_cast<unsigned long long>(seed));
  return failures ? 1 : 0;
}
