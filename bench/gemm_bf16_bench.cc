// The bf16 GEMM against the float32 one, B packed once (weights), C = A·Bᵀ:
//   proj       2048 x 1536 x 512   x·Wᵀ for all heads, B=2, T=1024, E=A=512
//   proj_e768  4096 x 2304 x 768   the same at E=A=768, B=4
//   qkt        1024 x 1024 x 64    q·kᵀ at T=1024, head_dim 64
//   decode     1 x 65536 x 128     one query against a 65536-key cache
//                                  (head_dim 128): B's bytes are the cost
// Contenders, each on 1 and 2 threads:
//   f32          GemmPacked (float A, float B)
//   bf16_amx     GemmBf16 with the AMX kernel (AVX3_AMX); skipped without AMX
//   bf16_dot     GemmBf16 with the dot-product kernel (AVX3_BF16 or
//                NEON_BF16); skipped where the CPU has none
//   bf16_widen   GemmBf16 with the active target's widening-FMA kernel
// and for the bf16 ones, A given as float (rounded while packing, as the
// layer's x) or already as bf16 (_abf16, as q or p would be).
// Names read GemmBf16/<contender>/<shape>/m:/n:/k:/threads:. Counters:
// GFLOPS (2 m n k per call, over real time) and pct_peak (of the float FMA
// peak of the active target). Each result is checked on sampled entries
// against a double dot product of the bf16-rounded inputs.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bf16.h"
#include "common.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "mhsa/mhsa.h"

namespace mhsa::bench {
namespace {

struct Shape {
  const char* name;
  size_t m, n, k;
};

const Shape kShapes[] = {{"proj", 2048, 1536, 512},
                         {"proj_e768", 4096, 2304, 768},
                         {"qkt", 1024, 1024, 64},
                         {"decode", 1, 65536, 128}};

enum class Contender { kF32, kBf16Amx, kBf16Dot, kBf16Widening };

struct Operands {
  std::vector<float> a, b, c;
  std::vector<uint16_t> a_bf16;
  Operands(size_t m, size_t n, size_t k) : a(m * k), b(n * k), c(m * n), a_bf16(m * k) {
    FillRandom(a.data(), a.size(), 1);
    FillRandom(b.data(), b.size(), 2);
    FloatToBf16(a.data(), a_bf16.data(), a.size());
  }
};

void Run(benchmark::State& state, Contender contender, bool a_bf16) {
  const size_t m = static_cast<size_t>(state.range(0));
  const size_t n = static_cast<size_t>(state.range(1));
  const size_t k = static_cast<size_t>(state.range(2));
  const int threads = static_cast<int>(state.range(3));
  omp_set_num_threads(threads);
  const Bf16Instructions level = contender == Contender::kBf16Amx   ? Bf16Instructions::kAmx
                                 : contender == Contender::kBf16Dot ? Bf16Instructions::kDot
                                                                    : Bf16Instructions::kNone;
  if (contender != Contender::kF32 &&
      static_cast<int>(CpuBf16Instructions()) < static_cast<int>(level)) {
    state.SkipWithError("this CPU lacks the bf16 instructions of this kernel");
    return;
  }
  SetBf16Instructions(level);
  Operands ops(m, n, k);
  if (contender == Contender::kF32) {
    state.SetLabel(ActiveTarget());
    const PackedB b = PackRows(ops.b.data(), k, n, k);
    for (auto _ : state) {
      GemmPacked(ops.a.data(), k, b, ops.c.data(), n, m);
      benchmark::ClobberMemory();
    }
  } else {
    state.SetLabel(ChosenBf16Kernel().name);
    const PackedBf16B b = PackBf16FromRows(ops.b.data(), k, n, k);
    for (auto _ : state) {
      if (a_bf16) {
        GemmBf16(ops.a_bf16.data(), k, b, ops.c.data(), n, m);
      } else {
        GemmBf16(ops.a.data(), k, b, ops.c.data(), n, m);
      }
      benchmark::ClobberMemory();
    }
  }
  SetBf16Instructions(Bf16Instructions::kAmx);
  SetFlopCounters(state, 2.0 * static_cast<double>(m * n * k), threads);
  const std::string error =
      CheckSampledProduct(ops.a.data(), ops.b.data(), ops.c.data(), m, n, k,
                          contender != Contender::kF32 ? &RoundToBf16 : nullptr);
  if (!error.empty()) state.SkipWithError(error.c_str());
}

void RegisterAll() {
  struct Entry {
    const char* name;
    Contender contender;
    bool a_bf16;
  };
  const Entry entries[] = {{"f32", Contender::kF32, false},
                           {"bf16_amx", Contender::kBf16Amx, false},
                           {"bf16_amx_abf16", Contender::kBf16Amx, true},
                           {"bf16_dot", Contender::kBf16Dot, false},
                           {"bf16_dot_abf16", Contender::kBf16Dot, true},
                           {"bf16_widen", Contender::kBf16Widening, false},
                           {"bf16_widen_abf16", Contender::kBf16Widening, true}};
  for (const Shape& shape : kShapes) {
    for (const Entry& entry : entries) {
      auto* bench = benchmark::RegisterBenchmark(
          ("GemmBf16/" + std::string(entry.name) + "/" + shape.name).c_str(),
          [entry](benchmark::State& state) { Run(state, entry.contender, entry.a_bf16); });
      for (int threads : ThreadCounts()) {
        bench->Args({static_cast<int64_t>(shape.m), static_cast<int64_t>(shape.n),
                     static_cast<int64_t>(shape.k), threads});
      }
      bench->ArgNames({"m", "n", "k", "threads"})->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace mhsa::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  mhsa::bench::AddCommonContext();
  const char* const kLevels[] = {"none", "dot (AVX512_BF16 or Arm BF16)", "amx (and AVX512_BF16)"};
  benchmark::AddCustomContext("bf16_instructions",
                              kLevels[static_cast<int>(mhsa::CpuBf16Instructions())]);
  mhsa::bench::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
