// Thread pool checks, runnable without Node (ctest): every task of every region runs exactly once,
// across pool resizes followed at once, or after a short while, by a region. A resize used to let a new
// worker count a region twice, after which a run() could wait forever: a watchdog turns such a hang
// into a failure instead of a stuck test.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "../common/thread_pool.h"

using namespace splade;

int main() {
  // The watchdog times each region, not the whole run: under qemu the 20000 resizes take most of a
  // minute on their own (one failed a whole-run deadline of 60 s with nothing hung).
  std::atomic<bool> finished{false};
  std::atomic<int> done{0};
  std::thread watchdog([&] {
    int seen = -1;
    auto deadline = std::chrono::steady_clock::now();
    while (!finished.load()) {
      const int now_done = done.load();
      if (now_done != seen) {
        seen = now_done;
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        std::printf("FAIL: a parallel region did not finish within 60 s (lost wake-up), after %d\n", seen);
        std::fflush(stdout);
        std::_Exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  int failures = 0;
  constexpr int kIters = 20000;
  std::vector<std::atomic<int>> hits(8);
  for (int it = 0; it < kIters; ++it) {
    set_num_threads(1 + it % 3);
    // 0-96 us between the resize and the region: the new workers are starting up meanwhile
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(it % 97);
    while (std::chrono::steady_clock::now() < until) {
    }
    for (auto& h : hits) h.store(0);
    parallel_for(hits.size(), [&](size_t i, int) { hits[i].fetch_add(1); });
    for (size_t i = 0; i < hits.size(); ++i) {
      if (hits[i].load() != 1 && failures++ < 5)
        std::printf("FAIL: iteration %d, task %zu ran %d times\n", it, i, hits[i].load());
    }
    done.store(it + 1);
  }
  finished.store(true);
  watchdog.join();
  std::printf("%s: %d resizes and regions\n", failures ? "FAILED" : "ok", kIters);
  return failures ? 1 : 0;
}
