#include "cpu_features.h"

#include <cstdint>

#include "hwy/highway.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace mhsa {

#if defined(__x86_64__) || defined(__i386__)

namespace {

bool Bit(uint32_t reg, int bit) { return (reg >> bit) & 1u; }

// XCR0 through xgetbv, written as bytes so that no -mxsave is needed.
uint64_t ReadXcr0() {
  uint32_t lo, hi;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool Detect() {
  uint32_t a, b, c, d;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid(1, a, b, c, d);
  if (!Bit(c, 27)) return false;  // OSXSAVE: xgetbv is usable.
  // SSE (1), AVX (2), opmask (5), upper halves of zmm0-15 (6), zmm16-31 (7).
  const uint64_t kAvx512State = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
  if ((ReadXcr0() & kAvx512State) != kAvx512State) return false;
  __cpuid_count(7, 0, a, b, c, d);
  // AVX512F (16), AVX512DQ (17), AVX512BW (30), AVX512VL (31).
  if (!(Bit(b, 16) && Bit(b, 17) && Bit(b, 30) && Bit(b, 31))) return false;
  if (a < 1) return false;  // Subleaf 1 absent.
  __cpuid_count(7, 1, a, b, c, d);
  if (!Bit(a, 5)) return false;  // AVX512_BF16.
  return (hwy::SupportedTargets() & HWY_AVX3) != 0;
}

bool DetectAmx() {
  uint32_t a, b, c, d;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  if (!(Bit(d, 22) && Bit(d, 24))) return false;  // AMX-BF16, AMX-TILE.
  __cpuid(1, a, b, c, d);
  if (!Bit(c, 27)) return false;                        // OSXSAVE.
  const uint64_t kTileState = (1u << 17) | (1u << 18);  // XTILECFG, XTILEDATA.
  if ((ReadXcr0() & kTileState) != kTileState) return false;
#if defined(__linux__)
  // Linux (5.16+) enables the 8 KiB tile data per process on request; the
  // permission covers every thread of the process, present and future.
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtileData = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) != 0) return false;
#else
  return false;  // No known way to get the permission.
#endif
  return CpuHasAvx512Bf16();
}

}  // namespace

bool CpuHasAvx512Bf16() {
  static const bool has = Detect();
  return has;
}

bool CpuHasAmxBf16() {
  static const bool has = DetectAmx();
  return has;
}

bool CpuHasArmBf16() { return false; }

#elif defined(__aarch64__)

bool CpuHasAvx512Bf16() { return false; }
bool CpuHasAmxBf16() { return false; }

bool CpuHasArmBf16() {
#if defined(__linux__)
#ifndef HWCAP2_BF16
#define HWCAP2_BF16 (1UL << 14)  // As in the kernel's asm/hwcap.h.
#endif
  static const bool has = (getauxval(AT_HWCAP2) & HWCAP2_BF16) != 0;
  return has;
#else
  return false;
#endif
}

#else

bool CpuHasAvx512Bf16() { return false; }
bool CpuHasAmxBf16() { return false; }
bool CpuHasArmBf16() { return false; }

#endif

}  // namespace mhsa
