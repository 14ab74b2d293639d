// Blocks travelling around a ring of ranks: at step s (0 <= s < ranks) this
// rank holds the block of rank (rank - s) mod ranks, and while it works on
// that block the next one is already on its way: Begin(s) posts MPI_Irecv of
// the next block from the previous rank and MPI_Isend of the block in hand
// to the next rank; End(s) waits for both. Two buffers take turns: the one
// being sent is only read until End, the other is being received into.
#ifndef MHSA_SRC_MPI_RING_H_
#define MHSA_SRC_MPI_RING_H_

#include <mpi.h>

#include <cstddef>
#include <vector>

#include "mhsa/mpi.h"

namespace mhsa {
namespace mpi {

class RingPass {
 public:
  // block_floats[r]: floats of rank r's block (each fits in an int).
  // first holds this rank's own block; first and second each hold any
  // rank's block. stats (may be null) counts the sends, receives and waits.
  RingPass(MPI_Comm comm, std::vector<size_t> block_floats, float* first, float* second,
           ParallelStats* stats);

  int steps() const { return ranks_; }
  int Source(int step) const { return ((rank_ - step) % ranks_ + ranks_) % ranks_; }
  const float* Block(int step) const { return buffers_[step % 2]; }
  size_t BlockFloats(int step) const { return block_floats_[static_cast<size_t>(Source(step))]; }

  void Begin(int step);
  // Lets MPI move the messages in flight: Open MPI without an asynchronous
  // progress thread advances a large (rendezvous) transfer only inside MPI
  // calls, so the ring calls this between its kernel calls.
  void Progress();
  void End(int step);

 private:
  MPI_Comm comm_;
  int ranks_ = 1, rank_ = 0;
  std::vector<size_t> block_floats_;
  float* buffers_[2];
  MPI_Request requests_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  ParallelStats* stats_;
};

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_SRC_MPI_RING_H_
