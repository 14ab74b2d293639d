// Bulk float <-> bf16 conversions, one copy per SIMD target. Bit-for-bit the
// scalar FloatToBf16 / Bf16ToFloat of bf16.h (tested), which the tails use.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

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
  const auto one = hn::Set(di, 1);
  const auto round = hn::Set(di, 0x7FFF);
  const auto quiet = hn::Set(di, 0x0040);
  size_t i = 0;
  for (; i + n <= count; i += n) {
    const auto v = hn::LoadU(df, src + i);
    const auto bits = hn::BitCast(di, v);
    // Logical shifts: the sign bit must not spread. ShiftRight on a signed
    // lane is arithmetic, so shift the unsigned view.
    const hn::RebindToUnsigned<decltype(df)> du;
    const auto upper = [&](decltype(bits) x) {
      return hn::BitCast(di, hn::ShiftRight<16>(hn::BitCast(du, x)));
    };
    // Ties to even, as in the scalar FloatToBf16.
    const auto rounded = upper(hn::Add(bits, hn::Add(round, hn::And(upper(bits), one))));
    const auto nan = hn::Or(upper(bits), quiet);
    const auto h = hn::IfThenElse(hn::RebindMask(di, hn::IsNaN(v)), nan, rounded);
    // Every lane is now in [0, 0xFFFF], so the saturating demotion is exact.
    hn::StoreU(hn::DemoteTo(du16, h), du16, dst + i);
  }
  for (; i < count; ++i) dst[i] = FloatToBf16(src[i]);
}

void Bf16ToFloatTarget(const uint16_t* HWY_RESTRICT src, float* HWY_RESTRICT dst, size_t count) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const size_t n = hn::Lanes(df);
  size_t i = 0;
  for (; i + n <= count; i += n) {
    const auto wide = hn::PromoteTo(du, hn::LoadU(du16, src + i));
    hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(wide)), df, dst + i);
  }
  for (; i < count; ++i) dst[i] = Bf16ToFloat(src[i]);
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
