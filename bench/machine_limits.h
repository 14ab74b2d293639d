// The machine's limits, measured in the same run as the kernels they bound:
// FMA throughput (GFLOP/s) and streaming-read bandwidth (GB/s), each written
// with Highway and run on any SIMD target this binary compiled.
#ifndef MHSA_BENCH_MACHINE_LIMITS_H_
#define MHSA_BENCH_MACHINE_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dispatch.h"

// The entry of HWY_EXPORT(FUNC) compiled for `target`, in a file that
// exported it. HWY_DYNAMIC_DISPATCH follows Highway's process-wide choice,
// which can only be bent to a given target through
// SetSupportedTargetsForTest, and that would also change the targets mhsa's
// own dispatch (src/dispatch.cc) sees as available. Indexing the HWY_EXPORT
// table the way mhsa does (mhsa::DispatchIndex) picks any target per call
// and leaves all shared state alone.
#define MHSA_BENCH_ENTRY(FUNC, target) (*HWY_DISPATCH_TABLE(FUNC)[::mhsa::DispatchIndex(target)])

namespace mhsa::bench {

// Highway target bits that mhsa compiled and this CPU runs, best first
// (the set mhsa::AvailableTargets() names), from mhsa's own dispatch.
using ::mhsa::UsableTargets;

// The target bit of `name`, one of mhsa::AvailableTargets() ("AVX3",
// "AVX2", ...; a pseudo-target such as "AVX3_AMX" gives its SIMD target's
// bit, whose FMA peak bounds the float32 kernels), or 0.
int64_t TargetByName(const std::string& name);

// Floating-point operations per round of FmaChains on `target`: every chain
// does one multiply and one add per lane.
uint64_t FlopsPerRound(int64_t target);

// Runs the independent FMA chains for `rounds` rounds on each of `threads`
// OpenMP threads, on `target`. Returns the chains' sum (to be kept, so that
// the compiler cannot drop the work).
float RunFmaChains(int64_t target, int threads, uint64_t rounds);

// Sums data[0, count) on `threads` OpenMP threads, each over a contiguous
// share, on `target`. data must be aligned to 64 bytes (AllocateStream).
float SumStream(int64_t target, const float* data, size_t count, int threads);

// A buffer for SumStream, first touched by the threads that will read it.
struct StreamBuffer {
  float* data = nullptr;
  size_t count = 0;
};
// Allocated once per process and never freed; the size in MiB is
// MHSA_BENCH_STREAM_MIB if set, else 2048: the L3 cache here holds 480 MiB,
// and a stream that fits in it would measure the cache, not memory.
const StreamBuffer& SharedStreamBuffer();

// Peak GFLOP/s of `target` on `threads` threads: the fastest of ~2 ms
// windows of FmaChains run for about `seconds` in all.
double MeasurePeakGflops(int64_t target, int threads, double seconds);

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_MACHINE_LIMITS_H_
