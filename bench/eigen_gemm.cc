// The Eigen peer's GEMMs on row-major strided views of the caller's arrays.
// Eigen parallelises a product with OpenMP when it is compiled with it, and
// runs it on the calling thread inside a parallel region.
#include "eigen_gemm.h"

#include <Eigen/Core>

namespace mhsa::bench {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstView = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
using View = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;

Eigen::Index Index(size_t value) { return static_cast<Eigen::Index>(value); }

}  // namespace

void EigenGemmBt(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
                 size_t m, size_t n, size_t k) {
  const ConstView a_view(a, Index(m), Index(k), Eigen::OuterStride<>(Index(lda)));
  const ConstView b_view(b, Index(n), Index(k), Eigen::OuterStride<>(Index(ldb)));
  View c_view(c, Index(m), Index(n), Eigen::OuterStride<>(Index(ldc)));
  c_view.noalias() = a_view * b_view.transpose();
}

void EigenGemmNn(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc,
                 size_t m, size_t n, size_t k) {
  const ConstView a_view(a, Index(m), Index(k), Eigen::OuterStride<>(Index(lda)));
  const ConstView b_view(b, Index(k), Index(n), Eigen::OuterStride<>(Index(ldb)));
  View c_view(c, Index(m), Index(n), Eigen::OuterStride<>(Index(ldc)));
  c_view.noalias() = a_view * b_view;
}

void EigenSetThreads(int threads) { Eigen::setNbThreads(threads); }

const char* EigenSimd() { return Eigen::SimdInstructionSetsInUse(); }

}  // namespace mhsa::bench
