// What every benchmark binary shares: the context it reports (SIMD target,
// threads, peak), the peak that "% of peak" refers to, and the FLOP counters.
#ifndef MHSA_BENCH_COMMON_H_
#define MHSA_BENCH_COMMON_H_

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mhsa::bench {

// The thread counts benchmarked: 1 and 2 (this machine's cores); with more
// cores, also the core count.
std::vector<int> ThreadCounts();

// Peak GFLOP/s on `threads` OpenMP threads of the SIMD target mhsa uses now
// (mhsa::ActiveTarget(), which MHSA_TARGET selects). If MHSA_PEAK_GFLOPS is
// set it is taken as one thread's peak and `threads` times it is returned;
// otherwise it is measured once per thread count with a quick FMA loop
// (machine_limits.h, about 0.1 s each).
double PeakGflops(int threads);

// Adds to the benchmark context: mhsa's active target and the others it
// could use, OpenMP's thread count, each thread count's peak and where it
// came from. Measures the peaks, so call it before RunSpecifiedBenchmarks.
void AddCommonContext();

// Reports `flops_per_iteration` as GFLOPS (a rate: GFLOP/s, over real time
// when the benchmark uses UseRealTime) and pct_peak (percent of
// PeakGflops(threads)).
void SetFlopCounters(benchmark::State& state, double flops_per_iteration, int threads);

// True when MHSA_BENCH_FULL is set to anything but "" or "0": register the
// whole grid instead of the default subset.
bool FullGrid();

// Deterministic values in [-1, 1): inputs with the magnitudes of real
// activations, the same in every run.
void FillRandom(float* data, size_t count, uint32_t seed);

// Compares 64 sampled entries of c = a·btᵀ (a: [m][k], bt: [n][k], c:
// [m][n]) with dot products in double of the operands as `value` gives them
// (as they are when null; rounded to bf16 for a bf16 product). The bound is
// k float roundings of the sum of |a||b| terms with a factor 4 of room: any
// wrong index or transposition is off by far more. "" when all hold, else
// what failed.
std::string CheckSampledProduct(const float* a, const float* bt, const float* c, size_t m, size_t n,
                                size_t k, float (*value)(float) = nullptr);

// `argv` without the entries equal to `flag`; true in *found if there was one.
// For the binaries' own flags, which benchmark::Initialize would reject.
void TakeFlag(int* argc, char** argv, const char* flag, bool* found);

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_COMMON_H_
