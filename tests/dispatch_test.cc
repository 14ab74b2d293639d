// The SIMD target named by MHSA_TARGET is the one that serves calls.
// .ci/targets and .ci/arm64 run the whole suite once per target by setting
// the variable; since the library falls back to the best target for a name
// it cannot use (it never aborts or prints), a misspelt or unavailable name
// would silently test the default target N times. EnvironmentChoiceServes
// makes such a run fail instead. The other tests pin what an unusable name
// does: the best target serves and TargetEnvironmentError() says why.
// ctest runs each test in a fresh process, so nothing has chosen a target
// before the first call here; the tests that set the variable themselves run
// their checks in a child process of their own.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dispatch.h"
#include "mhsa/mhsa.h"
#include "target_param.h"

namespace mhsa {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

// The name with every other letter in the other case: "aVx2".
std::string Mixed(std::string s) {
  for (size_t i = 0; i < s.size(); i += 2) {
    if (s[i] >= 'A' && s[i] <= 'Z') s[i] = static_cast<char>(s[i] - 'A' + 'a');
  }
  return s;
}

TEST(Targets, EnvironmentChoiceServes) {
  const std::vector<std::string> available = AvailableTargets();
  ASSERT_FALSE(available.empty());
  const char* env = std::getenv("MHSA_TARGET");
  if (env == nullptr || *env == '\0') {
    EXPECT_EQ(std::string(ActiveTarget()), available.front()) << "the best target serves";
    EXPECT_EQ(TargetEnvironmentError(), "");
    return;
  }
  ASSERT_EQ(TargetEnvironmentError(), "")
      << "MHSA_TARGET=" << env << " is not among this build's usable targets";
  const auto named = std::find_if(available.begin(), available.end(), [&](const std::string& name) {
    return Lower(name) == Lower(env);
  });
  ASSERT_NE(named, available.end());
  EXPECT_EQ(std::string(ActiveTarget()), *named);
  // The code that runs is that target's, in every kernel family (the name
  // alone would not prove it), and a Forward call does not re-choose.
  EXPECT_TRUE(test::ServedBy(ActiveTarget()));
  const MultiHeadedSelfAttention layer(4, 4, 2);
  const std::vector<float> x(8, 0.5f);
  std::vector<float> out(8);
  layer.Forward(x.data(), 1, 2, out.data());
  EXPECT_EQ(std::string(ActiveTarget()), *named);
  EXPECT_TRUE(test::ServedBy(ActiveTarget()));
}

TEST(Targets, NamesMatchInAnyCase) {
  const std::vector<int64_t> usable = UsableTargets();
  for (int64_t target : usable) {
    const std::string name = hwy::TargetName(target);
    for (const std::string& spelling : {name, Lower(name), Mixed(name)}) {
      const TargetChoice choice = ChooseTarget(spelling.c_str());
      EXPECT_EQ(choice.target, target) << spelling;
      EXPECT_EQ(choice.error, "") << spelling;
    }
  }
  for (const char* unset : {static_cast<const char*>(nullptr), ""}) {
    const TargetChoice choice = ChooseTarget(unset);
    EXPECT_EQ(choice.target, usable.front());
    EXPECT_EQ(choice.error, "");
  }
}

// Pseudo-targets name the bf16 instructions on top of their SIMD target;
// the SIMD target's own name turns them off; "" is the best of all. Each
// choice is proven by the code that runs (ServedBy), not by the name alone.
TEST(Targets, PseudoTargetsSwitchBf16Instructions) {
  const std::vector<NamedTarget> named = NamedTargets();
  ASSERT_EQ(named.front().name, AvailableTargets().front());
  for (const NamedTarget& choice : named) {
    for (const std::string& spelling : {choice.name, Lower(choice.name)}) {
      SetTarget(spelling);
      EXPECT_EQ(std::string(ActiveTarget()), choice.name);
      EXPECT_TRUE(test::ServedBy(choice.name)) << spelling;
      const TargetChoice from_environment = ChooseTarget(spelling.c_str());
      EXPECT_EQ(from_environment.target, choice.target) << spelling;
      EXPECT_EQ(from_environment.bf16_level, choice.bf16_level) << spelling;
    }
    // A pseudo-target immediately precedes its SIMD target.
    if (choice.bf16_level != static_cast<int>(Bf16Instructions::kNone)) {
      EXPECT_EQ(choice.name.rfind(hwy::TargetName(choice.target), 0), 0u) << choice.name;
    }
  }
  SetTarget("");
  EXPECT_EQ(std::string(ActiveTarget()), named.front().name);
  if (CpuBf16Instructions() == Bf16Instructions::kNone) {
    for (const NamedTarget& choice : named) EXPECT_EQ(choice.name, hwy::TargetName(choice.target));
  }
}

TEST(Targets, UnusableNameFallsBackToTheBestAndSaysWhy) {
  const std::vector<int64_t> usable = UsableTargets();
  const std::string huge(100000, 'A');
  for (const std::string& value :
       {std::string("garbage"), std::string("AVX9000"), std::string(" AVX2"),
        std::string(hwy::TargetName(usable.front())) + " ", std::string("SSE4\n"), huge}) {
    const TargetChoice choice = ChooseTarget(value.c_str());
    EXPECT_EQ(choice.target, usable.front()) << value.substr(0, 20);
    // One short line that quotes the value and lists what would work.
    EXPECT_NE(choice.error.find("MHSA_TARGET"), std::string::npos) << choice.error;
    EXPECT_NE(choice.error.find(value.substr(0, 4)), std::string::npos) << choice.error;
    for (int64_t target : usable) {
      EXPECT_NE(choice.error.find(hwy::TargetName(target)), std::string::npos) << choice.error;
    }
    EXPECT_EQ(choice.error.find('\n'), std::string::npos) << choice.error;
    EXPECT_LT(choice.error.size(), 300u) << choice.error.substr(0, 300);
  }
}

// In a child process, so that the variable is read by a library that has not
// chosen yet: `check` returns "" when the choice is right, else why not.
template <typename Check>
void InFreshProcess(const char* value, Check check) {
#if defined(MHSA_TEST_UNDER_EMULATOR)
  // Under qemu-user the binary cannot be re-executed (the host's execv does
  // not run aarch64 code): fork only. ctest runs each test in a process of
  // its own, so nothing has chosen a target before the fork either.
  GTEST_FLAG_SET(death_test_style, "fast");
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // Re-executes the binary.
#endif
  EXPECT_EXIT(
      {
        setenv("MHSA_TARGET", value, 1);
        const std::string problem = check();
        std::fprintf(stderr, "%s", problem.c_str());
        std::exit(problem.empty() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "")
      << "MHSA_TARGET=" << value;
}

TEST(Targets, UnusableEnvironmentServesTheBestVisibly) {
  InFreshProcess("garbage", [] {
    const std::string best = AvailableTargets().front();
    if (ActiveTarget() != best) return "serves " + std::string(ActiveTarget()) + ", not " + best;
    const std::string error = TargetEnvironmentError();
    if (error.find("'garbage'") == std::string::npos) return "error lacks the value: " + error;
    SetTarget(AvailableTargets().back());  // A later good choice serves...
    if (ActiveTarget() != AvailableTargets().back()) return std::string("SetTarget ignored");
    // ...and the variable's problem stays reported.
    if (TargetEnvironmentError() != error) return "error changed: " + TargetEnvironmentError();
    return std::string();
  });
}

// MHSA_TARGET naming a SIMD target turns the bf16 instructions off even
// when MHSA_BF16_INSTRUCTIONS allows them; naming a pseudo-target turns its
// instructions on even when that variable says none.
TEST(Targets, EnvironmentTargetDecidesBf16Instructions) {
  const std::vector<NamedTarget> named = NamedTargets();
  for (const NamedTarget& choice : named) {
    const bool pseudo = choice.bf16_level != static_cast<int>(Bf16Instructions::kNone);
    if (!pseudo && choice.target != named.front().target) continue;
    const std::string name = choice.name;
    const char* other = pseudo ? "none" : "amx";
    InFreshProcess(Lower(name).c_str(), [name, other] {
      setenv("MHSA_BF16_INSTRUCTIONS", other, 1);
      if (ActiveTarget() != name) return "serves " + std::string(ActiveTarget()) + ", not " + name;
      if (!test::ServedBy(name)) return "the code that runs is not " + name + "'s";
      return std::string();
    });
  }
}

TEST(Targets, LowerCaseEnvironmentServes) {
  const std::string last = AvailableTargets().back();  // Never the default where there are two.
  InFreshProcess(Lower(last).c_str(), [last] {
    if (ActiveTarget() != last) return "serves " + std::string(ActiveTarget()) + ", not " + last;
    if (!TargetEnvironmentError().empty()) return "error: " + TargetEnvironmentError();
    return std::string();
  });
}

TEST(Targets, SetTargetRefusesUnknownNamesAndMatchesAnyCase) {
  const std::string before = ActiveTarget();
  EXPECT_THROW(SetTarget("AVX9000"), std::invalid_argument);
  EXPECT_EQ(std::string(ActiveTarget()), before);  // A refused name changes nothing.
  ASSERT_FALSE(AvailableTargets().empty());
  const std::string last = AvailableTargets().back();
  SetTarget(Lower(last));
  EXPECT_EQ(std::string(ActiveTarget()), last);
  EXPECT_TRUE(test::ServedBy(ActiveTarget()));
  SetTarget("");  // The best one.
  EXPECT_EQ(std::string(ActiveTarget()), AvailableTargets().front());
  EXPECT_TRUE(test::ServedBy(ActiveTarget()));
}

}  // namespace
}  // namespace mhsa
