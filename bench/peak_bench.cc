// The limits the kernels are judged against, measured in the same run:
//   FmaPeak/<target>/threads:N  independent FMA chains on each SIMD target
//                               (GFLOPS): the compute ceiling;
//   StreamRead/threads:N        summing a buffer several times the L3 cache
//                               (GBps): the memory ceiling;
//   TileCeiling/<target>/k:K/threads:N
//                               the float32 GEMM's register tile with its
//                               operands in cache, K steps per tile (64: a
//                               q·kᵀ score tile at head_dim 64; 512: a
//                               projection's k-block) (GFLOPS, and pct_peak
//                               of that target's FMA peak measured right
//                               after): the ceiling of mhsa's kernels;
//   ScoreCeiling/<target>/dim:64/threads:N
//                               the flash attention's score block (48 queries
//                               x 256 keys: q·kᵀ tiles with their softmax in
//                               registers) in cache, GFLOPS of its products
//                               and pct_peak as above.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common.h"
#include "hwy/targets.h"
#include "machine_limits.h"
#include "tile_ceiling.h"

namespace mhsa::bench {
namespace {

// 2^20 rounds: a few milliseconds per iteration on any target, long enough
// that waking the OpenMP team is noise.
constexpr uint64_t kRounds = uint64_t{1} << 20;

void FmaPeak(benchmark::State& state, int64_t target) {
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(RunFmaChains(target, threads, kRounds));
  }
  const double gflop = static_cast<double>(FlopsPerRound(target)) * kRounds * threads *
                       static_cast<double>(state.iterations()) * 1e-9;
  state.counters["GFLOPS"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  state.SetLabel(hwy::TargetName(target));
}

// A kernel's ceiling: run(rounds) on `threads` threads per iteration, each
// round `flops` floating-point operations per thread; rounds are as many
// as make FmaPeak's FLOPs (a few milliseconds). Reports GFLOPS and pct_peak
// against the target's FMA peak measured right after, outside the timed
// loop: the machine's speed drifts, so only the same moment's peak makes a
// fair ratio.
template <class Run>
void Ceiling(benchmark::State& state, int64_t target, int threads, uint64_t flops, const Run& run) {
  const uint64_t rounds = std::max<uint64_t>(1, FlopsPerRound(target) * kRounds / flops);
  for (auto _ : state) {
    benchmark::DoNotOptimize(run(rounds));
  }
  const double gflop = static_cast<double>(flops) * static_cast<double>(rounds) * threads *
                       static_cast<double>(state.iterations()) * 1e-9;
  state.counters["GFLOPS"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  const double peak = MeasurePeakGflops(target, threads, 0.05);
  state.counters["pct_peak"] =
      benchmark::Counter(100.0 * gflop / peak, benchmark::Counter::kIsRate);
  state.SetLabel(hwy::TargetName(target));
}

void TileCeiling(benchmark::State& state, int64_t target) {
  const auto k = static_cast<size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  Ceiling(state, target, threads, TileFlops(target, k),
          [&](uint64_t rounds) { return RunTiles(target, threads, k, rounds); });
}

void ScoreCeiling(benchmark::State& state, int64_t target) {
  const auto dim = static_cast<size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  Ceiling(state, target, threads, ScoreFlops(dim),
          [&](uint64_t rounds) { return RunScores(target, threads, dim, rounds); });
}

void StreamRead(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const StreamBuffer& buffer = SharedStreamBuffer();
  // Vector width does not matter when memory sets the pace; the best
  // target keeps the loads few.
  const int64_t target = UsableTargets().front();
  for (auto _ : state) {
    benchmark::DoNotOptimize(SumStream(target, buffer.data, buffer.count, threads));
  }
  const double bytes =
      static_cast<double>(buffer.count * sizeof(float)) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["GBps"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsRate);
  state.counters["buffer_MiB"] = static_cast<double>(buffer.count * sizeof(float)) / (1 << 20);
}

void RegisterAll() {
  for (int64_t target : UsableTargets()) {
    const std::string name = std::string("FmaPeak/") + hwy::TargetName(target);
    auto* bench = benchmark::RegisterBenchmark(
        name.c_str(), [target](benchmark::State& state) { FmaPeak(state, target); });
    for (int threads : ThreadCounts()) bench->Arg(threads);
    bench->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  for (int64_t target : UsableTargets()) {
    const std::string name = std::string("TileCeiling/") + hwy::TargetName(target);
    auto* bench = benchmark::RegisterBenchmark(
        name.c_str(), [target](benchmark::State& state) { TileCeiling(state, target); });
    for (int64_t k : {64, 512}) {
      for (int threads : ThreadCounts()) bench->Args({k, threads});
    }
    bench->ArgNames({"k", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  for (int64_t target : UsableTargets()) {
    const std::string name = std::string("ScoreCeiling/") + hwy::TargetName(target);
    auto* bench = benchmark::RegisterBenchmark(
        name.c_str(), [target](benchmark::State& state) { ScoreCeiling(state, target); });
    for (int threads : ThreadCounts()) bench->Args({64, threads});
    bench->ArgNames({"dim", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  auto* stream = benchmark::RegisterBenchmark("StreamRead", StreamRead);
  for (int threads : ThreadCounts()) stream->Arg(threads);
  stream->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mhsa::bench::AddCommonContext();
  benchmark::AddCustomContext("stream_note",
                              "StreamRead sums a buffer of MHSA_BENCH_STREAM_MIB "
                              "(default 2048) MiB, meant to be several times the L3 "
                              "cache listed in this context");
  mhsa::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
