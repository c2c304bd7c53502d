// One persistent pool of native threads shared by every kernel. Sized once from `threads` /
// SPLADE_THREADS / the cores available, resizable with set_num_threads. The thread that calls
// parallel_for works too, so a pool of N threads keeps N-1 workers. Calls from several AsyncWorkers
// at once take turns (one parallel region at a time); a call from inside a parallel region runs
// serially on the calling thread, so nesting never deadlocks.
#pragma once
#include <cstddef>
#include <functional>

namespace splade {

// fn(task, thread): task in [0, num_tasks), thread in [0, num_threads()) names the executing thread
// (stable within one region: use it to index per-thread scratch).
using TaskFn = std::function<void(size_t task, int thread)>;

int num_threads();
void set_num_threads(int n);  // n <= 0: the default (SPLADE_THREADS or the cores available)
void parallel_for(size_t num_tasks, const TaskFn& fn);

// Splits [0, n) into at most num_threads() contiguous ranges: fn(begin, end, thread).
void parallel_range(size_t n, const std::function<void(size_t begin, size_t end, int thread)>& fn);

}  // namespace splade
