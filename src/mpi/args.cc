#include "args.h"

#include <climits>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace mhsa {
namespace mpi {

void Invalid(const std::string& message) { throw std::invalid_argument("mhsa: " + message); }

void CheckPositive(const char* name, long long value) {
  if (value <= 0) Invalid(std::string("expected ") + name + " > 0, got " + std::to_string(value));
}

void CheckNotNull(const char* name, const void* pointer) {
  if (pointer == nullptr)
    Invalid(std::string("expected a non-null ") + name + " pointer, got nullptr");
}

void CheckRunOptions(const RunOptions& run) {
  if (run.num_threads < 0) {
    Invalid("expected num_threads >= 0, got " + std::to_string(run.num_threads));
  }
  if (run.workspace != nullptr) {
    Invalid(
        "expected no workspace in ParallelOptions::run (the parallel calls allocate their "
        "buffers before the ranks agree), got one");
  }
}

void CheckDisjoint(const char* a_name, const float* a, size_t a_floats, const char* b_name,
                   const float* b, size_t b_floats) {
  if (a_floats == 0 || b_floats == 0) return;
  const auto a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  if (a0 < b0 + b_floats * sizeof(float) && b0 < a0 + a_floats * sizeof(float)) {
    Invalid(std::string("expected ") + a_name + " not to overlap " + b_name +
            ", got overlapping arrays");
  }
}

void CheckShare(const SequenceShare& share, int ranks, int rank) {
  if (share.ranks != ranks) {
    Invalid("expected a SequenceShare made for a communicator of " + std::to_string(ranks) +
            " ranks (this one's size), got one made for " + std::to_string(share.ranks));
  }
  if (share.rank != rank) {
    Invalid("expected the SequenceShare of rank " + std::to_string(rank) +
            " (this rank), got rank " + std::to_string(share.rank) + "'s");
  }
  CheckPositive("context", share.context);
  const SequenceShare want = ShareOfSequence(share.context, ranks, rank);
  if (share.early.begin != want.early.begin || share.early.end != want.early.end ||
      share.late.begin != want.late.begin || share.late.end != want.late.end) {
    Invalid("expected ShareOfSequence(" + std::to_string(share.context) + ", " +
            std::to_string(ranks) + ", " + std::to_string(rank) + "): positions [" +
            std::to_string(want.early.begin) + ", " + std::to_string(want.early.end) + ") and [" +
            std::to_string(want.late.begin) + ", " + std::to_string(want.late.end) + "), got [" +
            std::to_string(share.early.begin) + ", " + std::to_string(share.early.end) + ") and [" +
            std::to_string(share.late.begin) + ", " + std::to_string(share.late.end) + ")");
  }
}

void CheckMessage(const char* what, size_t floats) {
  if (floats > static_cast<size_t>(INT_MAX)) {
    Invalid(std::string("expected ") + what + " to fit in one MPI message (at most " +
            std::to_string(INT_MAX) + " floats, MPI counts being ints), got " +
            std::to_string(floats) + " floats: the case cannot be split this way");
  }
}

size_t CheckedProduct(const char* what, std::initializer_list<size_t> factors) {
  size_t product = 1;
  for (const size_t f : factors) {
    if (f != 0 && product > std::numeric_limits<size_t>::max() / sizeof(float) / f) {
      Invalid(std::string("expected ") + what + " to fit in memory, got a size that overflows");
    }
    product *= f;
  }
  return product;
}

}  // namespace mpi
}  // namespace mhsa
