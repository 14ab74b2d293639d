// mhsa across the ranks of an MPI communicator: the layer of mhsa.h with its
// heads, or its sequence, split over the ranks. An optional component: the
// library mhsa::mpi (CMake target mhsa_mpi), built when CMake finds MPI;
// mhsa::mhsa itself never depends on MPI. Plain C++ on MPI's C API.
//
// Every function here is collective over `comm`: every rank calls it, with a
// layer of the same sizes and weights and the same sizes and options. The
// arguments are checked on every rank and the ranks agree on the verdict
// (one small MPI_Allgather) before any data moves and before any compute:
// when one rank's arguments are wrong, when the ranks' layers, sizes or
// (for ForwardHeads) inputs differ, or when the communicator does not have
// the size a split was made for, every rank throws std::invalid_argument
// with the same one-line message, naming the first rank at fault, and no
// rank is left waiting. A buffer that cannot be allocated on any rank makes
// every rank throw std::bad_alloc. Past that point nothing allocates or
// throws; an MPI failure goes to comm's error handler
// (MPI_ERRORS_ARE_FATAL unless the caller set another). What makes
// agreeing impossible (MPI not initialised, MPI_COMM_NULL, an
// intercommunicator) is refused by each rank on its own.
//
// MPI is called from the calling thread only, while mhsa's OpenMP threads
// compute: MPI_Init_thread with MPI_THREAD_FUNNELED is enough when the call
// is made from the main thread.
#ifndef MHSA_MPI_H_
#define MHSA_MPI_H_

#include <mpi.h>

#include <cstddef>
#include <cstdint>

#include "mhsa/mhsa.h"

namespace mhsa {
namespace mpi {

// Heads [first, first + count) of rank `rank` out of `ranks`: the heads in
// order, the first num_heads % ranks ranks one more than the others; count
// is 0 on the ranks past num_heads when there are more ranks than heads.
struct HeadShare {
  int first = 0;
  int count = 0;
};
HeadShare ShareOfHeads(int num_heads, int ranks, int rank);

// Positions [begin, end) of a sequence.
struct Positions {
  int begin = 0;
  int end = 0;
  int size() const { return end - begin; }
};

// The sequence-parallel split: `context` positions cut into 2 x ranks
// chunks as even as possible (the first context % (2 x ranks) chunks one
// position longer); rank r holds chunk r (`early`) and chunk 2 x ranks - 1 - r
// (`late`), so that under the causal mask, where a later query sees more
// keys, every rank has the same work. Chunks are empty when context <
// 2 x ranks. A rank's local rows are its early positions, then its late ones.
struct SequenceShare {
  int context = 0;
  int ranks = 0;
  int rank = 0;
  Positions early, late;
  int rows() const { return early.size() + late.size(); }
};
SequenceShare ShareOfSequence(int context, int ranks, int rank);

// What one call did on this rank, for measuring (docs/scaling.md) and tests.
struct ParallelStats {
  // Payload bytes this rank handed to MPI to send: point-to-point sends,
  // and for a collective this rank's own contribution (the bytes on the
  // wire then depend on MPI's algorithm for it). Agreement and checks
  // (a few dozen bytes per rank) are not counted.
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t messages_sent = 0;
  // Bytes of the buffers the call allocated for itself: the weights as
  // Sgemm's B, projections, key and value blocks, partial results, and
  // the kernels' workspace (handed to them, so they use no scratch of
  // their own). The caller's arrays are not counted.
  size_t buffer_bytes = 0;
  // Wall time computing (projections and attention) and blocked in MPI
  // after the computing was done (waiting for the ring's next block, the
  // all-gather): what overlap could not hide.
  double compute_seconds = 0;
  double wait_seconds = 0;
};

enum class SequenceAlgorithm {
  // Ring attention: each rank's key and value block travels around the
  // ring (MPI_Isend / MPI_Irecv of the next block overlapping the attention
  // of the block in hand); each query chunk attends to each block it may
  // see (its own chunk under the causal mask, earlier chunks without it,
  // later chunks skipped) and the partial results are merged through their
  // log-sum-exp. Holds two blocks of keys and values (about 2 x context /
  // ranks positions) per rank. Equal to Forward by the project's error
  // rule (tests/error_rule.h), not bitwise: the partial sums are merged in
  // another order than one kernel call sums them.
  kRing,
  // The same ring, but every rank keeps each block it receives, then runs
  // each of its chunks through the single-process kernel in one call over
  // all the keys that chunk sees: bitwise equal to Forward, since the
  // kernel computes every query row in an order that does not depend on
  // which other rows share the call. Holds the keys and values of the whole
  // context per rank, and computes only once the ring is done (no overlap).
  kGathered,
};

struct ParallelOptions {
  SequenceAlgorithm algorithm = SequenceAlgorithm::kRing;  // ForwardSequence only
  // Threads per rank (num_threads). workspace must be nullptr: these calls
  // allocate their buffers before the ranks agree, so that a failed
  // allocation is agreed on like any other error.
  RunOptions run;
  ParallelStats* stats = nullptr;  // filled when not null
};

// Head-parallel forward. Every rank passes the whole input, embedded:
// [batch][context][embedding_dim] (the same on every rank: checked),
// computes the projections and attention of its ShareOfHeads, and receives
// the whole output, out: [batch][context][attention_dim], through one
// MPI_Allgatherv. Bitwise equal to layer.Forward(embedded, batch, context,
// out): the projection sums each element over embedding_dim in one fixed
// order whatever columns a rank computes, and one head's attention does not
// depend on the others.
void ForwardHeads(const MultiHeadedSelfAttention& layer, MPI_Comm comm, const float* embedded,
                  int batch, int context, float* out,
                  const ParallelOptions& options = ParallelOptions());

// Sequence-parallel forward. `share` must be ShareOfSequence(context, size
// of comm, rank in comm). local_embedded: [batch][share.rows()][embedding_dim],
// this rank's rows of each sequence (early chunk, then late chunk);
// local_out: [batch][share.rows()][attention_dim], the same rows of
// Forward's output. See SequenceAlgorithm for the two ways.
void ForwardSequence(const MultiHeadedSelfAttention& layer, MPI_Comm comm,
                     const SequenceShare& share, const float* local_embedded, int batch,
                     float* local_out, const ParallelOptions& options = ParallelOptions());

// Moves rows between one rank's whole array, [batch][context][width] on
// `root` (ignored elsewhere), and every rank's local rows,
// [batch][share.rows()][width]. `share` is as for ForwardSequence.
void ScatterSequence(MPI_Comm comm, const SequenceShare& share, int batch, int width,
                     const float* whole, float* local, int root);
void GatherSequence(MPI_Comm comm, const SequenceShare& share, int batch, int width,
                    const float* local, float* whole, int root);

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_MPI_H_
