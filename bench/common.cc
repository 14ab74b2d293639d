#include "common.h"

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "machine_limits.h"
#include "mhsa/mhsa.h"

namespace mhsa::bench {
namespace {

std::string Format(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", value);
  return text;
}

// MHSA_PEAK_GFLOPS as a positive number, or 0 when unset or unusable.
double PeakFromEnvironment() {
  const char* env = std::getenv("MHSA_PEAK_GFLOPS");
  if (env == nullptr || *env == '\0') return 0.0;
  const double value = std::strtod(env, nullptr);
  return value > 0.0 ? value : 0.0;
}

}  // namespace

std::vector<int> ThreadCounts() {
  std::vector<int> counts = {1, 2};
  const int cores = omp_get_num_procs();
  if (cores > 2) counts.push_back(cores);
  return counts;
}

double PeakGflops(int threads) {
  if (const double per_thread = PeakFromEnvironment(); per_thread > 0.0) {
    return per_thread * threads;
  }
  static std::map<int, double> measured;  // Filled before any benchmark runs.
  auto it = measured.find(threads);
  if (it == measured.end()) {
    const int64_t target = TargetByName(mhsa::ActiveTarget());
    it = measured.emplace(threads, MeasurePeakGflops(target, threads, 0.1)).first;
  }
  return it->second;
}

void AddCommonContext() {
  benchmark::AddCustomContext("mhsa_target", mhsa::ActiveTarget());
  // The SIMD target whose code the float32 kernels run (mhsa_target may be
  // a bf16 pseudo-target on top of it, such as AVX3_AMX).
  benchmark::AddCustomContext("mhsa_simd_target", hwy::TargetName(ChosenTarget()));
  std::string targets;
  for (const std::string& name : mhsa::AvailableTargets()) {
    targets += (targets.empty() ? "" : ",") + name;
  }
  benchmark::AddCustomContext("mhsa_available_targets", targets);
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::AddCustomContext("peak_source", PeakFromEnvironment() > 0.0
                                                 ? "MHSA_PEAK_GFLOPS (one thread) times threads"
                                                 : "measured at start: 12 FMA chains on the active "
                                                   "target, fastest of 50 windows of ~2 ms");
  for (int threads : ThreadCounts()) {
    benchmark::AddCustomContext("peak_gflops_threads_" + std::to_string(threads),
                                Format(PeakGflops(threads)));
  }
  // FMA throughput scales with cores; when it does not, something else ran
  // on them during the measurement, and during the benchmarks too, likely.
  if (PeakGflops(2) < 1.6 * PeakGflops(1)) {
    benchmark::AddCustomContext("peak_warning",
                                "the 2-thread peak is below 1.6x the 1-thread peak: "
                                "the cores were busy, multi-thread timings are suspect");
  }
}

void SetFlopCounters(benchmark::State& state, double flops_per_iteration, int threads) {
  const double gflop = flops_per_iteration * static_cast<double>(state.iterations()) * 1e-9;
  state.counters["GFLOPS"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  state.counters["pct_peak"] =
      benchmark::Counter(gflop * 100.0 / PeakGflops(threads), benchmark::Counter::kIsRate);
}

bool FullGrid() {
  const char* env = std::getenv("MHSA_BENCH_FULL");
  return env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0;
}

void FillRandom(float* data, size_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (size_t i = 0; i < count; ++i) data[i] = dist(gen);
}

std::string CheckSampledProduct(const float* a, const float* bt, const float* c, size_t m, size_t n,
                                size_t k, float (*value)(float)) {
  uint64_t state = 0x9E3779B97F4A7C15u;
  for (int s = 0; s < 64; ++s) {
    state = state * 6364136223846793005u + 1442695040888963407u;
    const size_t i = static_cast<size_t>(state >> 33) % m;
    const size_t j = static_cast<size_t>(state >> 13) % n;
    double exact = 0.0, magnitude = 0.0;
    for (size_t p = 0; p < k; ++p) {
      float x = a[i * k + p], y = bt[j * k + p];
      if (value != nullptr) x = value(x), y = value(y);
      const double term = double{x} * double{y};
      exact += term;
      magnitude += std::fabs(term);
    }
    const double error = std::fabs(double{c[i * n + j]} - exact);
    if (!(error <= 4.0 * static_cast<double>(k) * 0x1p-24 * magnitude + 1e-30)) {
      return "check failed: c[" + std::to_string(i) + "][" + std::to_string(j) +
             "] = " + std::to_string(c[i * n + j]) + " instead of " + std::to_string(exact);
    }
  }
  return "";
}

void TakeFlag(int* argc, char** argv, const char* flag, bool* found) {
  *found = false;
  int kept = 0;
  for (int i = 0; i < *argc; ++i) {
    if (i > 0 && std::strcmp(argv[i], flag) == 0) {
      *found = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
}

}  // namespace mhsa::bench
