// The SIMD target named by MHSA_TARGET is the one that serves calls.
// .ci/targets and .ci/arm64 run the whole suite once per target by setting
// the variable; since the library ignores a name it cannot use (it never
// aborts or prints), a misspelt or unavailable name would silently test the
// default target N times. This test makes such a run fail instead.
// ctest runs each test in a fresh process, so nothing has chosen a target
// before the first call here.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mhsa/mhsa.h"

namespace mhsa {
namespace {

TEST(Targets, EnvironmentChoiceServes) {
  const std::vector<std::string> available = AvailableTargets();
  ASSERT_FALSE(available.empty());
  const char* env = std::getenv("MHSA_TARGET");
  if (env == nullptr || *env == '\0') {
    EXPECT_EQ(std::string(ActiveTarget()), available.front()) << "the best target serves";
    return;
  }
  ASSERT_NE(std::find(available.begin(), available.end(), env), available.end())
      << "MHSA_TARGET=" << env << " is not among this build's usable targets";
  EXPECT_EQ(std::string(ActiveTarget()), env);
  // And it keeps serving: a Forward call does not re-choose.
  const MultiHeadedSelfAttention layer(4, 4, 2);
  const std::vector<float> x(8, 0.5f);
  std::vector<float> out(8);
  layer.Forward(x.data(), 1, 2, out.data());
  EXPECT_EQ(std::string(ActiveTarget()), env);
}

}  // namespace
}  // namespace mhsa
