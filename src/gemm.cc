// Per-target instantiation of the GEMM and its OpenMP driver.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "gemm-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// Rows [0, m) of C = A·Bᵀ, B prepacked; m <= kMC. One task of the driver.
void GemmTask(const float* a, size_t lda, size_t m, const float* bp, size_t n, size_t k, float* c,
              size_t ldc) {
  HWY_ALIGN float a_pack[kMC * kKC];
  GemmRowBlock(a, lda, m, bp, n, k, c, ldc, a_pack);
}

void PackRowsTarget(const float* b, size_t ldb, size_t n, size_t k, float* dst) {
  PackBFromRows(b, ldb, n, k, dst);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "dispatch.h"
#include "gemm.h"
#include "parallel.h"

namespace mhsa {

// The packed layout is the same for every target (kPanel wide); any
// target's packer writes it, so the best one does.
HWY_EXPORT(PackRowsTarget);
HWY_EXPORT(GemmTask);

PackedB::PackedB(size_t n_in, size_t k_in) : n(n_in), k(k_in), data(RoundUp(n_in, kPanel) * k_in) {}

void RepackRows(const float* rows, size_t ldb, size_t first, size_t count, PackedB* packed) {
  MHSA_DISPATCH(PackRowsTarget)
  (rows, ldb, count, packed->k, packed->data.data() + first * packed->k);
}

PackedB PackRows(const float* b, size_t ldb, size_t n, size_t k) {
  PackedB packed(n, k);
  RepackRows(b, ldb, 0, n, &packed);
  return packed;
}

void GemmPacked(const float* a, size_t lda, const PackedB& b, float* c, size_t ldc, size_t m) {
  const auto gemm_task = &MHSA_DISPATCH(GemmTask);  // Once per call.
  const auto blocks = static_cast<long>((m + kMC - 1) / kMC);
  // Each block of kMC rows is one task, owned by one thread.
#pragma omp parallel for schedule(dynamic, 1) num_threads(ThreadsForCall())
  for (long i = 0; i < blocks; ++i) {
    const size_t row = static_cast<size_t>(i) * kMC;
    gemm_task(a + row * lda, lda, std::min(kMC, m - row), b.data.data(), b.n, b.k, c + row * ldc,
              ldc);
  }
}

void GemmBt(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  GemmPacked(a, lda, PackRows(b, ldb, n, k), c, ldc, m);
}

}  // namespace mhsa
#endif  // HWY_ONCE
