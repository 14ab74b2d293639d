// Runs a test once per SIMD target this build compiled and this CPU runs,
// forcing each through mhsa::SetTarget, and proves that the code which
// serves the calls was compiled for that target: every kernel family
// exports, through its own dispatch table, a function returning the
// HWY_TARGET it was compiled for, and the fixture compares each with the
// choice. A dispatcher that reported one target and called another's code
// fails here, not only one that reported the wrong name.
#ifndef MHSA_TESTS_TARGET_PARAM_H_
#define MHSA_TESTS_TARGET_PARAM_H_

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "attention.h"
#include "dispatch.h"
#include "gemm.h"
#include "hwy/targets.h"
#include "mhsa/mhsa.h"
#include "softmax.h"

namespace mhsa {
namespace test {

// Asserts that every kernel family's dispatched code is `target`'s.
inline ::testing::AssertionResult ServedBy(int64_t target) {
  const struct {
    const char* family;
    int64_t compiled;
  } families[] = {{"gemm", GemmCompiledTarget()},
                  {"attention", AttentionCompiledTarget()},
                  {"softmax", SoftmaxCompiledTarget()}};
  for (const auto& f : families) {
    if (f.compiled != target) {
      return ::testing::AssertionFailure()
             << f.family << " runs code compiled for " << hwy::TargetName(f.compiled)
             << ", expected " << hwy::TargetName(target);
    }
  }
  return ::testing::AssertionSuccess();
}

class PerTarget : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SetTarget(GetParam());
    ASSERT_EQ(std::string(hwy::TargetName(ChosenTarget())), GetParam());
    ASSERT_TRUE(ServedBy(ChosenTarget()));
  }
  void TearDown() override { SetTarget(""); }
};

inline std::string TargetTestName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace test
}  // namespace mhsa

#define MHSA_INSTANTIATE_PER_TARGET(suite)                                                     \
  INSTANTIATE_TEST_SUITE_P(AllTargets, suite, ::testing::ValuesIn(::mhsa::AvailableTargets()), \
                           ::mhsa::test::TargetTestName)

#endif  // MHSA_TESTS_TARGET_PARAM_H_
