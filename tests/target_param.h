// Runs a test once per SIMD target this build compiled and this CPU runs,
// forcing each through mhsa::SetTarget and checking that it is the one that
// serves the calls.
#ifndef MHSA_TESTS_TARGET_PARAM_H_
#define MHSA_TESTS_TARGET_PARAM_H_

#include <string>

#include <gtest/gtest.h>

#include "mhsa/mhsa.h"

namespace mhsa {
namespace test {

class PerTarget : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SetTarget(GetParam());
    ASSERT_EQ(std::string(ActiveTarget()), GetParam());
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
