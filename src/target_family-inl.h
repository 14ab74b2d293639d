// The register file of the SIMD target being compiled, by target family
// rather than by exact target, so that a newer Highway's AVX3_ZEN4 or
// AVX3_SPR, or its NEON variants, get their family's register tiles.
// Included by the per-target kernels (through foreach_target.h).

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_TARGET_FAMILY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_TARGET_FAMILY_INL_H_
#undef MHSA_SRC_TARGET_FAMILY_INL_H_
#else
#define MHSA_SRC_TARGET_FAMILY_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

enum class Family {
  kAvx512,  // x86 AVX3 and better (lower Highway bits): 32 zmm, FMA
  kAvx2,    // 16 ymm, FMA
  kNeon,    // AArch64 NEON (SVE is left out, cmake/MhsaTargets.cmake): 32 q, FMA
  kNarrow,  // SSE4, SSSE3, EMU128: 16 four-lane registers, no FMA
  kScalar,  // one lane: the compiler's registers, not ours
};

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
inline constexpr Family kFamily = Family::kAvx512;
#elif HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
inline constexpr Family kFamily = Family::kAvx2;
#elif HWY_ARCH_ARM_A64 && !HWY_HAVE_SCALABLE && HWY_TARGET != HWY_EMU128 && HWY_TARGET != HWY_SCALAR
inline constexpr Family kFamily = Family::kNeon;
#elif HWY_TARGET == HWY_SCALAR
inline constexpr Family kFamily = Family::kScalar;
#else
inline constexpr Family kFamily = Family::kNarrow;
#endif

// Vector registers a register tile may budget for (0: not ours to budget).
inline constexpr size_t kVectorRegisters = kFamily == Family::kAvx512 || kFamily == Family::kNeon
                                               ? 32
                                           : kFamily == Family::kScalar ? 0
                                                                        : 16;

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_TARGET_FAMILY_INL_H_
