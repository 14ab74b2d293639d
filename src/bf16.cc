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
namespace hn = hwy::HWY_NAMESPACE;

void FloatToBf16Target(const float* HWY_RESTRICT src, uint16_t* HWY_RESTRICT dst, size_t count) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const size_t n = hn::Lanes(df);
  size_t i = 0;
  for (; i + n <= count; i += n) {
    // Every lane is in [0, 0xFFFF], so the saturating demotion is exact.
    const auto h = hn::BitCast(di, Bf16BitsOf(df, hn::LoadU(df, src + i)));
    hn::StoreU(hn::DemoteTo(du16, h), du16, dst + i);
  }
  for (; i < count; ++i) dst[i] = FloatToBf16(src[i]);
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
