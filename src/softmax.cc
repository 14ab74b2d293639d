// Per-target instantiation and dispatch of the standalone causal softmax.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "softmax.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

void CausalSoftmaxTarget(float* scores, size_t ld, size_t rows, size_t cols, ptrdiff_t first_query,
                         float scale) {
  for (size_t r = 0; r < rows; ++r) {
    const ptrdiff_t last = first_query + static_cast<ptrdiff_t>(r);  // Last visible column.
    const size_t valid = last < 0 ? 0 : std::min(cols, static_cast<size_t>(last) + 1);
    CausalSoftmaxRow(scores + r * ld, valid, cols, scale);
  }
}

void ExpRow(const float* x, float* out, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(SoftmaxExp(d, hn::LoadU(d, x + i)), d, out + i);
  for (; i < n; ++i) {
    const auto one = hn::Set(d, x[i]);
    out[i] = hn::GetLane(SoftmaxExp(d, one));
  }
}

int64_t SoftmaxTargetId() { return HWY_TARGET; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "checks.h"
#include "dispatch.h"
#include "mhsa/attention.h"
#include "softmax.h"

namespace mhsa {

HWY_EXPORT(CausalSoftmaxTarget);
HWY_EXPORT(ExpRow);
HWY_EXPORT(SoftmaxTargetId);

int64_t SoftmaxCompiledTarget() { return MHSA_DISPATCH(SoftmaxTargetId)(); }

void VectorExp(const float* x, float* out, size_t n) { MHSA_DISPATCH(ExpRow)(x, out, n); }

void CausalSoftmaxRows(float* scores, size_t ld, size_t rows, size_t cols, ptrdiff_t first_query,
                       float scale) {
  MHSA_DISPATCH(CausalSoftmaxTarget)(scores, ld, rows, cols, first_query, scale);
}

void CausalSoftmax(float* scores, int rows, int cols, int ld, float scale) {
  CheckNonNegative("rows", rows);
  CheckNonNegative("cols", cols);
  CheckLeadingDimension("ld", ld, cols);
  CheckedMatrixCount("scores", rows, cols, ld);
  if (rows == 0 || cols == 0) return;
  CheckNotNull("scores", scores);
  // Bottom-right: the last row sees every column.
  CausalSoftmaxRows(scores, static_cast<size_t>(ld), static_cast<size_t>(rows),
                    static_cast<size_t>(cols), static_cast<ptrdiff_t>(cols) - rows, scale);
}

}  // namespace mhsa
#endif  // HWY_ONCE
