// Docid reordering by recursive graph bisection (BP: Dhulipala et al., KDD 2016, "Compressing graphs
// and indexes with recursive graph bisection", run as PISA runs it). Documents that share terms end up
// close together, so posting lists get small docid gaps: smaller lists, and longer runs of documents
// that block-max and docid-block methods can skip together.
//
// Each range of documents is split in two halves; for `iterations` rounds, every document gets the
// gain in log-gap cost (a term held by deg of n documents costs about deg * log2(n / (deg + 1)) bits)
// of moving to the other half, each half is ordered by gain, and pairs are swapped while the two gains
// sum above zero. Then both halves are bisected the same way, down to ranges of `leaf_size` documents.
#pragma once
#include <cstdint>
#include <vector>

namespace splade::index {

struct BpOptions {
  // Swap rounds per bisection (PISA's default). A bisection stops early once a round swaps nothing:
  // every later round would then compute the same gains and swap nothing either.
  uint32_t iterations = 20;
  // Ranges of at most deep_range_size documents get deep_iterations rounds (if fewer than
  // `iterations`). Most of the time goes to the many levels of small ranges, and they settle in a few
  // rounds: on 200k topical documents, 5 rounds below 2^14 documents gave the same log-gap bits as 20
  // (4.720 a posting) in 58% of the CPU time; on 1M, 0.2% more bits (4.657 vs 4.646) in 67% (73 vs 110
  // s). 3 rounds there cost 1.1% more bits, 5 rounds at every level 0.5%.
  uint32_t deep_iterations = 5;
  uint32_t deep_range_size = 1u << 14;
  // Ranges of at most this many documents are not split (leaves keep their input order). Below ~16
  // documents a split cannot separate much: most terms of a 16-document range occur in one of them.
  // Leaves of 8/16/32/64 gave 4.728/4.720/4.709/4.702 bits a posting on 200k topical documents but
  // 16 beat 64 on bp_test's tighter topics (3.727 vs 3.746); the deep levels cost little (5 rounds, few
  // shared terms), and real collections have finer structure than these topics, so 16.
  uint32_t leaf_size = 16;
  // Terms in fewer documents are ignored: a term held by one document costs the same wherever it goes.
  uint32_t min_df = 2;
  // Workers: 0 takes the native pool's size (native/common/thread_pool.h); more than that is capped
  // to it. The order never depends on it.
  int threads = 0;
};

// docs in CSR form: document d holds the term ids terms[offsets[d] .. offsets[d+1]) (distinct, any
// order), each < vocab. Returns order: order[new_position] = old document number, a permutation of
// [0, n_docs). Deterministic: the same input and options give the same order whatever the thread count.
// Offsets that decrease are ERR_SPLADE_INVALID_ARGUMENT, a term >= vocab is ERR_SPLADE_OUT_OF_RANGE.
std::vector<uint32_t> bp_order(const uint64_t* offsets, const uint32_t* terms, uint32_t n_docs, uint32_t vocab,
                               const BpOptions& opts);

}  // namespace splade::index
