// The OpenMP policy, in one place.
//  - Threads: what the call asks for (RunOptions::num_threads), else every
//    thread OpenMP offers (OMP_NUM_THREADS is honoured), but only one inside
//    an active parallel region, so that a caller's own parallel loop around
//    mhsa neither oversubscribes the machine nor deadlocks.
//  - Tasks: each task runs on one thread from start to end, so results never
//    depend on how many threads share the tasks.
//  - Floating-point environment: OpenMP workers keep their own MXCSR/FPCR
//    (rounding mode, flush-to-zero), so each worker takes the caller's for
//    the duration of the call and restores its own after: every task
//    computes as the caller would on its own thread.
//  - Exceptions cannot cross an OpenMP region: the first one thrown by a task
//    is caught, the remaining tasks are skipped, and it is rethrown to the
//    caller after the region.
#ifndef MHSA_SRC_PARALLEL_H_
#define MHSA_SRC_PARALLEL_H_

#include <omp.h>

#include <algorithm>
#include <cfenv>
#include <cstddef>
#include <exception>

#include "mhsa/attention.h"

namespace mhsa {

inline int ThreadsForCall(const RunOptions& options) {
  if (omp_in_parallel()) return 1;
  return options.num_threads > 0 ? options.num_threads : std::max(1, omp_get_max_threads());
}

// Calls task(t, thread) for t in [0, tasks) on up to `threads` threads;
// `thread` in [0, threads) names the caller's scratch part. With one thread
// or one task no region is opened at all.
// Below this many multiply-adds a parallel region costs more than it saves
// (a decode step over a few hundred keys, a 64 x 64 x 32 product). The bits
// of a result never depend on it.
inline constexpr double kMinParallelWork = 1 << 17;

// `threads`, or 1 when `multiply_adds` is too little work to share.
inline int ThreadsForWork(double multiply_adds, int threads) {
  return multiply_adds < kMinParallelWork ? 1 : threads;
}

template <typename Task>
void ParallelFor(int threads, size_t tasks, const Task& task) {
  const int team = static_cast<int>(
      std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), std::max<size_t>(tasks, 1)));
  if (team == 1) {
    for (size_t t = 0; t < tasks; ++t) task(t, 0);
    return;
  }
  std::fenv_t caller_env;
  std::fegetenv(&caller_env);
  std::exception_ptr error;
  bool failed = false;
  const auto count = static_cast<long>(tasks);
#pragma omp parallel num_threads(team)
  {
    std::fenv_t own_env;
    std::fegetenv(&own_env);
    std::fesetenv(&caller_env);
    const int thread = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (long t = 0; t < count; ++t) {
      bool skip;
#pragma omp atomic read
      skip = failed;
      if (skip) continue;
      try {
        task(static_cast<size_t>(t), thread);
      } catch (...) {
#pragma omp critical(mhsa_parallel_error)
        if (!error) error = std::current_exception();
#pragma omp atomic write
        failed = true;
      }
    }
    std::fesetenv(&own_env);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mhsa

#endif  // MHSA_SRC_PARALLEL_H_
