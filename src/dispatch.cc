#include "dispatch.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "mhsa/mhsa.h"

namespace mhsa {
namespace {

int64_t Parse(const std::string& name) {
  std::string known;
  for (int64_t target : UsableTargets()) {
    if (name == hwy::TargetName(target)) return target;
    known += (known.empty() ? "" : ", ") + std::string(hwy::TargetName(target));
  }
  throw std::invalid_argument("mhsa: expected a SIMD target among " + known + ", got '" + name +
                              "'");
}

// 0 until first use. An MHSA_TARGET that names no usable target is ignored
// here (the library never aborts or prints); SetTarget reports it instead,
// and the command line checks the variable through SetTarget.
std::atomic<int64_t> chosen{0};

int64_t Initial() {
  if (const char* env = std::getenv("MHSA_TARGET"); env != nullptr && *env) {
    try {
      return Parse(env);
    } catch (const std::invalid_argument&) {
    }
  }
  return UsableTargets().front();
}

}  // namespace

std::vector<int64_t> UsableTargets() {
  std::vector<int64_t> targets;
  for (int64_t rest = HWY_TARGETS & hwy::SupportedTargets(); rest != 0; rest &= rest - 1) {
    targets.push_back(rest & -rest);  // Lower bits are better targets.
  }
  return targets;
}

int64_t ChosenTarget() {
  int64_t target = chosen.load(std::memory_order_relaxed);
  if (target == 0) {
    int64_t expected = 0;
    chosen.compare_exchange_strong(expected, Initial());
    target = chosen.load(std::memory_order_relaxed);
  }
  return target;
}

const char* ActiveTarget() { return hwy::TargetName(ChosenTarget()); }

std::vector<std::string> AvailableTargets() {
  std::vector<std::string> names;
  for (int64_t target : UsableTargets()) names.emplace_back(hwy::TargetName(target));
  return names;
}

void SetTarget(const std::string& name) {
  chosen.store(name.empty() ? UsableTargets().front() : Parse(name));
}

}  // namespace mhsa
