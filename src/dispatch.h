// Run-time choice of the SIMD target, owned by mhsa rather than by Highway's
// process-wide state: MHSA_TARGET (or SetTarget) restricts mhsa alone, and a
// test can force each compiled target in turn.
//
// Each kernel family's .cc compiles itself once per target through
// foreach_target.h and HWY_EXPORTs its entry points; MHSA_DISPATCH(Fn) picks
// the entry of the chosen target from that table, as HWY_DYNAMIC_DISPATCH
// would with Highway's own choice.
#ifndef MHSA_SRC_DISPATCH_H_
#define MHSA_SRC_DISPATCH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <hwy/highway.h>

namespace mhsa {

// The Highway target bit (HWY_AVX3, HWY_AVX2, ..., HWY_SCALAR) that serves
// calls now: the best one compiled in and supported by this CPU, unless
// restricted by MHSA_TARGET or SetTarget.
int64_t ChosenTarget();

// Targets this build compiled and this CPU runs, best first, as Highway
// target bits.
std::vector<int64_t> UsableTargets();

// The names MHSA_TARGET and SetTarget accept, best first: each usable SIMD
// target, preceded by its pseudo-targets (the bf16 instruction kernels that
// extend it and that this CPU runs, e.g. "AVX3_AMX", "AVX3_BF16"), with the
// bf16 instructions each allows (Bf16Instructions as an int: a SIMD
// target's name allows none).
struct NamedTarget {
  std::string name;
  int64_t target;
  int bf16_level;
};
std::vector<NamedTarget> NamedTargets();

// What an MHSA_TARGET value selects: the usable target it names in any case
// (error empty), or, for a null or empty value, the best target (error
// empty), or, for any other value, the best target and an error naming the
// value and the usable targets. bf16_level: the bf16 instructions the name
// allows, or -1 when it names none (then MHSA_BF16_INSTRUCTIONS decides).
// The library reads the variable once, through this, at first use; tests
// call it with their own values.
struct TargetChoice {
  int64_t target = 0;
  int bf16_level = -1;
  std::string error;
};
TargetChoice ChooseTarget(const char* env);

// The bf16_level of MHSA_TARGET's choice (read once).
int EnvironmentBf16Level();

// Position of `target` in a table made by HWY_EXPORT, in the layout that
// hwy::ChosenTarget::GetIndex uses: entry 0 is Highway's own initialising
// stub, then the dynamic targets, then the scalar fallback.
inline size_t DispatchIndex(int64_t target) {
  const int64_t shifted = HWY_CHOSEN_TARGET_SHIFT(target);
  const int64_t mask = shifted != 0 ? shifted : HWY_CHOSEN_TARGET_MASK_SCALAR;
  return hwy::Num0BitsBelowLS1Bit_Nonzero64(static_cast<uint64_t>(mask));
}

}  // namespace mhsa

#define MHSA_DISPATCH(FUNC) \
  (*HWY_DISPATCH_TABLE(FUNC)[::mhsa::DispatchIndex(::mhsa::ChosenTarget())])

#endif  // MHSA_SRC_DISPATCH_H_
