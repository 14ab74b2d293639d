#include "memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "blocking.h"  // kPanel, for the packed weights' padding.
#include "case_io.h"
#include "mhsa/mhsa.h"
#include "saturating.h"

namespace mhsa {
namespace cli {
namespace {

constexpr uint64_t kFloat = sizeof(float);

uint64_t RoundUp(uint64_t n, uint64_t multiple) {
  return SatMul(SatAdd(n, multiple - 1) / multiple, multiple);
}

uint64_t PageBytes() {
  const long page = sysconf(_SC_PAGE_SIZE);
  return page > 0 ? static_cast<uint64_t>(page) : 4096;
}

// MemAvailable from /proc/meminfo: free memory plus what the kernel can
// reclaim (page cache) without swapping. Total physical memory elsewhere.
uint64_t AvailablePhysicalBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return SatMul(kib, 1024);
  }
  const long pages = sysconf(_SC_PHYS_PAGES);
  return pages > 0 ? SatMul(static_cast<uint64_t>(pages), PageBytes()) : kSaturated;
}

// Field `field` of /proc/self/statm, in bytes: 0 the address space this
// process uses (libraries, heap, stacks), 5 its data and stack.
uint64_t InUse(uint64_t field) {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0;
  for (uint64_t i = 0; i <= field; ++i) {
    if (!(statm >> pages)) return 0;
  }
  return SatMul(pages, PageBytes());
}

std::string Gibibytes(uint64_t bytes) {
  if (bytes == kSaturated) return "more than 2^64 bytes";
  char text[64];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

}  // namespace

uint64_t LibraryScratchBytes(uint64_t batch, uint64_t context, uint64_t embedding_dim,
                             uint64_t attention_dim, uint64_t num_heads, uint64_t threads) {
  // Before the case is parsed its shape is unknown (zeros): nothing yet.
  if (batch == 0 || context == 0 || embedding_dim == 0 || attention_dim == 0 || num_heads == 0) {
    return 0;
  }
  // The library's own answer (it throws std::invalid_argument for sizes it
  // would refuse anyway, which the command reports as such).
  const auto as_int = [](uint64_t v) {
    return static_cast<int>(std::min<uint64_t>(v, std::numeric_limits<int>::max()));
  };
  RunOptions options;
  options.num_threads = as_int(threads);
  return MultiHeadedSelfAttention::WorkspaceBytes(as_int(embedding_dim), as_int(attention_dim),
                                                  as_int(num_heads), as_int(batch), as_int(context),
                                                  options);
}

uint64_t PeakBytes(const RunSize& run) {
  // Reading and parsing: the text, the JSON tree and the case's floats
  // (ParseBytes counts the last two). Both are freed before the layer is
  // built.
  const uint64_t parsing = SatAdd(run.input_bytes, run.parse_bytes);
  // Running, everything counted as if alive at once (the layer is in fact
  // freed before the output text is built, so this errs by at most the
  // weights):
  const uint64_t b = run.batch, t = run.context, e = run.embedding_dim, a = run.attention_dim;
  const uint64_t embedded = SatMul(kFloat, b, t, e);  // The case's floats.
  // The layer's weights, [3][attention_dim][embedding_dim] floats, three
  // times during construction (src/layer.cc): as given, a copy of every row
  // for packing, and packed in panels of kPanel rows.
  const uint64_t weights = SatMul(kFloat, 3, a, e);
  const uint64_t packed = SatMul(kFloat, RoundUp(SatMul(3, a), kPanel), e);
  const uint64_t library =
      LibraryScratchBytes(b, t, e, a, run.num_heads, std::max<uint64_t>(run.threads, 1));
  const uint64_t out = SatMul(kFloat, b, t, a);                         // Forward's result.
  const uint64_t text = run.batch == 0 ? 0 : OutputTextBytes(b, t, a);  // Its JSON.
  uint64_t running = SatAdd(embedded, SatAdd(SatMul(2, weights), packed));
  running = SatAdd(running, SatAdd(library, SatAdd(out, text)));
  return std::max(parsing, running);
}

uint64_t AvailableBytes(uint64_t threads, std::string* limit) {
  uint64_t available = AvailablePhysicalBytes();
  *limit = "available memory";
  // Every thread OpenMP starts maps a stack of RLIMIT_STACK (8 MiB when
  // unlimited, libgomp's and glibc's default), which both limits below count.
  struct rlimit stack;
  const uint64_t stack_bytes =
      getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY
          ? static_cast<uint64_t>(stack.rlim_cur)
          : uint64_t{8} << 20;
  const uint64_t stacks = SatMul(stack_bytes, threads > 0 ? threads - 1 : 0);
  // The address space (ulimit -v) bounds every mapping; the data limit
  // (ulimit -d) bounds the heap and, since Linux 4.7, private writable
  // mappings too, which is where large allocations go.
  const struct {
    int resource;
    uint64_t statm_field;  // Of /proc/self/statm: what the limit counts now.
    const char* name;
  } kLimits[] = {{RLIMIT_AS, 0, "room left under ulimit -v"},
                 {RLIMIT_DATA, 5, "room left under ulimit -d"}};
  for (const auto& rule : kLimits) {
    struct rlimit cap;
    if (getrlimit(rule.resource, &cap) != 0 || cap.rlim_cur == RLIM_INFINITY) continue;
    const uint64_t used = SatAdd(InUse(rule.statm_field), stacks);
    const auto bound = static_cast<uint64_t>(cap.rlim_cur);
    const uint64_t room = bound > used ? bound - used : 0;
    if (room < available) {
      available = room;
      *limit = rule.name;
    }
  }
  return available;
}

uint64_t MaxInputBytes(uint64_t available) {
  return std::min<uint64_t>(uint64_t{1} << 30, available / 4);
}

void CheckFits(const RunSize& run, uint64_t available, const std::string& limit) {
  const uint64_t needed = PeakBytes(run);
  if (needed > available) {
    throw CaseError("expected a case that fits in memory, this one needs " + Gibibytes(needed) +
                    " and the " + limit + " is " + Gibibytes(available));
  }
}

}  // namespace cli
}  // namespace mhsa
