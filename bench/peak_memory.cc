#include "peak_memory.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mhsa::bench {
namespace {

// A "Key:   123 kB" line of /proc/self/status in KiB, or -1.
long StatusKib(const char* key) {
  std::FILE* file = std::fopen("/proc/self/status", "r");
  if (file == nullptr) return -1;
  char line[256];
  long value = -1;
  const size_t key_length = std::strlen(key);
  while (std::fgets(line, sizeof(line), file) != nullptr) {
    if (std::strncmp(line, key, key_length) == 0 && line[key_length] == ':') {
      value = std::strtol(line + key_length + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(file);
  return value;
}

bool ResetHighWaterMark() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "w");
  if (file == nullptr) return false;
  const bool written = std::fputs("5", file) >= 0;
  return std::fclose(file) == 0 && written;
}

long MaxRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux.
}

}  // namespace

PeakMemory::PeakMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  const long rss = StatusKib("VmRSS");
  rss_kib_ = rss;
  reset_works_ = rss >= 0 && ResetHighWaterMark() && StatusKib("VmHWM") >= 0;
  baseline_kib_ = reset_works_ ? rss : MaxRssKib();
}

double PeakMemory::HeldMiB() const {
#if defined(__GLIBC__)
  // Memory freed since (scratch, temporaries) may still be mapped: glibc
  // serves blocks below its dynamic mmap threshold from the heap and keeps
  // them. Returned first, it is not counted as held.
  malloc_trim(0);
#endif
  const long rss = StatusKib("VmRSS");
  if (rss < 0 || rss_kib_ < 0) return 0.0;
  return static_cast<double>(std::max(0L, rss - rss_kib_)) / 1024.0;
}

double PeakMemory::ExtraMiB() const {
  const long peak = reset_works_ ? StatusKib("VmHWM") : MaxRssKib();
  return static_cast<double>(std::max(0L, peak - baseline_kib_)) / 1024.0;
}

const char* PeakMemory::Method() const {
  return reset_works_ ? "VmHWM after reset (/proc/self/clear_refs) - VmRSS before"
                      : "getrusage ru_maxrss delta (a lower bound)";
}

}  // namespace mhsa::bench
