// main() of the GoogleTest binaries that run under mpirun: MPI around the
// tests (MPI_THREAD_FUNNELED: mhsa's OpenMP threads never call MPI), rank 0
// prints GoogleTest's report, every other rank only its own failures, each
// line prefixed with its rank, and every rank exits non-zero when any rank
// failed. Every rank runs the same tests in the same order, so the
// collective calls inside them meet; a test that broke that would hang,
// which the ctest TIMEOUT turns into a failure.
#include <mpi.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "mpi/leak_check.h"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: %s\n", rank_,
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && any && !failed) std::fprintf(stderr, "another rank failed (see above)\n");
  mhsa::CheckLeaksBeforeMpiFinalize();
  MPI_Finalize();
  return any;
}
