// Argument checks of the mhsa::mpi calls. Each throws std::invalid_argument
// ("mhsa: expected ..., got ...") on the calling rank; the calls catch it
// and agree on it with the other ranks (agree.h) before anything moves.
#ifndef MHSA_SRC_MPI_ARGS_H_
#define MHSA_SRC_MPI_ARGS_H_

#include <cstddef>
#include <initializer_list>
#include <string>

#include "mhsa/mpi.h"

namespace mhsa {
namespace mpi {

[[noreturn]] void Invalid(const std::string& message);

void CheckPositive(const char* name, long long value);
void CheckNotNull(const char* name, const void* pointer);

// num_threads >= 0 and no caller workspace (see ParallelOptions::run).
void CheckRunOptions(const RunOptions& run);

// [a, a + a_floats) and [b, b + b_floats) must not overlap.
void CheckDisjoint(const char* a_name, const float* a, size_t a_floats, const char* b_name,
                   const float* b, size_t b_floats);

// `share` must be ShareOfSequence(share.context, ranks, rank): made for a
// communicator of this size, for this rank, and not edited by hand.
void CheckShare(const SequenceShare& share, int ranks, int rank);

// MPI counts are ints: one message of `floats` floats must fit in one.
void CheckMessage(const char* what, size_t floats);

// a * b * ..., throwing when the product overflows size_t.
size_t CheckedProduct(const char* what, std::initializer_list<size_t> factors);

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_SRC_MPI_ARGS_H_
