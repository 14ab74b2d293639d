// The bf16 GEMM: per-target fallback kernels, the kernel choice, B packing
// and the OpenMP driver.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "gemm_bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "bf16-inl.h"
#include "bf16_pack.h"
#include "gemm_bf16-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

void Bf16PackAF32(const float* a, size_t lda, size_t m, size_t k, void* dst) {
  PackAWidened<kBf16MR>(a, lda, m, k, static_cast<float*>(dst));
}

void Bf16PackABf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  PackAWidened<kBf16MR>(a, lda, m, k, static_cast<float*>(dst));
}

void Bf16Tiles(const void* ap, size_t m, const uint16_t* bp, size_t b_pairs, size_t n, size_t k,
               float* c, size_t ldc, bool accumulate, ptrdiff_t diag) {
  Bf16TileProduct(static_cast<const float*>(ap), m, bp, b_pairs, n, k, c, ldc, accumulate, diag);
}

// The dot-product kernels' A (k-pair panels of kMR rows), on this
// target's vectors.
template <size_t kMR, typename T>
void PairPackA(const T* a, size_t lda, size_t m, size_t k, void* dst) {
  PackPairRows<kMR>(a, static_cast<ptrdiff_t>(lda), m, k, static_cast<uint16_t*>(dst));
}
void PairPackA12F32(const float* a, size_t lda, size_t m, size_t k, void* dst) {
  PairPackA<kAvx512Bf16MR>(a, lda, m, k, dst);
}
void PairPackA12Bf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  PairPackA<kAvx512Bf16MR>(a, lda, m, k, dst);
}
void PairPackA3F32(const float* a, size_t lda, size_t m, size_t k, void* dst) {
  PairPackA<kNeonBf16MR>(a, lda, m, k, dst);
}
void PairPackA3Bf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  PairPackA<kNeonBf16MR>(a, lda, m, k, dst);
}

// B packed on this target's vectors, by the packers the attention uses for
// k and v (bf16-inl.h): B given as rows (ldb apart) or as [k][n].
void PackBRowsF32(const float* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  PackBf16RowsStrided(b, static_cast<ptrdiff_t>(ldb), n, k, dst);
}
void PackBRowsBf16(const uint16_t* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  PackBf16RowsStrided(b, static_cast<ptrdiff_t>(ldb), n, k, dst);
}
void PackBColsF32(const float* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  PackBf16ColsStrided(b, static_cast<ptrdiff_t>(ldb), n, k, dst);
}
void PackBColsBf16(const uint16_t* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  PackBf16ColsStrided(b, static_cast<ptrdiff_t>(ldb), n, k, dst);
}

Bf16Kernel HwyBf16Kernel() {
  return Bf16Kernel{hwy::TargetName(HWY_TARGET),
                    kBf16MR,
                    2,
                    sizeof(float),
                    &Bf16PackAF32,
                    &Bf16PackABf16,
                    &Bf16Tiles};
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "blocking.h"
#include "cpu_features.h"
#include "dispatch.h"
#include "gemm_bf16.h"
#include "gemm_tasks.h"
#include "parallel.h"
#include "workspace.h"

namespace mhsa {

HWY_EXPORT(HwyBf16Kernel);
HWY_EXPORT(PairPackA12F32);
HWY_EXPORT(PairPackA12Bf16);
HWY_EXPORT(PairPackA3F32);
HWY_EXPORT(PairPackA3Bf16);
HWY_EXPORT(PackBRowsF32);
HWY_EXPORT(PackBRowsBf16);
HWY_EXPORT(PackBColsF32);
HWY_EXPORT(PackBColsBf16);

namespace {

// -1 until first use, then a Bf16Instructions value.
std::atomic<int> allowed{-1};

// MHSA_TARGET decides when it names a usable target (a pseudo-target allows
// its instructions, a SIMD target none); MHSA_BF16_INSTRUCTIONS otherwise.
Bf16Instructions FromEnvironment() {
  const int named = EnvironmentBf16Level();
  if (named >= 0) return static_cast<Bf16Instructions>(named);
  const char* env = std::getenv("MHSA_BF16_INSTRUCTIONS");
  if (env == nullptr) return Bf16Instructions::kAmx;
  if (std::strcmp(env, "0") == 0 || std::strcmp(env, "none") == 0) return Bf16Instructions::kNone;
  if (std::strcmp(env, "dot") == 0) return Bf16Instructions::kDot;
  return Bf16Instructions::kAmx;
}

}  // namespace

void PackAvx512Bf16AF32(const float* a, size_t lda, size_t m, size_t k, void* dst) {
  MHSA_DISPATCH(PairPackA12F32)(a, lda, m, k, dst);
}
void PackAvx512Bf16ABf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  MHSA_DISPATCH(PairPackA12Bf16)(a, lda, m, k, dst);
}
void PackNeonBf16AF32(const float* a, size_t lda, size_t m, size_t k, void* dst) {
  MHSA_DISPATCH(PairPackA3F32)(a, lda, m, k, dst);
}
void PackNeonBf16ABf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  MHSA_DISPATCH(PairPackA3Bf16)(a, lda, m, k, dst);
}

Bf16Instructions AllowedBf16Instructions() {
  int level = allowed.load(std::memory_order_relaxed);
  if (level < 0) {
    int expected = -1;
    allowed.compare_exchange_strong(expected, static_cast<int>(FromEnvironment()));
    level = allowed.load(std::memory_order_relaxed);
  }
  return static_cast<Bf16Instructions>(level);
}

void SetBf16Instructions(Bf16Instructions level) { allowed.store(static_cast<int>(level)); }

Bf16Instructions CpuBf16Instructions() {
  if (CpuHasAmxBf16()) return Bf16Instructions::kAmx;
  if (CpuHasAvx512Bf16() || CpuHasArmBf16()) return Bf16Instructions::kDot;
  return Bf16Instructions::kNone;
}

const Bf16Kernel* Bf16InstructionKernel(int64_t target, Bf16Instructions level) {
#if defined(__x86_64__)
  if (target <= HWY_AVX3) {  // AVX3 or a better x86 target: all have AVX-512.
    if (level == Bf16Instructions::kAmx) return &AmxBf16Kernel();
    if (level == Bf16Instructions::kDot) return &Avx512Bf16Kernel();
  }
#elif defined(__aarch64__)
  if (target == HWY_NEON && level != Bf16Instructions::kNone) return &NeonBf16Kernel();
#else
  (void)target;
  (void)level;
#endif
  return nullptr;
}

Bf16Kernel ChosenBf16Kernel() {
  const int64_t target = ChosenTarget();
  // The lower of what the CPU has and what is allowed.
  const auto level = static_cast<Bf16Instructions>(std::min(
      static_cast<int>(CpuBf16Instructions()), static_cast<int>(AllowedBf16Instructions())));
  if (const Bf16Kernel* kernel = Bf16InstructionKernel(target, level)) return *kernel;
  return HWY_DISPATCH_TABLE(HwyBf16Kernel)[DispatchIndex(target)]();
}

size_t MaxPackedABytes(size_t m, size_t k) {
  size_t bytes = 0;
  // The usable targets, as UsableTargets() but read once and without
  // allocating: this runs in every call's scratch sizing, and
  // hwy::SupportedTargets() costs a few percent of a layer call there.
  static const int64_t usable = HWY_TARGETS & hwy::SupportedTargets();
  for (int64_t rest = usable; rest != 0; rest &= rest - 1) {
    const int64_t target = rest & -rest;
    bytes = std::max(bytes,
                     HWY_DISPATCH_TABLE(HwyBf16Kernel)[DispatchIndex(target)]().PackedABytes(m, k));
    for (Bf16Instructions level : {Bf16Instructions::kDot, Bf16Instructions::kAmx}) {
      if (static_cast<int>(level) > static_cast<int>(CpuBf16Instructions())) continue;
      if (const Bf16Kernel* kernel = Bf16InstructionKernel(target, level)) {
        bytes = std::max(bytes, kernel->PackedABytes(m, k));
      }
    }
  }
  return bytes;
}

PackedBf16B::PackedBf16B(size_t n_in, size_t k_in)
    : n(n_in), k(k_in), data(PackedBf16BElements(n_in, k_in)) {}

namespace {

constexpr size_t kPairElements = 2 * kBf16Panel;  // bf16 values per k-pair of a panel.
static_assert(kKCBf16 % 2 == 0, "k-blocks must start on k-pairs");
static_assert(kKCBf16 % 32 == 0, "k-blocks on AMX k-tiles, or every block has a tail");

void PackA(const Bf16Kernel& kernel, const float* a, size_t lda, size_t m, size_t k, void* dst) {
  kernel.pack_a_f32(a, lda, m, k, dst);
}
void PackA(const Bf16Kernel& kernel, const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  kernel.pack_a_bf16(a, lda, m, k, dst);
}

template <typename T>
void GemmBf16Driver(const Bf16Kernel& kernel, const T* a, size_t lda, const PackedBf16B& b,
                    float* c, size_t ldc, size_t m, int threads, const CallScratch& scratch) {
  if (m == 0 || b.n == 0) return;
  const auto no_mask = static_cast<ptrdiff_t>(b.k + m + 1);
  threads = ThreadsForWork(
      static_cast<double>(m) * static_cast<double>(b.n) * static_cast<double>(b.k), threads);
  const GemmTasks tasks(m, b.n, kBf16Panel, threads, kMC);
  ParallelFor(threads, tasks.count(), [&](size_t t, int thread) {
    const size_t row = tasks.row(t), rows = tasks.rows(t), col = tasks.col(t), cols = tasks.cols(t);
    if (cols == 0) return;
    const uint16_t* bp = b.data.data() + col / kBf16Panel * b.pairs() * kPairElements;
    void* a_pack = scratch.thread(thread);
    // k-blocks after the first add to C. k = 0 still runs one empty block,
    // which writes C = 0.
    size_t k0 = 0;
    do {
      const size_t kc = std::min(kKCBf16, b.k - k0);
      PackA(kernel, a + row * lda + k0, lda, rows, kc, a_pack);
      kernel.tiles(a_pack, rows, bp + k0 / 2 * kPairElements, b.pairs(), cols, kc,
                   c + row * ldc + col, ldc, k0 > 0, no_mask);
      k0 += kc;
    } while (k0 < b.k);
  });
}

template <typename T>
void GemmBf16Impl(const T* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m,
                  const RunOptions& options) {
  const Bf16Kernel kernel = ChosenBf16Kernel();  // Once per call.
  const int threads = ThreadsForCall(options);
  // Per thread: the packed A of one task (96 rows x 512 steps: 96 KiB as
  // bf16 pairs, 192 KiB as floats).
  const CallScratch scratch(options, {0, kernel.PackedABytes(kMC, kKCBf16)}, threads);
  GemmBf16Driver(kernel, a, lda, b, c, ldc, m, threads, scratch);
}

}  // namespace

void PackBf16BRows(const float* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  MHSA_DISPATCH(PackBRowsF32)(b, ldb, n, k, dst);
}
void PackBf16BRows(const uint16_t* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  MHSA_DISPATCH(PackBRowsBf16)(b, ldb, n, k, dst);
}
void PackBf16BCols(const float* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  MHSA_DISPATCH(PackBColsF32)(b, ldb, n, k, dst);
}
void PackBf16BCols(const uint16_t* b, size_t ldb, size_t n, size_t k, uint16_t* dst) {
  MHSA_DISPATCH(PackBColsBf16)(b, ldb, n, k, dst);
}

void GemmBf16(const float* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m,
              const RunOptions& options) {
  GemmBf16Impl(a, lda, b, c, ldc, m, options);
}
void GemmBf16(const uint16_t* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m,
              const RunOptions& options) {
  GemmBf16Impl(a, lda, b, c, ldc, m, options);
}

ScratchNeeds GemmBf16Needs() { return {0, MaxPackedABytes(kMC, kKCBf16)}; }

void GemmBf16WithScratch(const Bf16Kernel& kernel, const float* a, size_t lda, const PackedBf16B& b,
                         float* c, size_t ldc, size_t m, int threads, const CallScratch& scratch) {
  GemmBf16Driver(kernel, a, lda, b, c, ldc, m, threads, scratch);
}

}  // namespace mhsa
#endif  // HWY_ONCE
