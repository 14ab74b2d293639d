#include "dispatch.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm_bf16.h"
#include "mhsa/mhsa.h"

namespace mhsa {
namespace {

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool SameNameIgnoringCase(const std::string& a, const char* b) {
  size_t i = 0;
  for (; i < a.size() && b[i] != '\0'; ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return i == a.size() && b[i] == '\0';
}

// The name as a message may quote it: an environment variable can be
// megabytes long, and a message is one short line.
std::string Quoted(const std::string& name) {
  constexpr size_t kMaxChars = 40;
  std::string quoted = "'";
  for (size_t i = 0; i < name.size() && i < kMaxChars; ++i) {
    const auto byte = static_cast<unsigned char>(name[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      quoted += name[i];
    } else {
      static const char kHex[] = "0123456789abcdef";
      quoted += {'\\', 'x', kHex[byte >> 4], kHex[byte & 15]};
    }
  }
  quoted += name.size() > kMaxChars ? "'... (" + std::to_string(name.size()) + " bytes)" : "'";
  return quoted;
}

// The usable target named `name` in any case, or one with target 0 and
// `*error` saying what was expected. `what` names where the name came from.
NamedTarget Find(const std::string& name, const char* what, std::string* error) {
  std::string known;
  for (const NamedTarget& named : NamedTargets()) {
    if (SameNameIgnoringCase(name, named.name.c_str())) return named;
    known += (known.empty() ? "" : ", ") + named.name;
  }
  *error = std::string("mhsa: expected ") + what + " among " + known + " (any case), got " +
           Quoted(name);
  return NamedTarget{"", 0, -1};
}

// What MHSA_TARGET asks for, read once: the target it names, or the best one
// with the reason when it names none this build and CPU can run.
const TargetChoice& EnvironmentChoice() {
  static const TargetChoice choice = ChooseTarget(std::getenv("MHSA_TARGET"));
  return choice;
}

// 0 until first use, then the target serving calls: the environment's
// choice until SetTarget replaces it.
std::atomic<int64_t> chosen{0};

}  // namespace

std::vector<int64_t> UsableTargets() {
  std::vector<int64_t> targets;
  for (int64_t rest = HWY_TARGETS & hwy::SupportedTargets(); rest != 0; rest &= rest - 1) {
    targets.push_back(rest & -rest);  // Lower bits are better targets.
  }
  return targets;
}

std::vector<NamedTarget> NamedTargets() {
  std::vector<NamedTarget> names;
  const int cpu = static_cast<int>(CpuBf16Instructions());
  for (int64_t target : UsableTargets()) {
    // Best first: AMX, then the dot-product instructions. A kernel extends
    // the best target of its family only (AVX3, not also a better AVX3_*).
    for (Bf16Instructions level : {Bf16Instructions::kAmx, Bf16Instructions::kDot}) {
      if (static_cast<int>(level) > cpu) continue;
      const Bf16Kernel* kernel = Bf16InstructionKernel(target, level);
      if (kernel == nullptr) continue;
      bool listed = false;
      for (const NamedTarget& named : names) listed = listed || named.name == kernel->name;
      if (!listed) names.push_back({kernel->name, target, static_cast<int>(level)});
    }
    names.push_back({hwy::TargetName(target), target, static_cast<int>(Bf16Instructions::kNone)});
  }
  return names;
}

TargetChoice ChooseTarget(const char* env) {
  TargetChoice choice;
  if (env != nullptr && *env != '\0') {
    const NamedTarget named = Find(env, "MHSA_TARGET", &choice.error);
    choice.target = named.target;
    choice.bf16_level = named.bf16_level;
  }
  // A library must not print or throw at first use: an unusable name falls
  // back to the best target, and TargetEnvironmentError() says why.
  if (choice.target == 0) choice.target = UsableTargets().front();
  return choice;
}

int EnvironmentBf16Level() { return EnvironmentChoice().bf16_level; }

int64_t ChosenTarget() {
  int64_t target = chosen.load(std::memory_order_relaxed);
  if (target == 0) {
    int64_t expected = 0;
    chosen.compare_exchange_strong(expected, EnvironmentChoice().target);
    target = chosen.load(std::memory_order_relaxed);
  }
  return target;
}

// The instruction kernel's name when one serves the bf16 products, else
// the SIMD target's.
const char* ActiveTarget() {
  const int64_t target = ChosenTarget();
  const auto level = static_cast<Bf16Instructions>(std::min(
      static_cast<int>(CpuBf16Instructions()), static_cast<int>(AllowedBf16Instructions())));
  const Bf16Kernel* kernel = Bf16InstructionKernel(target, level);
  return kernel != nullptr ? kernel->name : hwy::TargetName(target);
}

std::vector<std::string> AvailableTargets() {
  std::vector<std::string> names;
  for (const NamedTarget& named : NamedTargets()) names.push_back(named.name);
  return names;
}

std::string TargetEnvironmentError() { return EnvironmentChoice().error; }

void SetTarget(const std::string& name) {
  if (name.empty()) {
    chosen.store(UsableTargets().front());
    SetBf16Instructions(Bf16Instructions::kAmx);  // The best: all allowed.
    return;
  }
  std::string error;
  const NamedTarget named = Find(name, "a SIMD target", &error);
  if (named.target == 0) throw std::invalid_argument(error);
  chosen.store(named.target);
  SetBf16Instructions(static_cast<Bf16Instructions>(named.bf16_level));
}

}  // namespace mhsa
