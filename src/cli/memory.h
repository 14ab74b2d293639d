// What a run of the `mhsa` command allocates, and what this process may
// allocate, so that a case too big for the machine is refused with one line
// before the work starts rather than ending in std::bad_alloc halfway, or in
// the kernel's OOM killer.
#ifndef MHSA_SRC_CLI_MEMORY_H_
#define MHSA_SRC_CLI_MEMORY_H_

#include <cstdint>
#include <string>

namespace mhsa {
namespace cli {

// A run's sizes. Before the case is parsed only the input's are known; the
// shape's are then 0.
struct RunSize {
  uint64_t input_bytes = 0;  // The case's text.
  uint64_t parse_bytes = 0;  // ParseBytes(text): the JSON tree and the floats.
  uint64_t batch = 0, context = 0, embedding_dim = 0, attention_dim = 0, num_heads = 0;
  uint64_t threads = 1;  // OpenMP threads a Forward call may use.
};

// The library's scratch for one Forward call at these sizes, as the library
// reports it (MultiHeadedSelfAttention::WorkspaceBytes): the qkv buffer and,
// per thread, the attention's and the GEMM's blocks.
uint64_t LibraryScratchBytes(uint64_t batch, uint64_t context, uint64_t embedding_dim,
                             uint64_t attention_dim, uint64_t num_heads, uint64_t threads);

// The most memory the run holds at once, in bytes, saturating at 2^64 - 1.
uint64_t PeakBytes(const RunSize& run);

// What this process may still allocate: the smallest of the memory the
// kernel reports available (MemAvailable; physical memory where that is
// unknown) and, under an address-space or data limit (ulimit -v, ulimit -d),
// the room left below it once the threads to come have their stacks.
// `limit` receives which it is, for messages. A cgroup's memory limit is not
// read.
uint64_t AvailableBytes(uint64_t threads, std::string* limit);

// The most input the command reads from --input: 1 GiB (~100 million
// numbers of JSON; bigger cases are past what a text format serves), and no
// more than a quarter of `available`, since while a pipe's text is read the
// growing buffer's old and new copies coexist (up to 3x) and the parse
// still needs room. Stops a read of an input that never ends (/dev/zero).
uint64_t MaxInputBytes(uint64_t available);

// Throws CaseError, one line naming both figures and the limit, when `run`
// needs more than `available`.
void CheckFits(const RunSize& run, uint64_t available, const std::string& limit);

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_MEMORY_H_
