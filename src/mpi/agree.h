// The ranks' common verdict before a collective call moves any data: every
// rank checks its own arguments and fingerprints what must be the same
// everywhere (sizes, weights, replicated inputs), then one MPI_Allgather
// tells every rank every other rank's result, so that all of them throw
// the same exception, or none does. A rank that threw alone would leave the
// others waiting forever in the call's first exchange.
#ifndef MHSA_SRC_MPI_AGREE_H_
#define MHSA_SRC_MPI_AGREE_H_

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mhsa {
namespace mpi {

// A 64-bit hash of words and bytes, for comparing data across ranks (not
// for security): four independent lanes of splitmix64's mixer, so that
// hashing megabytes of weights costs about a millisecond.
class Hash64 {
 public:
  void Add(uint64_t word);
  void AddBytes(const void* data, size_t bytes);
  uint64_t value() const;

 private:
  uint64_t lanes_[4] = {1, 2, 3, 4};
  uint64_t count_ = 0;  // Words added, which also picks the lane.
};

// What one rank found before agreeing.
struct LocalVerdict {
  // Things that must be equal on every rank: their hashes and names for the
  // message ("sizes", "weights", ...); unused slots keep a null name.
  static constexpr int kFingerprints = 3;
  uint64_t fingerprint[kFingerprints] = {0, 0, 0};
  const char* what[kFingerprints] = {nullptr, nullptr, nullptr};
  std::string error;           // This rank's argument error ("mhsa: ..."), or "".
  bool out_of_memory = false;  // This rank's buffers could not be allocated.
};

// Collective over comm. Returns normally on every rank, or throws on every
// rank: std::invalid_argument with the first faulty rank's message (prefixed
// with its rank), or naming the ranks whose fingerprints differ from rank
// 0's; std::bad_alloc when only allocations failed.
void Agree(MPI_Comm comm, const LocalVerdict& mine);

// Checks that MPI is initialised and not finalised, and that comm is an
// intracommunicator (not MPI_COMM_NULL): what must hold before the ranks
// can agree on anything. Throws std::invalid_argument on the calling rank
// only. Returns comm's size and this rank.
void CheckCommunicator(MPI_Comm comm, int* size, int* rank);

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_SRC_MPI_AGREE_H_
