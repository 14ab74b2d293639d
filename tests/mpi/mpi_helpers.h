// What the MPI tests share: the world's size and rank, and a rank's rows
// of a sequence cut out of the whole array, as ShareOfSequence assigns them.
#ifndef MHSA_TESTS_MPI_MPI_HELPERS_H_
#define MHSA_TESTS_MPI_MPI_HELPERS_H_

#include <mpi.h>

#include <cstddef>
#include <vector>

#include "mhsa/mpi.h"

namespace mhsa {
namespace test {

inline int WorldSize() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

inline int WorldRank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// whole: [batch][share.context][width] -> [batch][share.rows()][width].
inline std::vector<float> LocalRows(const std::vector<float>& whole, const mpi::SequenceShare& s,
                                    int batch, int width) {
  const auto w = static_cast<size_t>(width), t = static_cast<size_t>(s.context);
  std::vector<float> local;
  for (size_t b = 0; b < static_cast<size_t>(batch); ++b) {
    for (const mpi::Positions& chunk : {s.early, s.late}) {
      const float* first = whole.data() + (b * t + static_cast<size_t>(chunk.begin)) * w;
      local.insert(local.end(), first, first + static_cast<size_t>(chunk.size()) * w);
    }
  }
  return local;
}

// Whether every rank's `ok` is true.
inline bool AllRanks(bool ok) {
  int mine = ok ? 1 : 0, all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all == 1;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_MPI_MPI_HELPERS_H_
