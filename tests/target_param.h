// Runs a test once per SIMD target this build compiled and this CPU runs,
// forcing each through mhsa::SetTarget, and proves that the code which
// serves the calls was compiled for that target: every kernel family
// exports, through its own dispatch table, a function returning the
// HWY_TARGET it was compiled for, and the fixture compares each with the
// choice. A dispatcher that reported one target and called another's code
// fails here, not only one that reported the wrong name.
//
// The bf16 tests run on the pseudo-targets too ("AVX3_AMX", "AVX3_BF16",
// "NEON_BF16": the bf16 instruction kernels on top of their SIMD target),
// and the fixture proves the bf16 GEMM kernel as well: its name, and for the
// instruction kernels that they really ran (see Bf16InstructionsRan).
#ifndef MHSA_TESTS_TARGET_PARAM_H_
#define MHSA_TESTS_TARGET_PARAM_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "attention.h"
#include "dispatch.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "hwy/targets.h"
#include "mhsa/mhsa.h"
#include "softmax.h"

namespace mhsa {
namespace test {

// Whether the bf16 GEMM's products just ran on bf16 instructions (AMX,
// vdpbf16ps, BFDOT) rather than on a widening-FMA kernel: the instructions
// do not consult the floating-point control register and treat a bf16
// subnormal input as zero, so 2^-130 (a bf16 subnormal) times 2^10 gives 0
// on them and exactly 2^-120 on FMA. Proves which kind of code ran, not
// only which was named.
inline bool Bf16InstructionsRan() {
  const float a = std::ldexp(1.0f, -130), b = std::ldexp(1.0f, 10);
  const PackedBf16B packed = PackBf16FromRows(&b, 1, 1, 1);
  float c = std::numeric_limits<float>::quiet_NaN();
  GemmBf16(&a, 1, packed, &c, 1, 1);
  return c == 0.0f;
}

// Asserts that the code serving `name` (one of AvailableTargets()) is its:
// every kernel family's dispatched code was compiled for its SIMD target,
// and the bf16 GEMM kernel is the named pseudo-target's (and ran bf16
// instructions) or the SIMD target's widening kernel (and did not).
inline ::testing::AssertionResult ServedBy(const std::string& name) {
  int64_t target = 0;
  bool pseudo = false;
  for (const NamedTarget& named : NamedTargets()) {
    if (named.name == name) {
      target = named.target;
      pseudo = named.bf16_level != static_cast<int>(Bf16Instructions::kNone);
    }
  }
  if (target == 0) return ::testing::AssertionFailure() << name << " is not an available target";
  const struct {
    const char* family;
    int64_t compiled;
  } families[] = {{"gemm", GemmCompiledTarget()},
                  {"attention", AttentionCompiledTarget()},
                  {"attention_bf16", AttentionBf16CompiledTarget()},
                  {"softmax", SoftmaxCompiledTarget()}};
  for (const auto& f : families) {
    if (f.compiled != target) {
      return ::testing::AssertionFailure()
             << f.family << " runs code compiled for " << hwy::TargetName(f.compiled)
             << ", expected " << hwy::TargetName(target);
    }
  }
  // The widening kernel's name is its compiled HWY_TARGET's.
  const std::string kernel = ChosenBf16Kernel().name;
  const std::string expected = pseudo ? name : hwy::TargetName(target);
  if (kernel != expected) {
    return ::testing::AssertionFailure()
           << "the bf16 GEMM runs kernel " << kernel << ", expected " << expected;
  }
  if (Bf16InstructionsRan() != pseudo) {
    return ::testing::AssertionFailure()
           << "the bf16 GEMM " << (pseudo ? "did not run" : "ran") << " bf16 instructions";
  }
  return ::testing::AssertionSuccess();
}

class PerTarget : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SetTarget(GetParam());
    ASSERT_EQ(std::string(ActiveTarget()), GetParam());
    ASSERT_TRUE(ServedBy(GetParam()));
  }
  void TearDown() override { SetTarget(""); }
};

inline std::string TargetTestName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// The SIMD targets alone (float32 tests: a pseudo-target runs their code).
inline std::vector<std::string> SimdTargets() {
  std::vector<std::string> names;
  for (int64_t target : UsableTargets()) names.emplace_back(hwy::TargetName(target));
  return names;
}

}  // namespace test
}  // namespace mhsa

#define MHSA_INSTANTIATE_PER_TARGET(suite)                                                      \
  INSTANTIATE_TEST_SUITE_P(AllTargets, suite, ::testing::ValuesIn(::mhsa::test::SimdTargets()), \
                           ::mhsa::test::TargetTestName)

// Every name of AvailableTargets(): the SIMD targets and the pseudo-targets
// (bf16 tests: on x86 with AMX, AVX3_AMX, AVX3_BF16 and AVX3 are the bf16
// instructions AMX, dot and none on the same SIMD target).
#define MHSA_INSTANTIATE_PER_TARGET_AND_BF16_KERNEL(suite)                                     \
  INSTANTIATE_TEST_SUITE_P(AllTargets, suite, ::testing::ValuesIn(::mhsa::AvailableTargets()), \
                           ::mhsa::test::TargetTestName)

#endif  // MHSA_TESTS_TARGET_PARAM_H_
