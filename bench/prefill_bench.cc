// The kernel-level Attention in prefill (q_len = kv_len = T, causal), on the
// caller's own tensors: what an inference engine that projects q, k and v
// itself calls for a prompt. In one binary:
//   Prefill/attention       float32 tensors;
//   Prefill/attention_bf16  bf16 tensors (half the bytes; bf16 products,
//                           float32 softmax and sums; its label names the
//                           bf16 kernel, e.g. AVX3_BF16: MHSA_TARGET=AVX3
//                           turns the bf16 instructions off).
// Shapes: B=1 with H query heads sharing Hkv K/V heads of D dims, q and out
// [B][T][H][D], k and v [B][Hkv][T][D] (a KV cache's layout). Names read
// Prefill/<contender>/T:/H:/Hkv:/D:/threads:. Counters:
//   GFLOPS    2·H·T²·D per call (q·kᵀ and p·v, the causal half of each,
//             counted once, as attention_bench counts the layer's), over
//             real time;
//   pct_peak  percent of the FMA peak for that thread count (common.h).
// Before anything is timed, both contenders compute a small case (T=37,
// H=4 over Hkv=2, D=16) that is compared with the double-precision
// reference; one that disagrees is reported with an error instead of a
// speed.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bf16.h"
#include "common.h"
#include "dispatch.h"
#include "mhsa/mhsa.h"
#include "reference.h"

namespace mhsa::bench {
namespace {

struct Shape {
  int context, heads, kv_heads, dim;
  size_t QueryFloats() const {
    return static_cast<size_t>(context) * static_cast<size_t>(heads) * static_cast<size_t>(dim);
  }
  size_t KeyFloats() const {
    return static_cast<size_t>(context) * static_cast<size_t>(kv_heads) * static_cast<size_t>(dim);
  }
  AttentionShape Attention() const {
    AttentionShape shape;
    shape.batch = 1;
    shape.num_heads = heads;
    shape.num_kv_heads = kv_heads;
    shape.head_dim = dim;
    shape.q_len = context;
    shape.kv_len = context;
    return shape;
  }
  Strides Queries() const { return StridesBTHD(context, heads, dim); }
  Strides Keys() const { return StridesBHTD(context, kv_heads, dim); }
};

// q, k, v of a shape, as float32 and as bf16 (the float values rounded).
struct Inputs {
  std::vector<float> q, k, v;
  std::vector<uint16_t> q16, k16, v16;
  explicit Inputs(const Shape& s) : q(s.QueryFloats()), k(s.KeyFloats()), v(s.KeyFloats()) {
    FillRandom(q.data(), q.size(), 21);
    FillRandom(k.data(), k.size(), 22);
    FillRandom(v.data(), v.size(), 23);
    for (auto [from, to] : {std::pair{&q, &q16}, std::pair{&k, &k16}, std::pair{&v, &v16}}) {
      to->resize(from->size());
      FloatToBf16(from->data(), to->data(), from->size());
    }
  }
  void Run(const Shape& s, bool bf16, float* out, const AttentionOptions& options) const {
    const auto as_bf16 = [](const std::vector<uint16_t>& h) {
      return reinterpret_cast<const mhsa::bf16*>(h.data());
    };
    if (bf16) {
      mhsa::Attention(s.Attention(), as_bf16(q16), s.Queries(), as_bf16(k16), s.Keys(),
                      as_bf16(v16), s.Keys(), out, s.Queries(), options);
    } else {
      mhsa::Attention(s.Attention(), q.data(), s.Queries(), k.data(), s.Keys(), v.data(), s.Keys(),
                      out, s.Queries(), options);
    }
  }
};

std::string& Failure(bool bf16) {
  static std::string failures[2];
  return failures[bf16 ? 1 : 0];
}

// Both contenders on a small GQA case against ref::Attention<double> of the
// float inputs: float32 within 1e-4 (outputs of order 0.1 to 1; float
// rounding over 37 keys stays near 1e-6), bf16 by the project's bf16 rule
// (at most twice the error of ref::AttentionBf16, plus one float epsilon of
// the largest output).
void CheckBoth() {
  const Shape s{37, 4, 2, 16};
  const Inputs in(s);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.dim));
  std::vector<double> expected(s.QueryFloats());
  ref::Attention<double>(s.Attention(), in.q.data(), s.Queries(), in.k.data(), s.Keys(),
                         in.v.data(), s.Keys(), expected.data(), s.Queries(), true, scale, nullptr,
                         nullptr, nullptr, nullptr);
  std::vector<float> plain_bf16(expected.size());
  ref::AttentionBf16(s.Attention(), in.q.data(), s.Queries(), in.k.data(), s.Keys(), in.v.data(),
                     s.Keys(), plain_bf16.data(), s.Queries(), true, scale, nullptr, nullptr,
                     nullptr, nullptr);
  double bf16_bound = 0.0, magnitude = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    bf16_bound = std::max(bf16_bound, std::fabs(double{plain_bf16[i]} - expected[i]));
    magnitude = std::max(magnitude, std::fabs(expected[i]));
  }
  bf16_bound = 2 * bf16_bound + magnitude * 0x1p-23;
  for (bool bf16 : {false, true}) {
    std::vector<float> out(expected.size(), NAN);
    AttentionOptions options;
    options.run.num_threads = 2;
    in.Run(s, bf16, out.data(), options);
    double error = 0.0;
    for (size_t i = 0; i < out.size(); ++i) {
      const double difference = std::fabs(double{out[i]} - expected[i]);
      error = std::isnan(difference) ? INFINITY : std::max(error, difference);
    }
    const double bound = bf16 ? bf16_bound : 1e-4;
    char text[128];
    std::snprintf(text, sizeof(text), "max abs error %.2e vs the double reference (bound %.2e)",
                  error, bound);
    benchmark::AddCustomContext(bf16 ? "check_attention_bf16" : "check_attention", text);
    if (!(error <= bound)) Failure(bf16) = std::string("check failed: ") + text;
  }
}

void Run(benchmark::State& state, bool bf16) {
  if (!Failure(bf16).empty()) {
    state.SkipWithError(Failure(bf16).c_str());
    return;
  }
  const Shape s{static_cast<int>(state.range(0)), static_cast<int>(state.range(1)),
                static_cast<int>(state.range(2)), static_cast<int>(state.range(3))};
  const int threads = static_cast<int>(state.range(4));
  const Inputs in(s);
  std::vector<float> out(s.QueryFloats());  // Zeroed, so touched now, not in the loop.
  AttentionOptions options;
  options.run.num_threads = threads;
  for (auto _ : state) {
    in.Run(s, bf16, out.data(), options);
    benchmark::ClobberMemory();
  }
  const double t = s.context;
  SetFlopCounters(state, 2.0 * s.heads * t * t * s.dim, threads);
  state.SetLabel(bf16 ? mhsa::ActiveTarget() : hwy::TargetName(ChosenTarget()));
}

// Multi-head attention of the layer's heads (H=8, D=64) over T, and a
// grouped-query shape of current models (32 query heads over 8 K/V heads
// of 128) at T=1024.
void RegisterAll() {
  const int shapes[][4] = {{128, 8, 8, 64}, {1024, 8, 8, 64}, {4096, 8, 8, 64}, {1024, 32, 8, 128}};
  for (bool bf16 : {false, true}) {
    auto* bench =
        benchmark::RegisterBenchmark(bf16 ? "Prefill/attention_bf16" : "Prefill/attention",
                                     [bf16](benchmark::State& state) { Run(state, bf16); });
    for (const auto& shape : shapes) {
      for (int threads : ThreadCounts()) {
        bench->Args({shape[0], shape[1], shape[2], shape[3], threads});
      }
    }
    bench->ArgNames({"T", "H", "Hkv", "D", "threads"})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mhsa::bench::AddCommonContext();
  mhsa::bench::CheckBoth();
  mhsa::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
