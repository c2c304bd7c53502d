#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "error.h"

namespace splade {
namespace {

thread_local bool t_in_region = false;

int default_threads() {
  if (const char* env = std::getenv("SPLADE_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return std::min(n, 1024);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

class Pool {
 public:
  Pool() { resize(default_threads()); }
  ~Pool() { stop_workers(); }

  int size() const { return size_; }

  void resize(int n) {
    std::lock_guard<std::mutex> region(region_mutex_);
    stop_workers();
    size_ = std::max(1, n);
    stopping_ = false;
    stopping_flag_.store(false, std::memory_order_relaxed);
    // New workers start from the current generation: one that began from 0 took the last region's
    // (finished) generation for a new one, ran an empty pass and decremented pending_workers_ once too
    // often, which could leave the next run() waiting forever (seen with setThreads between products).
    const unsigned long long current = generation_.load(std::memory_order_relaxed);
    for (int t = 1; t < size_; ++t) workers_.emplace_back([this, t, current] { worker_loop(t, current); });
  }

  void run(size_t num_tasks, const TaskFn& fn) {
    if (num_tasks == 0) return;
    if (t_in_region || size_ == 1 || num_tasks == 1) {
      for (size_t i = 0; i < num_tasks; ++i) fn(i, 0);
      return;
    }
    std::lock_guard<std::mutex> region(region_mutex_);
    {
      std::lock_guard<std::mutex> lk(mutex_);
      fn_ = &fn;
      num_tasks_ = num_tasks;
      next_.store(0);
      pending_workers_ = size_ - 1;
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work(0);
    std::unique_lock<std::mutex> lk(mutex_);
    done_.wait(lk, [this] { return pending_workers_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int thread) {
    t_in_region = true;
    for (;;) {
      const size_t i = next_.fetch_add(1);
      if (i >= num_tasks_) break;
      try {
        (*fn_)(i, thread);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(num_tasks_);  // stop handing out tasks
      }
    }
    t_in_region = false;
  }

  void worker_loop(int thread, unsigned long long seen) {
    for (;;) {
      spin_for_work(seen);
      {
        std::unique_lock<std::mutex> lk(mutex_);
        wake_.wait(lk, [&] { return stopping_ || generation_.load(std::memory_order_relaxed) != seen; });
        if (stopping_) return;
        seen = generation_.load(std::memory_order_relaxed);
      }
      work(thread);
      std::lock_guard<std::mutex> lk(mutex_);
      if (--pending_workers_ == 0) done_.notify_one();
    }
  }

  // Before sleeping, a worker that just finished watches for the next region for a short while: a
  // model runs many short parallel regions back to back, and a sleeping worker only gets its core back
  // when the scheduler gets round to it (milliseconds when the machine is busy), by which time the
  // calling thread has done all the tasks itself.
  void spin_for_work(unsigned long long seen) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
    for (unsigned i = 1;; ++i) {
      if (generation_.load(std::memory_order_acquire) != seen || stopping_flag_.load(std::memory_order_relaxed)) return;
      if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      __asm__ volatile("yield");
#endif
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mutex_);
      stopping_ = true;
      stopping_flag_.store(true, std::memory_order_relaxed);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex region_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const TaskFn* fn_ = nullptr;
  size_t num_tasks_ = 0;
  std::atomic<size_t> next_{0};
  int pending_workers_ = 0;
  static constexpr int kSpinMicros = 200;
  std::atomic<unsigned long long> generation_{0};  // written under mutex_, read while spinning without it
  bool stopping_ = false;
  std::atomic<bool> stopping_flag_{false};  // stopping_, for the spin loop
  int size_ = 1;
  std::exception_ptr error_;
};

Pool& pool() {
  // Leaked on purpose: worker threads must not be joined from static destructors at process exit.
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (t_in_region) fail(kInvalidArgument, "set_num_threads cannot be called from inside a parallel region");
  pool().resize(n > 0 ? std::min(n, 1024) : default_threads());
}

void parallel_for(size_t num_tasks, const TaskFn& fn) { pool().run(num_tasks, fn); }

void parallel_range(size_t n, const std::function<void(size_t, size_t, int)>& fn) {
  if (n == 0) return;
  const size_t parts = std::min(n, static_cast<size_t>(num_threads()));
  parallel_for(parts, [&](size_t p, int thread) {
    const size_t begin = n * p / parts, end = n * (p + 1) / parts;
    if (begin < end) fn(begin, end, thread);
  });
}

}  // namespace splade
