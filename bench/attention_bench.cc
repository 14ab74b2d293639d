// The whole layer, out = MultiHeadedSelfAttention(x), against other ways to
// compute it, in one binary:
//   mhsa       mhsa::MultiHeadedSelfAttention::Forward (the public API);
//   mhsa_bf16  the same layer in Precision::kBFloat16 (bf16 weights and
//              products, float32 sums; its label names the bf16 kernel,
//              e.g. AVX3_AMX: MHSA_TARGET=AVX3 turns the bf16 instructions
//              off);
//   reference  mhsa::ref::Forward<float>, the plain scalar spec (small sizes,
//              one thread);
//   openblas, blis, onednn, eigen
//              the layer composed from that library's sgemm and a plain
//              softmax (composed_layer.h), as a user would write it.
// Names read Attention/<contender>/B:/T:/E:/H:/threads: with E = A (the
// attention dim) and head_dim = E / H. Counters:
//   GFLOPS    2·B·T·E·3A (projection) + 2·B·T²·A (q·kᵀ and p·v, the causal
//             half of each, so counted once) per call, over real time;
//   pct_peak  percent of the FMA peak for that thread count (common.h);
//   peak_MiB  resident memory the call adds at its peak beyond its inputs
//             and outputs (peak_memory.h says how it is measured);
//   held_MiB  resident memory the contender holds once built: its weights
//             (mhsa: as given and packed; bf16 halves both).
// By default a subset that runs in a few minutes on 2 cores is registered;
// MHSA_BENCH_FULL=1 or --full registers the whole grid: B in {1, 2, 8},
// T in {16, 128, 512, 1024, 4096, 16384}, (E, H) in {(512, 8), (768, 12)},
// threads in {1, 2}. --list_targets prints mhsa's SIMD targets and exits.
//
// Before anything is timed, every contender computes a small case that is
// compared with the double-precision reference; one that disagrees is
// reported with an error instead of a speed.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "composed_layer.h"
#include "dispatch.h"
#include "mhsa/mhsa.h"
#include "peak_memory.h"
#include "peers.h"
#include "reference.h"

namespace mhsa::bench {
namespace {

struct Shape {
  size_t batch, context, embedding, heads;  // attention_dim = embedding.
  int threads;
  size_t head_dim() const { return embedding / heads; }
};

double LayerFlops(const Shape& s) {
  const auto b = static_cast<double>(s.batch), t = static_cast<double>(s.context),
             e = static_cast<double>(s.embedding);
  return 2 * b * t * e * 3 * e + 2 * b * t * t * e;
}

// The scalar reference runs only up to this many FLOPs per call (about half
// a second each at its speed): B=1, T=128 with E=768 is the largest default.
constexpr double kReferenceMaxFlops = 5e8;

// One way to compute the layer, built for one (embedding, heads) with the
// weights it is given.
class Contender {
 public:
  virtual ~Contender() = default;
  // x: [batch][context][embedding]; out: [batch][context][embedding].
  virtual void Forward(const float* x, size_t batch, size_t context, float* out, int threads) = 0;
};

// weights: [heads][3][head_dim][embedding], query, key, value: the layout of
// ref::Forward, and of SetHeadWeights per head.
using Weights = std::vector<float>;

class MhsaContender : public Contender {
 public:
  MhsaContender(const Weights& w, size_t embedding, size_t heads, Precision precision)
      : layer_(static_cast<int>(embedding), static_cast<int>(embedding), static_cast<int>(heads),
               precision) {
    const size_t block = embedding / heads * embedding;
    for (size_t h = 0; h < heads; ++h) {
      const float* head = w.data() + h * 3 * block;
      layer_.SetHeadWeights(static_cast<int>(h), head, head + block, head + 2 * block);
    }
  }
  void Forward(const float* x, size_t batch, size_t context, float* out,
               int /*threads: omp_set_num_threads decides*/) override {
    layer_.Forward(x, static_cast<int>(batch), static_cast<int>(context), out);
  }

 protected:
  MultiHeadedSelfAttention layer_;
};

// The same layer as a prefill through the KV cache API: Forward into an
// emptied cache, which also stores k and v ([batch][head][position][dim]).
// Its speed against mhsa's is what a prefill costs through the new API.
class MhsaCachedContender : public MhsaContender {
 public:
  using MhsaContender::MhsaContender;
  void Forward(const float* x, size_t batch, size_t context, float* out, int) override {
    if (!cache_ || cache_->batch() != static_cast<int>(batch) ||
        cache_->capacity() != static_cast<int>(context)) {
      cache_ =
          std::make_unique<KVCache>(layer_, static_cast<int>(batch), static_cast<int>(context));
    }
    cache_->Clear();
    layer_.Forward(x, static_cast<int>(batch), static_cast<int>(context), out, *cache_);
  }

 private:
  std::unique_ptr<KVCache> cache_;
};

class ReferenceContender : public Contender {
 public:
  ReferenceContender(const Weights& w, size_t embedding, size_t heads)
      : weights_(w), embedding_(embedding), heads_(heads) {}
  void Forward(const float* x, size_t batch, size_t context, float* out,
               int /*threads: single-threaded*/) override {
    ref::Forward<float>(x, batch, context, embedding_, weights_.data(), heads_, embedding_ / heads_,
                        out);
  }

 private:
  Weights weights_;
  size_t embedding_, heads_;
};

class ComposedContender : public Contender {
 public:
  ComposedContender(const Peer& peer, const Weights& w, size_t embedding, size_t heads)
      : layer_(peer, Stack(w, embedding, heads), embedding, embedding, heads) {}
  void Forward(const float* x, size_t batch, size_t context, float* out, int threads) override {
    layer_.Forward(x, batch, context, out, threads);
  }

 private:
  // [heads][3][head_dim][embedding] -> [3][heads * head_dim][embedding].
  static std::vector<float> Stack(const Weights& w, size_t embedding, size_t heads) {
    const size_t block = embedding / heads * embedding;
    std::vector<float> stacked(w.size());
    for (size_t h = 0; h < heads; ++h) {
      for (size_t p = 0; p < 3; ++p) {
        std::copy_n(w.data() + (h * 3 + p) * block, block,
                    stacked.data() + (p * heads + h) * block);
      }
    }
    return stacked;
  }
  ComposedLayer layer_;
};

enum class Kind { kMhsa, kMhsaCached, kMhsaBf16, kReference, kPeer };

bool IsMhsa(Kind kind) {
  return kind == Kind::kMhsa || kind == Kind::kMhsaCached || kind == Kind::kMhsaBf16;
}

struct Entry {
  std::string name;
  Kind kind;
  const Peer* peer;  // For kPeer.
  std::unique_ptr<Contender> Make(const Weights& w, size_t embedding, size_t heads) const {
    switch (kind) {
      case Kind::kMhsa:
        return std::make_unique<MhsaContender>(w, embedding, heads, Precision::kFloat32);
      case Kind::kMhsaCached:
        return std::make_unique<MhsaCachedContender>(w, embedding, heads, Precision::kFloat32);
      case Kind::kMhsaBf16:
        return std::make_unique<MhsaContender>(w, embedding, heads, Precision::kBFloat16);
      case Kind::kReference:
        return std::make_unique<ReferenceContender>(w, embedding, heads);
      case Kind::kPeer:
        return std::make_unique<ComposedContender>(*peer, w, embedding, heads);
    }
    return nullptr;
  }
};

std::vector<Entry> Entries() {
  std::vector<Entry> entries = {{"mhsa", Kind::kMhsa, nullptr},
                                {"mhsa_cached", Kind::kMhsaCached, nullptr},
                                {"mhsa_bf16", Kind::kMhsaBf16, nullptr},
                                {"reference", Kind::kReference, nullptr}};
  for (const Peer& peer : CompiledPeers()) {
    entries.push_back({peer.name, Kind::kPeer, &peer});
  }
  return entries;
}

// Random weights of nn.Linear's scale (uniform in ±1/sqrt(embedding)), a
// different draw for every head and projection so that a contender mixing
// up heads cannot pass the check.
Weights RandomWeights(size_t embedding, size_t heads) {
  Weights w(3 * embedding * embedding);
  FillRandom(w.data(), w.size(), 7 + static_cast<uint32_t>(heads));
  const float bound = 1.0f / std::sqrt(static_cast<float>(embedding));
  for (float& value : w) value *= bound;
  return w;
}

// Why each contender is not benchmarked (a failed check, an unusable peer).
std::map<std::string, std::string>& Failures() {
  static std::map<std::string, std::string> failures;
  return failures;
}

// Every contender on B=2, T=37, E=64, H=4 (head_dim 16), on 2 threads,
// against ref::Forward<double>. Outputs are of order 0.1 to 1; float
// rounding over sums of 64 terms stays near 1e-6, so 1e-4 only catches
// real mistakes. mhsa_bf16 rounds its inputs to 8 significant bits, so it
// is held to the project's bf16 rule instead: at most twice the error of
// the plain bf16 layer (ref::ForwardBf16), plus one float epsilon of the
// largest output.
void CheckAll() {
  const size_t batch = 2, context = 37, embedding = 64, heads = 4;
  const Weights w = RandomWeights(embedding, heads);
  std::vector<float> x(batch * context * embedding);
  FillRandom(x.data(), x.size(), 11);
  std::vector<double> expected(x.size());
  ref::Forward<double>(x.data(), batch, context, embedding, w.data(), heads, embedding / heads,
                       expected.data());
  std::vector<float> plain_bf16(x.size());
  ref::ForwardBf16(x.data(), batch, context, embedding, w.data(), heads, embedding / heads,
                   plain_bf16.data());
  double bf16_bound = 0.0, magnitude = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    bf16_bound = std::max(bf16_bound, std::fabs(double{plain_bf16[i]} - expected[i]));
    magnitude = std::max(magnitude, std::fabs(expected[i]));
  }
  bf16_bound = 2 * bf16_bound + magnitude * 0x1p-23;
  for (const Entry& entry : Entries()) {
    if (entry.kind == Kind::kPeer && !entry.peer->unusable.empty()) {
      Failures()[entry.name] = entry.peer->unusable;
      continue;
    }
    std::vector<float> out(x.size(), NAN);
    omp_set_num_threads(2);
    entry.Make(w, embedding, heads)->Forward(x.data(), batch, context, out.data(), 2);
    double error = 0.0;
    for (size_t i = 0; i < out.size(); ++i) {
      const double difference = std::fabs(double{out[i]} - expected[i]);
      error = std::isnan(difference) ? INFINITY : std::max(error, difference);
    }
    const double bound = entry.kind == Kind::kMhsaBf16 ? bf16_bound : 1e-4;
    char text[128];
    std::snprintf(text, sizeof(text), "max abs error %.2e vs the double reference (bound %.2e)",
                  error, bound);
    benchmark::AddCustomContext("check_" + entry.name, text);
    if (!(error <= bound)) Failures()[entry.name] = std::string("check failed: ") + text;
  }
}

void Run(benchmark::State& state, const Entry& entry) {
  const Shape s{static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)),
                static_cast<size_t>(state.range(2)), static_cast<size_t>(state.range(3)),
                static_cast<int>(state.range(4))};
  if (auto it = Failures().find(entry.name); it != Failures().end()) {
    state.SkipWithError(it->second.c_str());
    return;
  }
  omp_set_num_threads(s.threads);
  std::vector<float> x(s.batch * s.context * s.embedding);
  std::vector<float> out(x.size());  // Zeroed, so touched now, not in the loop.
  FillRandom(x.data(), x.size(), 5);
  const Weights weights = RandomWeights(s.embedding, s.heads);
  const PeakMemory construction;
  auto contender = entry.Make(weights, s.embedding, s.heads);
  state.counters["held_MiB"] = construction.HeldMiB();
  const PeakMemory memory;  // After inputs, outputs and weights exist.
  for (auto _ : state) {
    contender->Forward(x.data(), s.batch, s.context, out.data(), s.threads);
    benchmark::ClobberMemory();
  }
  state.counters["peak_MiB"] = memory.ExtraMiB();
  SetFlopCounters(state, LayerFlops(s), s.threads);
  // mhsa's SIMD target; mhsa_bf16's bf16 kernel (a pseudo-target, or the
  // SIMD target's widening kernel).
  state.SetLabel(entry.kind == Kind::kMhsa || entry.kind == Kind::kMhsaCached
                     ? hwy::TargetName(ChosenTarget())
                 : entry.kind == Kind::kMhsaBf16 ? mhsa::ActiveTarget()
                                                 : "");
}

// The default subset: every contender on E=512, H=8, B=1 over
// T in 16 ... 4096 (the reference only while it is fast, 1 thread), batch
// and width variations at T=1024, and T=16384 for mhsa alone (the composed
// layers would need a 1 GiB score matrix per thread and minutes per point).
// The shapes issue 10 measured mhsa against its peers at (2 threads):
// (B, T, E = A): (2, 1024, 512), (1, 4096, 512), (8, 128, 768),
// (32, 64, 512) and one token without a cache, (1, 1, 512).
bool IssueShape(const Shape& s) {
  if (s.threads != 2) return false;
  const size_t shapes[][3] = {
      {2, 1024, 512}, {1, 4096, 512}, {8, 128, 768}, {32, 64, 512}, {1, 1, 512}};
  for (const auto& shape : shapes) {
    if (s.batch == shape[0] && s.context == shape[1] && s.embedding == shape[2]) return true;
  }
  return false;
}

bool InDefault(Kind kind, const Shape& s) {
  if (IssueShape(s)) return true;
  const bool main_sweep = s.embedding == 512 && s.batch == 1 && s.context <= 4096;
  const bool variations =
      s.context == 1024 && s.threads == 2 &&
      ((s.embedding == 512 && s.batch == 2) || (s.embedding == 768 && s.batch == 1));
  if (!IsMhsa(kind)) return main_sweep || variations;
  return main_sweep || variations || (s.embedding == 512 && s.batch == 1 && s.context == 16384) ||
         (s.embedding == 512 && s.batch == 8 && s.threads == 2 &&
          (s.context == 128 || s.context == 1024)) ||
         (s.embedding == 768 && s.batch == 1 && (s.context == 128 || s.context == 4096));
}

bool Included(Kind kind, const Shape& s, bool full) {
  if (kind == Kind::kReference && (s.threads != 1 || LayerFlops(s) > kReferenceMaxFlops)) {
    return false;
  }
  if (full) {
    return IsMhsa(kind) || IssueShape(s) ||
           (s.batch <= 8 && s.context >= 16 && (s.context <= 4096 || s.batch == 1));
  }
  return InDefault(kind, s);
}

void RegisterAll(bool full) {
  static const std::vector<Entry> entries = Entries();
  const size_t configs[][2] = {{512, 8}, {768, 12}};  // {E = A, H}.
  const size_t batches[] = {1, 2, 8, 32};
  const size_t contexts[] = {1, 16, 64, 128, 512, 1024, 4096, 16384};
  for (const Entry& entry : entries) {
    auto* bench =
        benchmark::RegisterBenchmark(("Attention/" + entry.name).c_str(),
                                     [&entry](benchmark::State& state) { Run(state, entry); });
    for (const auto& config : configs) {
      for (size_t batch : batches) {
        for (size_t context : contexts) {
          for (int threads : ThreadCounts()) {
            const Shape s{batch, context, config[0], config[1], threads};
            if (!Included(entry.kind, s, full)) continue;
            bench->Args({static_cast<int64_t>(batch), static_cast<int64_t>(context),
                         static_cast<int64_t>(config[0]), static_cast<int64_t>(config[1]),
                         threads});
          }
        }
      }
    }
    bench->ArgNames({"B", "T", "E", "H", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  bool list_targets = false, full = false;
  mhsa::bench::TakeFlag(&argc, argv, "--list_targets", &list_targets);
  mhsa::bench::TakeFlag(&argc, argv, "--full", &full);
  if (list_targets) {
    for (const std::string& name : mhsa::AvailableTargets()) std::printf("%s\n", name.c_str());
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  full = full || mhsa::bench::FullGrid();
  mhsa::bench::AddCommonContext();
  mhsa::bench::AddPeersContext();
  benchmark::AddCustomContext("grid", full ? "full" : "default subset");
  benchmark::AddCustomContext("peak_memory_method", mhsa::bench::PeakMemory().Method());
  mhsa::bench::CheckAll();
  mhsa::bench::RegisterAll(full);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
