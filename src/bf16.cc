// Bulk float <-> bf16 conversions, one copy per SIMD target (the vector
// pieces are bf16-inl.h's). Bit-for-bit the scalar FloatToBf16 /
// Bf16ToFloat of bf16.h (tested), which the tails use.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "bf16-inl.h"
#include "bf16.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

void FloatToBf16Target(const float* HWY_RESTRICT src, uint16_t* HWY_RESTRICT dst, size_t count) {
  NarrowToBf16(src, count, dst);
}

void Bf16ToFloatTarget(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst, size_t count) {
  WidenBf16(src, count, dst);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "dispatch.h"

namespace mhsa {

HWY_EXPORT(FloatToBf16Target);
HWY_EXPORT(Bf16ToFloatTarget);

void FloatToBf16(const float* src, uint16_t* dst, size_t count) {
  MHSA_DISPATCH(FloatToBf16Target)(src, dst, count);
}

void Bf16ToFloat(const uint16_t* src, float* dst, size_t count) {
  MHSA_DISPATCH(Bf16ToFloatTarget)(src, dst, count);
}

}  // namespace mhsa
#endif  // HWY_ONCE
