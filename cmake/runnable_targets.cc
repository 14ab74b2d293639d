// Run at configure time when MHSA_RUNNABLE_TARGETS_ONLY is on
// (cmake/MhsaTargets.cmake): prints the Highway targets that a build with
// Highway's default set would compile (HWY_TARGETS) but that this machine's
// CPU cannot run, one name per line.
#include <hwy/targets.h>

#include <cstdint>
#include <cstdio>

int main() {
  int64_t lacking = HWY_TARGETS & ~hwy::SupportedTargets();
  for (; lacking != 0; lacking &= lacking - 1) {
    std::printf("%s\n", hwy::TargetName(lacking & -lacking));
  }
  return 0;
}
