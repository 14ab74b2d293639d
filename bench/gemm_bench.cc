// mhsa's GEMM against OpenBLAS, BLIS, oneDNN and Eigen at the shapes the
// layer runs, plus square sizes:
//   proj    x·Wᵀ for all heads: m = batch * context = 2048, k = E = 512,
//           n = 3 * A = 1536; and m = 4096, k = E = 768, n = 3 * A = 2304;
//   qkt     q·kᵀ: context x head_dim times head_dim x context (1024, 64);
//   pv      p·v: context x context times context x head_dim;
//   square  m = n = k in {256, 512, 1024, 2048}, C = A·Bᵀ.
// Names read Gemm/<contender>/<shape>/m:/n:/k:/threads:. Counters: GFLOPS
// (2 m n k per call, over real time) and pct_peak. Every contender's result
// is checked on sampled entries against a double-precision dot product;
// a wrong one is reported as an error, not as a speed.
//
// mhsa computes C = A·Bᵀ only, with B stored as rows. For p·v it gets vᵀ
// ([head_dim][context], which the layer can produce directly from the
// projection), the peers get v as it is and a no-transpose call: the same
// product and FLOPs, each in its natural layout.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common.h"
#include "mhsa/mhsa.h"
#include "peers.h"

#if __has_include("gemm.h")
#include "gemm.h"
#define MHSA_BENCH_HAVE_MHSA_GEMM 1
#endif

namespace mhsa::bench {
namespace {

struct Shape {
  const char* name;
  size_t m, n, k;
  bool b_transposed;  // C = A·Bᵀ (b: [n][k]); otherwise C = A·B (b: [k][n]).
};

const Shape kShapes[] = {{"proj", 2048, 1536, 512, true},    {"proj", 4096, 2304, 768, true},
                         {"qkt", 1024, 1024, 64, true},      {"pv", 1024, 64, 1024, false},
                         {"square", 256, 256, 256, true},    {"square", 512, 512, 512, true},
                         {"square", 1024, 1024, 1024, true}, {"square", 2048, 2048, 2048, true}};

// Operands of one shape: a [m][k]; b [n][k] (bt) and [k][n] (bn), the same
// matrix in both layouts; c [m][n].
struct Operands {
  std::vector<float> a, bt, bn, c;
  Operands(size_t m, size_t n, size_t k) : a(m * k), bt(n * k), bn(k * n), c(m * n) {
    FillRandom(a.data(), a.size(), 1);
    FillRandom(bt.data(), bt.size(), 2);
    for (size_t j = 0; j < n; ++j) {
      for (size_t p = 0; p < k; ++p) bn[p * n + j] = bt[j * k + p];
    }
  }
};

// Runs `call` (one product into ops.c) as the timed loop, then checks it.
template <typename Call>
void TimeGemm(benchmark::State& state, Operands& ops, const Call& call) {
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  for (auto _ : state) {
    call();
    benchmark::ClobberMemory();
  }
  SetFlopCounters(state, 2.0 * static_cast<double>(m * n * k), threads);
  if (const std::string error =
          CheckSampledProduct(ops.a.data(), ops.bt.data(), ops.c.data(), m, n, k);
      !error.empty()) {
    state.SkipWithError(error.c_str());
  }
}

void RunPeer(benchmark::State& state, const Peer& peer, bool b_transposed) {
  if (!peer.unusable.empty()) {
    state.SkipWithError(peer.unusable.c_str());
    return;
  }
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  omp_set_num_threads(threads);
  peer.set_threads(threads);
  Operands ops(m, n, k);
  if (b_transposed) {
    TimeGemm(state, ops,
             [&] { peer.gemm_bt(ops.a.data(), k, ops.bt.data(), k, ops.c.data(), n, m, n, k); });
  } else {
    TimeGemm(state, ops,
             [&] { peer.gemm_nn(ops.a.data(), k, ops.bn.data(), n, ops.c.data(), n, m, n, k); });
  }
}

#if defined(MHSA_BENCH_HAVE_MHSA_GEMM)
// packed: B packed once outside the timed loop (GemmPacked), as the layer
// does with its weights; otherwise the public Sgemm, which packs B on every
// call.
void RunMhsa(benchmark::State& state, bool packed) {
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  omp_set_num_threads(threads);
  Operands ops(m, n, k);
  state.SetLabel(mhsa::ActiveTarget());
  if (packed) {
    const PackedB b = PackRows(ops.bt.data(), k, n, k);
    TimeGemm(state, ops, [&] { GemmPacked(ops.a.data(), k, b, ops.c.data(), n, m); });
  } else {
    const auto im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
    TimeGemm(state, ops, [&] {
      Sgemm(false, true, im, in, ik, 1.0f, ops.a.data(), ik, ops.bt.data(), ik, 0.0f, ops.c.data(),
            in);
    });
  }
}
#endif

void AddShapes(benchmark::internal::Benchmark* bench, const char* shape_name) {
  for (const Shape& shape : kShapes) {
    if (std::string(shape.name) != shape_name) continue;
    for (int threads : ThreadCounts()) {
      bench->Args({static_cast<int64_t>(shape.m), static_cast<int64_t>(shape.n),
                   static_cast<int64_t>(shape.k), threads});
    }
  }
  bench->ArgNames({"m", "n", "k", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

void RegisterAll() {
  for (const char* shape_name : {"proj", "qkt", "pv", "square"}) {
    const bool b_transposed = std::string(shape_name) != "pv";
#if defined(MHSA_BENCH_HAVE_MHSA_GEMM)
    AddShapes(benchmark::RegisterBenchmark(("Gemm/mhsa/" + std::string(shape_name)).c_str(),
                                           [](benchmark::State& state) { RunMhsa(state, false); }),
              shape_name);
    // Prepacking pays off where B is reused (weights); at q·kᵀ and p·v,
    // whose B is new each time, it shows what packing costs inside Sgemm.
    AddShapes(benchmark::RegisterBenchmark(("Gemm/mhsa_packed/" + std::string(shape_name)).c_str(),
                                           [](benchmark::State& state) { RunMhsa(state, true); }),
              shape_name);
#endif
    for (const Peer& peer : CompiledPeers()) {
      AddShapes(benchmark::RegisterBenchmark(("Gemm/" + peer.name + "/" + shape_name).c_str(),
                                             [&peer, b_transposed](benchmark::State& state) {
                                               RunPeer(state, peer, b_transposed);
                                             }),
                shape_name);
    }
  }
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mhsa::bench::AddCommonContext();
  mhsa::bench::AddPeersContext();
  mhsa::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
