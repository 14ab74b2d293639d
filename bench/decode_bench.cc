// One decoding step (one new token per sequence against a KV cache of L
// positions) against the ways it could otherwise be computed, in one binary:
//   Decode/mhsa        MultiHeadedSelfAttention::Forward with a KVCache: the
//                      token's projection, its k and v appended, attention
//                      over the L cached positions;
//   Decode/mhsa_bf16   the same with Precision::kBFloat16: bf16 weights and
//                      cache (half the bytes to read), bf16 products;
//   Decode/gqa         the kernel-level Attention alone, one query row per
//                      head against a (B, Hkv, L, D) cache, 32 query heads
//                      sharing 8 K/V heads of 128;
//   Decode/gqa_bf16    the same on bf16 tensors;
//   Decode/recompute   the full Forward over all L positions, which is what
//                      a layer without a cache has to do for each token;
//   Decode/<peer>      the same step as Decode/mhsa composed from a
//                      library's sgemm (m = 1 products: a GEMV) and a plain
//                      softmax, per (sequence, head), as a user would write.
// Names read Decode/<contender>/B:/L:/... with L the positions attended to.
// Counters:
//   tokens_per_s  tokens generated per second (B per step, over real time);
//   GBps          bytes the step must read (the cached k and v of every
//                 head, 2·B·H·L·D floats, plus the projection weights,
//                 3·A·E floats) over real time;
//   pct_bw        percent of the streaming-read bandwidth measured at start
//                 with the same thread count (machine_limits.h, the
//                 measurement peak_bench reports): above 100 means the cache
//                 was served from the last-level cache, not from memory.
//   (bf16 contenders count 2 bytes per cached or weight element.)
//   cache_MiB     (mhsa, mhsa_bf16) resident memory the KV cache holds,
//                 measured as VmRSS growth while it is made and filled.
// The default grid runs in a few minutes; --full (or MHSA_BENCH_FULL=1)
// adds B=8 up to L=32768.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bf16.h"
#include "common.h"
#include "dispatch.h"
#include "machine_limits.h"
#include "mhsa/mhsa.h"
#include "peak_memory.h"
#include "peers.h"
#include "plain_softmax.h"

namespace mhsa::bench {
namespace {

constexpr int kEmbedding = 512, kHeads = 8, kHeadDim = kEmbedding / kHeads;

// Streaming-read GB/s on `threads` threads, measured once per count.
double ReadBandwidth(int threads) {
  static std::map<int, double> measured;
  auto it = measured.find(threads);
  if (it != measured.end()) return it->second;
  const StreamBuffer& stream = SharedStreamBuffer();
  const int64_t target = TargetByName(mhsa::ActiveTarget());
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const double start = omp_get_wtime();
    benchmark::DoNotOptimize(SumStream(target, stream.data, stream.count, threads));
    const double seconds = omp_get_wtime() - start;
    best = std::max(best, static_cast<double>(stream.count) * sizeof(float) / seconds * 1e-9);
  }
  return measured.emplace(threads, best).first->second;
}

void SetStepCounters(benchmark::State& state, double bytes, int batch, int threads) {
  const auto steps = static_cast<double>(state.iterations());
  state.counters["GBps"] = benchmark::Counter(bytes * steps * 1e-9, benchmark::Counter::kIsRate);
  state.counters["pct_bw"] = benchmark::Counter(bytes * steps * 1e-9 * 100 / ReadBandwidth(threads),
                                                benchmark::Counter::kIsRate);
  state.counters["tokens_per_s"] = benchmark::Counter(steps * batch, benchmark::Counter::kIsRate);
}

// Bytes a layer step must read: every head's cached k and v, and the
// weights, of `element` bytes each (4 for float32, 2 for bf16).
double LayerStepBytes(int batch, int context, double element = 4.0) {
  return element * (2.0 * batch * kHeads * context * kHeadDim + 3.0 * kEmbedding * kEmbedding);
}

// A cache holding context - 1 positions of real k and v (a prefill through
// the layer, in chunks so that its scratch stays small).
std::unique_ptr<KVCache> Prefilled(const MultiHeadedSelfAttention& layer, int batch, int context) {
  auto cache = std::make_unique<KVCache>(layer, batch, context);
  const int chunk = 2048;
  std::vector<float> x(static_cast<size_t>(batch) * chunk * kEmbedding), out(x.size());
  FillRandom(x.data(), x.size(), 5);
  for (int done = 0; done < context - 1; done += chunk) {
    layer.Forward(x.data(), batch, std::min(chunk, context - 1 - done), out.data(), *cache);
  }
  ReleaseScratch();
  return cache;
}

void MhsaStep(benchmark::State& state, Precision precision) {
  const int batch = static_cast<int>(state.range(0)), context = static_cast<int>(state.range(1)),
            threads = static_cast<int>(state.range(2));
  omp_set_num_threads(threads);
  const MultiHeadedSelfAttention layer(kEmbedding, kEmbedding, kHeads, precision);
  const PeakMemory held;
  const auto cache = Prefilled(layer, batch, context);
  state.counters["cache_MiB"] = held.HeldMiB();
  std::vector<float> x(static_cast<size_t>(batch) * kEmbedding), out(x.size());
  FillRandom(x.data(), x.size(), 6);
  for (auto _ : state) {
    layer.Forward(x.data(), batch, 1, out.data(), *cache);
    cache->Truncate(context - 1);  // The next step sees the same L.
    benchmark::ClobberMemory();
  }
  const bool bf16 = precision == Precision::kBFloat16;
  SetStepCounters(state, LayerStepBytes(batch, context, bf16 ? 2.0 : 4.0), batch, threads);
  // The float32 layer runs its SIMD target's code; the bf16 layer names its
  // bf16 kernel (a pseudo-target, or the SIMD target's widening kernel).
  state.SetLabel(bf16 ? mhsa::ActiveTarget() : hwy::TargetName(ChosenTarget()));
}

void Recompute(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0)), context = static_cast<int>(state.range(1)),
            threads = static_cast<int>(state.range(2));
  omp_set_num_threads(threads);
  const MultiHeadedSelfAttention layer(kEmbedding, kEmbedding, kHeads);
  std::vector<float> x(static_cast<size_t>(batch) * static_cast<size_t>(context) * kEmbedding),
      out(x.size());
  FillRandom(x.data(), x.size(), 7);
  for (auto _ : state) {
    layer.Forward(x.data(), batch, context, out.data());
    benchmark::ClobberMemory();
  }
  SetStepCounters(state, LayerStepBytes(batch, context), batch, threads);
  state.SetLabel(mhsa::ActiveTarget());
}

// Kernel-level grouped-query decode: q [B][1][32][128], cache (B, 8, L, 128),
// in float32 or as bf16 tensors.
void GqaStep(benchmark::State& state, bool bf16) {
  constexpr int kQueryHeads = 32, kKvHeads = 8, kDim = 128;
  const int batch = static_cast<int>(state.range(0)), context = static_cast<int>(state.range(1)),
            threads = static_cast<int>(state.range(2));
  const size_t cache_floats =
      static_cast<size_t>(batch) * kKvHeads * static_cast<size_t>(context) * kDim;
  std::vector<float> k(cache_floats), v(cache_floats);
  FillRandom(k.data(), k.size(), 8);
  FillRandom(v.data(), v.size(), 9);
  std::vector<float> q(static_cast<size_t>(batch) * kQueryHeads * kDim), out(q.size());
  FillRandom(q.data(), q.size(), 10);
  std::vector<uint16_t> k16, v16, q16;
  if (bf16) {
    k16.resize(k.size());
    v16.resize(v.size());
    q16.resize(q.size());
    FloatToBf16(k.data(), k16.data(), k.size());
    FloatToBf16(v.data(), v16.data(), v.size());
    FloatToBf16(q.data(), q16.data(), q.size());
    std::vector<float>().swap(k);  // Only the bf16 cache stays resident.
    std::vector<float>().swap(v);
  }
  const auto as_bf16 = [](const std::vector<uint16_t>& h) {
    return reinterpret_cast<const mhsa::bf16*>(h.data());
  };
  AttentionShape shape;
  shape.batch = batch;
  shape.num_heads = kQueryHeads;
  shape.num_kv_heads = kKvHeads;
  shape.head_dim = kDim;
  shape.q_len = 1;
  shape.kv_len = context;
  AttentionOptions options;
  options.run.num_threads = threads;
  const Strides cache = StridesBHTD(context, kKvHeads, kDim),
                one = StridesBTHD(1, kQueryHeads, kDim);
  for (auto _ : state) {
    if (bf16) {
      Attention(shape, as_bf16(q16), one, as_bf16(k16), cache, as_bf16(v16), cache, out.data(), one,
                options);
    } else {
      Attention(shape, q.data(), one, k.data(), cache, v.data(), cache, out.data(), one, options);
    }
    benchmark::ClobberMemory();
  }
  SetStepCounters(state, (bf16 ? 2.0 : 4.0) * 2.0 * static_cast<double>(cache_floats), batch,
                  threads);
  state.SetLabel(bf16 ? mhsa::ActiveTarget() : hwy::TargetName(ChosenTarget()));
}

// The layer step composed from a peer: x·Wᵀ for q, k, v (m = B), k and v
// appended to a (B, H, L, D) cache, then per (sequence, head) s = k·q,
// softmax, out = pᵀ·v (m = 1 products), the pairs spread over OpenMP threads
// with the peer single-threaded inside, as its documentation asks.
void PeerStep(benchmark::State& state, const Peer& peer) {
  if (!peer.unusable.empty()) {
    state.SkipWithError(peer.unusable.c_str());
    return;
  }
  const int batch = static_cast<int>(state.range(0)), context = static_cast<int>(state.range(1)),
            threads = static_cast<int>(state.range(2));
  const size_t b_count = static_cast<size_t>(batch), l = static_cast<size_t>(context),
               e = kEmbedding, h_count = kHeads, d = kHeadDim;
  omp_set_num_threads(threads);
  std::vector<float> w(3 * e * e), x(b_count * e), qkv(b_count * 3 * e), out(b_count * e);
  FillRandom(w.data(), w.size(), 11);
  FillRandom(x.data(), x.size(), 12);
  std::vector<float> k(b_count * h_count * l * d), v(k.size());
  FillRandom(k.data(), k.size(), 13);
  FillRandom(v.data(), v.size(), 14);
  std::vector<float> scores(static_cast<size_t>(threads) * l);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  for (auto _ : state) {
    peer.set_threads(threads);
    peer.gemm_bt(x.data(), e, w.data(), e, qkv.data(), 3 * e, b_count, 3 * e, e);
    peer.set_threads(1);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long pair = 0; pair < static_cast<long>(b_count * h_count); ++pair) {
      const size_t b = static_cast<size_t>(pair) / h_count, h = static_cast<size_t>(pair) % h_count;
      const float* row = qkv.data() + b * 3 * e;
      float* kc = k.data() + (b * h_count + h) * l * d;
      float* vc = v.data() + (b * h_count + h) * l * d;
      std::memcpy(kc + (l - 1) * d, row + e + h * d, d * sizeof(float));
      std::memcpy(vc + (l - 1) * d, row + 2 * e + h * d, d * sizeof(float));
      float* s = scores.data() + static_cast<size_t>(omp_get_thread_num()) * l;
      peer.gemm_bt(row + h * d, d, kc, d, s, l, 1, l, d);
      PlainCausalSoftmax(s, l, 1, l, static_cast<ptrdiff_t>(l) - 1, scale);
      peer.gemm_nn(s, l, vc, d, out.data() + b * e + h * d, e, 1, d, l);
    }
    benchmark::ClobberMemory();
  }
  SetStepCounters(state, LayerStepBytes(batch, context), batch, threads);
}

void Register() {
  const bool full = FullGrid();
  std::vector<std::pair<int, int>> layer_grid;  // (B, L)
  for (int l : {128, 512, 2048, 4096, 8192, 32768}) layer_grid.emplace_back(1, l);
  for (int l : {128, 512, 2048, 8192}) layer_grid.emplace_back(8, l);
  if (full) layer_grid.emplace_back(8, 32768);
  const auto add = [](benchmark::internal::Benchmark* bench, int b, int l, int threads) {
    bench->Args({b, l, threads})
        ->ArgNames({"B", "L", "threads"})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  };
  for (int threads : ThreadCounts()) {
    for (const auto& [b, l] : layer_grid) {
      add(benchmark::RegisterBenchmark(
              "Decode/mhsa", [](benchmark::State& s) { MhsaStep(s, Precision::kFloat32); }),
          b, l, threads);
      add(benchmark::RegisterBenchmark(
              "Decode/mhsa_bf16", [](benchmark::State& s) { MhsaStep(s, Precision::kBFloat16); }),
          b, l, threads);
      for (const Peer& peer : CompiledPeers()) {
        if (peer.name == "eigen" || peer.name == "blis") continue;  // OpenBLAS and oneDNN suffice.
        add(benchmark::RegisterBenchmark(("Decode/" + peer.name).c_str(),
                                         [&peer](benchmark::State& s) { PeerStep(s, peer); }),
            b, l, threads);
      }
      if (l <= 8192 && (b == 1 || full)) {
        add(benchmark::RegisterBenchmark("Decode/recompute", Recompute), b, l, threads);
      }
    }
    for (int l : {128, 512, 2048, 8192, 32768}) {
      add(benchmark::RegisterBenchmark("Decode/gqa",
                                       [](benchmark::State& s) { GqaStep(s, false); }),
          1, l, threads);
      add(benchmark::RegisterBenchmark("Decode/gqa_bf16",
                                       [](benchmark::State& s) { GqaStep(s, true); }),
          1, l, threads);
    }
  }
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  bool full = false;
  mhsa::bench::TakeFlag(&argc, argv, "--full", &full);
  if (full) setenv("MHSA_BENCH_FULL", "1", 1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mhsa::bench::AddCommonContext();
  mhsa::bench::AddPeersContext();
  for (int threads : mhsa::bench::ThreadCounts()) {
    benchmark::AddCustomContext("read_gbps_threads_" + std::to_string(threads),
                                std::to_string(mhsa::bench::ReadBandwidth(threads)));
  }
  mhsa::bench::Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
