// Moving a sequence's rows between one rank's whole array and every rank's
// local rows (ShareOfSequence): each rank's rows are described to MPI as
// one indexed datatype over the whole array, so nothing is copied twice and
// the root needs no staging buffer.
#include <mpi.h>

#include <new>
#include <stdexcept>
#include <vector>

#include "agree.h"
#include "args.h"
#include "mhsa/mpi.h"

namespace mhsa {
namespace mpi {
namespace {

enum class Direction { kScatter, kGather };

// One call's bookkeeping, allocated before the ranks agree: the block
// lists of one rank's datatype (2 x batch blocks at most) and the requests
// (one per rank at the root, plus its own).
struct Transfer {
  MPI_Comm comm = MPI_COMM_NULL;  // the call's own: its messages never meet the caller's
  int ranks = 1, rank = 0;
  std::vector<int> lengths;
  std::vector<MPI_Aint> displacements;
  std::vector<MPI_Request> requests;

  // Rank `share.rank`'s rows inside [batch][context][width], in local
  // order: per sequence, the early chunk's rows, then the late chunk's.
  MPI_Datatype RowsOf(const SequenceShare& share, int batch, int width) {
    lengths.clear();
    displacements.clear();
    for (int b = 0; b < batch; ++b) {
      for (const Positions& chunk : {share.early, share.late}) {
        if (chunk.size() == 0) continue;
        lengths.push_back(chunk.size() * width);
        displacements.push_back(
            static_cast<MPI_Aint>((static_cast<size_t>(b) * static_cast<size_t>(share.context) +
                                   static_cast<size_t>(chunk.begin)) *
                                  static_cast<size_t>(width) * sizeof(float)));
      }
    }
    MPI_Datatype type;
    MPI_Type_create_hindexed(static_cast<int>(lengths.size()), lengths.data(), displacements.data(),
                             MPI_FLOAT, &type);
    MPI_Type_commit(&type);
    return type;
  }
};

// Checks the arguments, allocates the bookkeeping, agrees with the other
// ranks, and gives the call its own communicator (freed by the caller).
Transfer Prepare(MPI_Comm comm, const SequenceShare& share, int batch, int width,
                 const float* whole, const float* local, int root, Direction direction) {
  Transfer t;
  CheckCommunicator(comm, &t.ranks, &t.rank);
  LocalVerdict verdict;
  verdict.what[0] = direction == Direction::kScatter
                        ? "call and sizes (ScatterSequence; batch, width, context, root)"
                        : "call and sizes (GatherSequence; batch, width, context, root)";
  try {
    CheckPositive("batch", batch);
    CheckPositive("width", width);
    CheckShare(share, t.ranks, t.rank);
    if (root < 0 || root >= t.ranks) {
      Invalid("expected root in [0, " + std::to_string(t.ranks) + "), got " + std::to_string(root));
    }
    const auto b = static_cast<size_t>(batch), w = static_cast<size_t>(width);
    const size_t whole_floats =
        CheckedProduct("the whole array", {b, static_cast<size_t>(share.context), w});
    for (int r = 0; r < t.ranks; ++r) {
      const SequenceShare s = ShareOfSequence(share.context, t.ranks, r);
      CheckMessage("one rank's rows",
                   CheckedProduct("one rank's rows", {b, static_cast<size_t>(s.rows()), w}));
    }
    if (share.rows() > 0) CheckNotNull("local", local);
    if (t.rank == root) {
      CheckNotNull("whole", whole);
      CheckDisjoint("whole", whole, whole_floats, "local", local,
                    b * static_cast<size_t>(share.rows()) * w);
    }
    t.lengths.reserve(2 * b);
    t.displacements.reserve(2 * b);
    t.requests.reserve(static_cast<size_t>(t.ranks) + 1);
    Hash64 sizes;
    sizes.Add(direction == Direction::kScatter ? 1 : 2);
    for (const int size : {batch, width, share.context, root}) {
      sizes.Add(static_cast<uint64_t>(size));
    }
    verdict.fingerprint[0] = sizes.value();
  } catch (const std::invalid_argument& error) {
    verdict.error = error.what();
  } catch (const std::bad_alloc&) {
    verdict.out_of_memory = true;
  }
  Agree(comm, verdict);
  MPI_Comm_dup(comm, &t.comm);
  return t;
}

}  // namespace

namespace {

// Posts one non-blocking message of t's call: a send of `data`, or a receive
// into it (then the caller's buffer is writable; MPI takes one pointer type
// for both).
void Post(Transfer& t, bool send, const float* data, int count, MPI_Datatype type, int peer) {
  t.requests.emplace_back();
  if (send) {
    MPI_Isend(data, count, type, peer, 0, t.comm, &t.requests.back());
  } else {
    MPI_Irecv(const_cast<float*>(data), count, type, peer, 0, t.comm, &t.requests.back());
  }
}

// The scatter, or the gather: the root exchanges with each rank that has
// rows one message of the rows' type over `whole`; each rank exchanges its
// own rows as one contiguous message of `local`. Every receive is posted
// before the root's own send, which it matches.
void Exchange(Transfer& t, const SequenceShare& share, int batch, int width, const float* whole,
              const float* local, int root, Direction direction) {
  const bool scatter = direction == Direction::kScatter;
  const int local_count = batch * share.rows() * width;
  if (scatter && share.rows() > 0) Post(t, false, local, local_count, MPI_FLOAT, root);
  if (t.rank == root) {
    for (int r = 0; r < t.ranks; ++r) {
      const SequenceShare s = ShareOfSequence(share.context, t.ranks, r);
      if (s.rows() == 0) continue;
      MPI_Datatype type = t.RowsOf(s, batch, width);
      Post(t, scatter, whole, 1, type, r);
      MPI_Type_free(&type);  // Freed once the message is done with it.
    }
  }
  if (!scatter && share.rows() > 0) Post(t, true, local, local_count, MPI_FLOAT, root);
  MPI_Waitall(static_cast<int>(t.requests.size()), t.requests.data(), MPI_STATUSES_IGNORE);
  MPI_Comm_free(&t.comm);
}

}  // namespace

void ScatterSequence(MPI_Comm comm, const SequenceShare& share, int batch, int width,
                     const float* whole, float* local, int root) {
  Transfer t = Prepare(comm, share, batch, width, whole, local, root, Direction::kScatter);
  Exchange(t, share, batch, width, whole, local, root, Direction::kScatter);
}

void GatherSequence(MPI_Comm comm, const SequenceShare& share, int batch, int width,
                    const float* local, float* whole, int root) {
  Transfer t = Prepare(comm, share, batch, width, whole, local, root, Direction::kGather);
  Exchange(t, share, batch, width, whole, local, root, Direction::kGather);
}

}  // namespace mpi
}  // namespace mhsa
