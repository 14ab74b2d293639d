// Per-target instantiation and dispatch of the standalone causal softmax.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "softmax.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

void CausalSoftmaxRows(float* scores, size_t ld, size_t rows, size_t cols, size_t first_query,
                       float scale) {
  for (size_t r = 0; r < rows; ++r) {
    const size_t valid = std::min(cols, first_query + r + 1);
    CausalSoftmaxRow(scores + r * ld, valid, cols, scale);
  }
}

void ExpRow(const float* x, float* out, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Exp(d, hn::LoadU(d, x + i)), d, out + i);
  for (; i < n; ++i) {
    const auto one = hn::Set(d, x[i]);
    out[i] = hn::GetLane(hn::Exp(d, one));
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "dispatch.h"
#include "softmax.h"

namespace mhsa {

HWY_EXPORT(CausalSoftmaxRows);
HWY_EXPORT(ExpRow);

void VectorExp(const float* x, float* out, size_t n) { MHSA_DISPATCH(ExpRow)(x, out, n); }

void CausalSoftmax(float* scores, size_t ld, size_t rows, size_t cols, size_t first_query,
                   float scale) {
  MHSA_DISPATCH(CausalSoftmaxRows)(scores, ld, rows, cols, first_query, scale);
}

}  // namespace mhsa
#endif  // HWY_ONCE
