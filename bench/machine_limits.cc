// The FMA-throughput and streaming-read kernels behind machine_limits.h,
// compiled once per SIMD target through foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "machine_limits.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Independent multiply-add chains. An FMA has 4 cycles of latency and two
// ports issue one each per cycle, so at least 8 chains must be in flight;
// 12 leave slack, and with the two constants fit the 16 vector registers of
// AVX2 and SSE4 (AVX-512 has 32), so nothing spills. The chains start from
// different values so that the compiler cannot merge identical ones, and
// x -> 0.999999 x + 1e-6 stays near 1: no overflow, no denormals.
constexpr size_t kChains = 12;

size_t ChainsLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

float FmaChains(uint64_t rounds) {
  const hn::ScalableTag<float> d;
  const auto mul = hn::Set(d, 0.999999f);
  const auto add = hn::Set(d, 1e-6f);
  auto c0 = hn::Set(d, 0.0f), c1 = hn::Set(d, 0.1f), c2 = hn::Set(d, 0.2f);
  auto c3 = hn::Set(d, 0.3f), c4 = hn::Set(d, 0.4f), c5 = hn::Set(d, 0.5f);
  auto c6 = hn::Set(d, 0.6f), c7 = hn::Set(d, 0.7f), c8 = hn::Set(d, 0.8f);
  auto c9 = hn::Set(d, 0.9f), c10 = hn::Set(d, 1.1f), c11 = hn::Set(d, 1.2f);
  for (uint64_t r = 0; r < rounds; ++r) {
    c0 = hn::MulAdd(c0, mul, add);
    c1 = hn::MulAdd(c1, mul, add);
    c2 = hn::MulAdd(c2, mul, add);
    c3 = hn::MulAdd(c3, mul, add);
    c4 = hn::MulAdd(c4, mul, add);
    c5 = hn::MulAdd(c5, mul, add);
    c6 = hn::MulAdd(c6, mul, add);
    c7 = hn::MulAdd(c7, mul, add);
    c8 = hn::MulAdd(c8, mul, add);
    c9 = hn::MulAdd(c9, mul, add);
    c10 = hn::MulAdd(c10, mul, add);
    c11 = hn::MulAdd(c11, mul, add);
  }
  const auto sum = hn::Add(
      hn::Add(hn::Add(hn::Add(c0, c1), hn::Add(c2, c3)), hn::Add(hn::Add(c4, c5), hn::Add(c6, c7))),
      hn::Add(hn::Add(c8, c9), hn::Add(c10, c11)));
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

// Sum of data[0, count), data aligned. Eight accumulators keep the adds off
// the critical path (two loads a cycle times 4 cycles of add latency), so
// that the loads alone set the pace; from DRAM, memory does.
float SumRange(const float* HWY_RESTRICT data, size_t count) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  auto s4 = hn::Zero(d), s5 = hn::Zero(d), s6 = hn::Zero(d), s7 = hn::Zero(d);
  size_t i = 0;
  for (; i + 8 * N <= count; i += 8 * N) {
    s0 = hn::Add(s0, hn::Load(d, data + i));
    s1 = hn::Add(s1, hn::Load(d, data + i + N));
    s2 = hn::Add(s2, hn::Load(d, data + i + 2 * N));
    s3 = hn::Add(s3, hn::Load(d, data + i + 3 * N));
    s4 = hn::Add(s4, hn::Load(d, data + i + 4 * N));
    s5 = hn::Add(s5, hn::Load(d, data + i + 5 * N));
    s6 = hn::Add(s6, hn::Load(d, data + i + 6 * N));
    s7 = hn::Add(s7, hn::Load(d, data + i + 7 * N));
  }
  const auto sum =
      hn::Add(hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)), hn::Add(hn::Add(s4, s5), hn::Add(s6, s7)));
  float total = hn::GetLane(hn::SumOfLanes(d, sum));
  for (; i < count; ++i) total += data[i];
  return total;
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "dispatch.h"
#include "hwy/aligned_allocator.h"
#include "machine_limits.h"

namespace mhsa::bench {

HWY_EXPORT(ChainsLanes);
HWY_EXPORT(FmaChains);
HWY_EXPORT(SumRange);

int64_t TargetByName(const std::string& name) {
  for (const NamedTarget& named : NamedTargets()) {
    if (name == named.name) return named.target;
  }
  return 0;
}

uint64_t FlopsPerRound(int64_t target) {
  return 2 * HWY_NAMESPACE::kChains * MHSA_BENCH_ENTRY(ChainsLanes, target)();
}

float RunFmaChains(int64_t target, int threads, uint64_t rounds) {
  const auto chains = &MHSA_BENCH_ENTRY(FmaChains, target);
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  total += chains(rounds);
  return total;
}

float SumStream(int64_t target, const float* data, size_t count, int threads) {
  const auto sum_range = &MHSA_BENCH_ENTRY(SumRange, target);
  // Shares are multiples of 64 floats (256 bytes) so that every share
  // starts aligned.
  const size_t share = (count / static_cast<size_t>(threads) + 63) / 64 * 64;
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    const size_t begin = std::min(count, static_cast<size_t>(omp_get_thread_num()) * share);
    const size_t end = std::min(count, begin + share);
    total += sum_range(data + begin, end - begin);
  }
  return total;
}

const StreamBuffer& SharedStreamBuffer() {
  static const StreamBuffer buffer = [] {
    size_t mib = 2048;
    if (const char* env = std::getenv("MHSA_BENCH_STREAM_MIB"); env && *env) {
      mib = std::max<size_t>(1, std::strtoull(env, nullptr, 10));
    }
    StreamBuffer b;
    b.count = mib * (size_t{1} << 20) / sizeof(float);
    // Deliberately leaked: the buffer lives as long as the process.
    b.data = hwy::AllocateAligned<float>(b.count).release();
    // First touch by the threads that read it later (the same shares as
    // SumStream with all threads), and values that keep the sum finite.
    const int threads = omp_get_max_threads();
    const size_t share = (b.count / static_cast<size_t>(threads) + 63) / 64 * 64;
#pragma omp parallel num_threads(threads)
    {
      const size_t begin = std::min(b.count, static_cast<size_t>(omp_get_thread_num()) * share);
      const size_t end = std::min(b.count, begin + share);
      std::fill(b.data + begin, b.data + end, 1.0f / 1024);
    }
    return b;
  }();
  return buffer;
}

double MeasurePeakGflops(int64_t target, int threads, double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto time = [&](uint64_t rounds) {
    const auto start = Clock::now();
    volatile float sink = RunFmaChains(target, threads, rounds);
    (void)sink;
    return std::chrono::duration<double>(Clock::now() - start).count();
  };
  // Calibrate on a short run (it also wakes the threads and the vector
  // units), then take the best of many ~2 ms windows: on a shared machine a
  // short window is more likely to pass without being preempted than a long
  // one, and the fastest window is the machine's, not the neighbours'.
  const uint64_t probe = 1 << 14;
  double probe_time = 1e30;
  for (int i = 0; i < 3; ++i) probe_time = std::min(probe_time, time(probe));
  probe_time = std::max(probe_time, 1e-7);
  const double window = 2e-3;
  const uint64_t rounds = std::max<uint64_t>(
      probe, static_cast<uint64_t>(static_cast<double>(probe) * window / probe_time));
  const int tries = std::max(5, static_cast<int>(seconds / window));
  double best = 1e30;
  for (int i = 0; i < tries; ++i) best = std::min(best, time(rounds));
  const double flops =
      static_cast<double>(FlopsPerRound(target)) * static_cast<double>(rounds) * threads;
  return flops / best * 1e-9;
}

}  // namespace mhsa::bench
#endif  // HWY_ONCE
