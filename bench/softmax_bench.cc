// mhsa's causal softmax against the plain scalar loop a user would write
// (plain_softmax.h), one row of length L = 1, 4, ..., 16384: the row of the
// last query position, so all L columns are visible. Counters: GBps (the row
// read and written once: 8 L bytes per call), items_per_second (elements).
// Short rows show the per-call cost (dispatch, tails), long rows the
// throughput of the exp and the passes over the row.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

#include "common.h"
#include "hwy/aligned_allocator.h"
#include "mhsa/mhsa.h"
#include "plain_softmax.h"

#if __has_include("softmax.h")
#include "softmax.h"
#define MHSA_BENCH_HAVE_MHSA_SOFTMAX 1
#endif

namespace mhsa::bench {
namespace {

using SoftmaxFunction = void (*)(float* scores, size_t ld, size_t rows, size_t cols,
                                 ptrdiff_t first_query, float scale);

// The softmax runs in place on the same row every iteration: after the
// first, the row holds probabilities in (0, 1], which is as cheap for exp
// as fresh logits and keeps a copy out of the timed loop.
void Row(benchmark::State& state, SoftmaxFunction softmax, const char* label) {
  const size_t length = static_cast<size_t>(state.range(0));
  auto row = hwy::AllocateAligned<float>(length);
  FillRandom(row.get(), length, 3);
  for (size_t i = 0; i < length; ++i) row[i] *= 8.0f;  // Logits of a few units.
  for (auto _ : state) {
    softmax(row.get(), length, 1, length, static_cast<ptrdiff_t>(length) - 1, 0.125f);
    benchmark::ClobberMemory();
  }
  const auto calls = static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(length));
  state.counters["GBps"] = benchmark::Counter(8.0 * static_cast<double>(length) * calls * 1e-9,
                                              benchmark::Counter::kIsRate);
  state.SetLabel(label);
}

void RegisterAll() {
  struct Contender {
    const char* name;
    SoftmaxFunction function;
    const char* label;
  };
  const Contender contenders[] = {
#if defined(MHSA_BENCH_HAVE_MHSA_SOFTMAX)
    {"Softmax/mhsa", CausalSoftmaxRows, mhsa::ActiveTarget()},
#endif
    {"Softmax/plain", PlainCausalSoftmax, "scalar std::exp"},
  };
  for (const Contender& contender : contenders) {
    auto* bench = benchmark::RegisterBenchmark(
        contender.name,
        [contender](benchmark::State& state) { Row(state, contender.function, contender.label); });
    for (int64_t length = 1; length <= 16384; length *= 4) bench->Arg(length);
    bench->ArgName("L")->UseRealTime();
  }
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mhsa::bench::AddCommonContext();
  benchmark::AddCustomContext("threads", "1 (the softmax is single-threaded)");
  mhsa::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
