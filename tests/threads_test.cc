// Forward under every threading arrangement a user can put it in: many
// std::threads on one shared layer, inside the user's own OpenMP parallel
// region (nested or not), and with different OpenMP thread counts. Each must
// reproduce, bit for bit, one serial call on one thread: the library gives
// each task (a batch element and head, or a pair of its query blocks) to
// exactly one thread, so the arithmetic and its order never depend on who
// runs it or how many run. And how a GEMM's rows and columns are shared
// into those tasks (GemmTasks).
//
// A deadlock shows up as the ctest TIMEOUT set for this binary in
// tests/CMakeLists.txt; nothing here waits without bound.
#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <cfenv>
#include <climits>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "gemm_tasks.h"
#include "helpers.h"
#include "mhsa/mhsa.h"
#include "test_data.h"

namespace mhsa {
namespace {

using test::Random;

// One call: a layer, its input and its serial output.
struct Job {
  const MultiHeadedSelfAttention* layer = nullptr;
  int batch = 0, context = 0;
  std::vector<float> x, want;
};

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Restores OpenMP's settings that a test changes, even when it fails.
class OmpSettings {
 public:
  OmpSettings() : threads_(omp_get_max_threads()), levels_(omp_get_max_active_levels()) {}
  ~OmpSettings() {
    omp_set_num_threads(threads_);
    omp_set_max_active_levels(levels_);
  }

 private:
  int threads_, levels_;
};

class ThreadsTest : public ::testing::Test {
 protected:
  // Two layers with their own per-head weights (a head computed with another
  // head's weights would show): 6 heads, so that batch x heads reaches any
  // thread count and each (batch, head) pair is one task; and 1 head, so
  // that with batch 1 the library splits one pair's query blocks among the
  // threads. Contexts cross the 48-query and 256-key blocks.
  ThreadsTest()
      : six_(test::RandomLayer(24, 48, 6, 500, 1.0f)),
        one_(test::RandomLayer(16, 8, 1, 600, 1.0f)) {
    const struct {
      const MultiHeadedSelfAttention* layer;
      int batch, context;
    } shapes[] = {{&six_, 1, 1}, {&six_, 1, 47}, {&six_, 3, 49},  {&six_, 2, 257},
                  {&one_, 1, 1}, {&one_, 1, 97}, {&one_, 1, 300}, {&one_, 2, 600}};
    OmpSettings saved;
    omp_set_num_threads(1);  // The serial reference: one thread, no region.
    uint32_t seed = 1;
    for (const auto& s : shapes) {
      Job job;
      job.layer = s.layer;
      job.batch = s.batch;
      job.context = s.context;
      job.x = Random(Count(job, s.layer->embedding_dim()), seed++);
      job.want.resize(Count(job, s.layer->attention_dim()));
      s.layer->Forward(job.x.data(), job.batch, job.context, job.want.data());
      jobs_.push_back(std::move(job));
    }
  }

  static size_t Count(const Job& job, int width) {
    return static_cast<size_t>(job.batch) * static_cast<size_t>(job.context) *
           static_cast<size_t>(width);
  }

  // Runs `job` on its shared layer into a fresh buffer.
  static std::vector<float> Run(const Job& job) {
    std::vector<float> out(Count(job, job.layer->attention_dim()));
    job.layer->Forward(job.x.data(), job.batch, job.context, out.data());
    return out;
  }

  MultiHeadedSelfAttention six_, one_;
  std::vector<Job> jobs_;
};

// Eight std::threads, each its own OpenMP initial thread with its own team,
// run every job three times in a different order on the one const layer.
TEST_F(ThreadsTest, ManyStdThreadsShareOneLayer) {
  constexpr int kThreads = 8, kRounds = 3;
  std::vector<std::vector<std::vector<float>>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &got] {
      for (int round = 0; round < kRounds; ++round) {
        for (size_t i = 0; i < jobs_.size(); ++i) {
          const size_t j = (i + static_cast<size_t>(t + round)) % jobs_.size();
          got[static_cast<size_t>(t)].push_back(Run(jobs_[j]));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    size_t k = 0;
    for (int round = 0; round < kRounds; ++round) {
      for (size_t i = 0; i < jobs_.size(); ++i, ++k) {
        const size_t j = (i + static_cast<size_t>(t + round)) % jobs_.size();
        EXPECT_TRUE(SameBits(got[static_cast<size_t>(t)][k], jobs_[j].want))
            << "thread " << t << " round " << round << " job " << j;
      }
    }
  }
}

// Forward called from every thread of the user's own parallel region. With
// nesting off (OpenMP's default, max-active-levels 1) and on (2), the
// library's policy is to run single-threaded inside an active region: no
// oversubscription, no waiting on a team that cannot form.
TEST_F(ThreadsTest, InsideUserParallelRegion) {
  OmpSettings saved;
  for (int levels : {1, 2}) {
    omp_set_max_active_levels(levels);
    // Four threads on two cores: oversubscribed on purpose.
    constexpr int kTeam = 4;
    std::vector<std::vector<std::vector<float>>> got(kTeam);
    int team_size = 0;
#pragma omp parallel num_threads(kTeam)
    {
#pragma omp single
      team_size = omp_get_num_threads();
      const auto me = static_cast<size_t>(omp_get_thread_num());
      for (const Job& job : jobs_) got[me].push_back(Run(job));
    }
    // Not a test of OpenMP: only that the region really had several threads.
    ASSERT_GT(team_size, 1) << "levels " << levels;
    for (int t = 0; t < team_size; ++t) {
      for (size_t j = 0; j < jobs_.size(); ++j) {
        EXPECT_TRUE(SameBits(got[static_cast<size_t>(t)][j], jobs_[j].want))
            << "levels " << levels << " thread " << t << " job " << j;
      }
    }
  }
}

// A work-sharing loop over jobs, the way a user batches independent
// sequences, with dynamic scheduling so threads pick jobs unpredictably.
TEST_F(ThreadsTest, InsideUserParallelFor) {
  OmpSettings saved;
  omp_set_num_threads(2);
  constexpr int kCopies = 4;
  const int total = kCopies * static_cast<int>(jobs_.size());
  std::vector<std::vector<float>> got(static_cast<size_t>(total));
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < total; ++i) {
    got[static_cast<size_t>(i)] = Run(jobs_[static_cast<size_t>(i) % jobs_.size()]);
  }
  for (int i = 0; i < total; ++i) {
    EXPECT_TRUE(
        SameBits(got[static_cast<size_t>(i)], jobs_[static_cast<size_t>(i) % jobs_.size()].want))
        << "call " << i;
  }
}

// An inactive region (one thread) is not "inside parallel" for OpenMP: the
// library may start its own team there, nested when levels allow it.
TEST_F(ThreadsTest, InsideInactiveRegion) {
  OmpSettings saved;
  for (int levels : {1, 2}) {
    omp_set_max_active_levels(levels);
    omp_set_num_threads(2);
    std::vector<std::vector<float>> got;
#pragma omp parallel num_threads(1)
    {
      for (const Job& job : jobs_) got.push_back(Run(job));
    }
    for (size_t j = 0; j < jobs_.size(); ++j) {
      EXPECT_TRUE(SameBits(got[j], jobs_[j].want)) << "levels " << levels << " job " << j;
    }
  }
}

// 1, 2 and 3 OpenMP threads (3 > cores, and not a divisor of the task
// counts) give the same bits as each other and as the serial reference.
TEST_F(ThreadsTest, ThreadCountDoesNotChangeBits) {
  OmpSettings saved;
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    ASSERT_EQ(omp_get_max_threads(), threads);
    for (size_t j = 0; j < jobs_.size(); ++j) {
      EXPECT_TRUE(SameBits(Run(jobs_[j]), jobs_[j].want))
          << threads << " threads, job " << j << " (B=" << jobs_[j].batch
          << " T=" << jobs_[j].context << ")";
    }
  }
}

// std::threads and OpenMP together: two std::threads, each opening its own
// parallel region that calls Forward. Three layers of threading, one answer.
TEST_F(ThreadsTest, StdThreadsEachWithParallelRegion) {
  static constexpr int kThreads = 2, kTeam = 2;  // static: no lambda capture
  std::vector<std::vector<std::vector<float>>> got(kThreads * kTeam);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &got] {
#pragma omp parallel num_threads(kTeam)
      {
        const auto slot = static_cast<size_t>(t * kTeam + omp_get_thread_num());
        for (const Job& job : jobs_) got[slot].push_back(Run(job));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  size_t filled = 0;
  for (size_t slot = 0; slot < got.size(); ++slot) {
    if (got[slot].empty()) continue;  // A team smaller than asked for.
    ++filled;
    for (size_t j = 0; j < jobs_.size(); ++j) {
      EXPECT_TRUE(SameBits(got[slot][j], jobs_[j].want)) << "slot " << slot << " job " << j;
    }
  }
  EXPECT_GE(filled, static_cast<size_t>(kThreads));
}

// RunOptions::num_threads sets one call's threads without touching OpenMP's
// settings, and gives the serial bits.
TEST_F(ThreadsTest, ThreadsPerCall) {
  OmpSettings saved;
  omp_set_num_threads(1);
  for (int threads : {2, 3}) {
    RunOptions options;
    options.num_threads = threads;
    for (const Job& job : jobs_) {
      std::vector<float> out(job.want.size());
      job.layer->Forward(job.x.data(), job.batch, job.context, out.data(), options);
      EXPECT_TRUE(SameBits(out, job.want)) << threads << " threads";
    }
  }
  EXPECT_EQ(omp_get_max_threads(), 1);
}

// The caller's floating-point environment (here: rounding upward, the
// environment a workload might set and forget) reaches every worker for the
// duration of the call, so 1, 2 and 3 threads still agree bit for bit; and
// OpenMP's workers get their own environment back afterwards (a later call
// in the default environment gives the serial bits again).
TEST_F(ThreadsTest, CallersRoundingModeReachesEveryThread) {
  OmpSettings saved;
  std::vector<std::vector<float>> upward;
  ASSERT_EQ(std::fesetround(FE_UPWARD), 0);
  for (int threads : {1, 2, 3}) {
    RunOptions options;
    options.num_threads = threads;
    for (size_t j = 0; j < jobs_.size(); ++j) {
      std::vector<float> out(jobs_[j].want.size());
      jobs_[j].layer->Forward(jobs_[j].x.data(), jobs_[j].batch, jobs_[j].context, out.data(),
                              options);
      if (threads == 1) {
        upward.push_back(out);
      } else {
        EXPECT_TRUE(SameBits(out, upward[j])) << threads << " threads, job " << j;
      }
    }
  }
  EXPECT_EQ(std::fegetround(), FE_UPWARD) << "the caller's mode is the caller's";
  std::fesetround(FE_TONEAREST);
  // Rounding upward changes the result, or this test could not fail.
  EXPECT_FALSE(SameBits(upward.back(), jobs_.back().want));
  omp_set_num_threads(2);
  for (const Job& job : jobs_) EXPECT_TRUE(SameBits(Run(job), job.want)) << "workers restored";
}

// A thread with a small stack can call Forward: no kernel keeps large
// buffers on the stack (the README states the minimum tested here).
TEST_F(ThreadsTest, SmallStack) {
#if defined(__SANITIZE_ADDRESS__)
  constexpr size_t kStack = 512 << 10;  // ASan's redzones grow every frame.
#else
  constexpr size_t kStack = 64 << 10;
#endif
  struct Arguments {
    const std::vector<Job>* jobs;
    bool all_equal = true;
  } arguments{&jobs_};
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  // The platform's least stack where it is more (128 KiB on AArch64 Linux).
  ASSERT_EQ(
      pthread_attr_setstacksize(&attr, std::max(kStack, static_cast<size_t>(PTHREAD_STACK_MIN))),
      0);
  pthread_t thread;
  const auto body = [](void* raw) -> void* {
    auto* args = static_cast<Arguments*>(raw);
    RunOptions serial;
    serial.num_threads = 1;  // Everything on this thread's stack.
    for (const Job& job : *args->jobs) {
      std::vector<float> out(job.want.size());
      job.layer->Forward(job.x.data(), job.batch, job.context, out.data(), serial);
      args->all_equal = args->all_equal && SameBits(out, job.want);
    }
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, body, &arguments), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attr);
  EXPECT_TRUE(arguments.all_equal);
}

// How a product is shared (GemmTasks): every element of C in exactly one
// task, row blocks starting on whole quanta, and, since threads take the
// tasks in order as they free up, the larger row blocks first (no block
// larger than one before it), so that the last tasks the threads take are
// the shortest.
void ExpectCoverOnceLargestBlocksFirst(size_t m, size_t n, int threads, size_t max_cols,
                                       size_t chunk) {
  const size_t kQuantum = 12, kPanelWidth = 32;
  const GemmTasks tasks(m, n, kPanelWidth, threads, kQuantum, max_cols, chunk);
  SCOPED_TRACE("m " + std::to_string(m) + " n " + std::to_string(n) + " threads " +
               std::to_string(threads) + " max_cols " + std::to_string(max_cols) + " chunk " +
               std::to_string(chunk));
  std::vector<int> covered(m * n, 0);
  size_t previous_quanta = SIZE_MAX;
  for (size_t t = 0; t < tasks.count(); ++t) {
    const size_t row = tasks.row(t), rows = tasks.rows(t);
    ASSERT_EQ(row % kQuantum, 0u);
    ASSERT_LE(rows, kMC);
    ASSERT_LE(row + rows, m);
    // Quanta of each row block in the order the tasks reach them (again
    // from the chunk's first row for each column part); the last block's
    // partial quantum counts as one.
    if (t == 0 || row != tasks.row(t - 1)) {
      if (t == 0 || row < tasks.row(t - 1)) previous_quanta = SIZE_MAX;
      const size_t quanta = (rows + kQuantum - 1) / kQuantum;
      EXPECT_LE(quanta, previous_quanta) << "task " << t;
      previous_quanta = quanta;
    }
    for (size_t i = row; i < row + rows; ++i) {
      for (size_t j = tasks.col(t); j < tasks.col(t) + tasks.cols(t); ++j) ++covered[i * n + j];
    }
  }
  EXPECT_EQ(std::count(covered.begin(), covered.end(), 1), static_cast<ptrdiff_t>(covered.size()));
}

TEST(GemmTasksTest, CoverCOnceLargestBlocksFirst) {
  for (const size_t m : std::initializer_list<size_t>{1, 11, 12, 13, 100, 1024, 4096}) {
    for (const size_t n : std::initializer_list<size_t>{1, 64, 300, 1000}) {
      for (int threads : {1, 2, 3, 8}) {
        for (const size_t max_cols : {size_t{0}, size_t{256}}) {
          for (const size_t chunk : {size_t{0}, size_t{1}, size_t{3}}) {
            ASSERT_NO_FATAL_FAILURE(
                ExpectCoverOnceLargestBlocksFirst(m, n, threads, max_cols, chunk));
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace mhsa
