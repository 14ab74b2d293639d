// What both attention paths (attention.cc in float32, attention_bf16.cc
// with bf16 products) do once a query row's softmax is complete, for one
// SIMD target: write the row, or a decode chunk's partial result.

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_ATTENTION_INL_H_
#undef MHSA_SRC_ATTENTION_INL_H_
#else
#define MHSA_SRC_ATTENTION_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <limits>

#include "attention.h"
#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// Writes what a finished query row gives: out = acc / l, or NaN for a row
// that saw a NaN or +inf score or only -inf ones, or zeros for a row that
// sees no key; lse (if not null) log(sum exp(s)).
inline void FinishRow(const float* HWY_RESTRICT acc, const OnlineRow& state, bool sees_keys,
                      size_t dim, float* HWY_RESTRICT dst, float* lse) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  if (!sees_keys) {
    FillRow(dst, dim, 0.0f);
    if (lse != nullptr) *lse = -kInf;
    return;
  }
  if (state.bad || state.max == -kInf) {
    FillRow(dst, dim, kNaN);
    if (lse != nullptr) *lse = state.bad ? kNaN : -kInf;
    return;
  }
  const float inverse = 1.0f / state.sum;
  for (size_t d = 0; d < dim; ++d) dst[d] = acc[d] * inverse;
  if (lse != nullptr) *lse = LogSumExp(state.max, state.sum);
}

// The end of a decode chunk for the group's `rows` rows (query head
// r / q_len, position r % q_len), their accumulators acc ([rows][head_dim])
// and running softmaxes: unnormalised partial results at `partial` (see
// PartialStride), or, with partial == nullptr (the chunk holds every key
// the rows see), the finished rows written to out and lse.
inline void EndDecodeChunk(const GroupTask& t, const float* HWY_RESTRICT acc,
                           const OnlineRow* state, const size_t* limit, size_t rows,
                           float* partial) {
  const size_t dim = t.head_dim;
  if (partial == nullptr) {
    for (size_t r = 0; r < rows; ++r) {
      const size_t head = r / t.q_len, i = r % t.q_len;
      FinishRow(
          acc + r * dim, state[r], limit[r] > 0, dim,
          t.out + static_cast<ptrdiff_t>(head) * t.out_head + static_cast<ptrdiff_t>(i) * t.out_pos,
          t.Lse(head, i));
    }
    return;
  }
  const size_t stride = PartialStride(dim);
  for (size_t r = 0; r < rows; ++r) {
    float* dst = partial + r * stride;
    std::copy(acc + r * dim, acc + (r + 1) * dim, dst);
    dst[dim] = state[r].bad ? std::numeric_limits<float>::quiet_NaN() : state[r].max;
    dst[dim + 1] = state[r].sum;
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_ATTENTION_INL_H_
