// `mhsa run ... --parallel heads|sequence` across the ranks of
// MPI_COMM_WORLD (under mpirun -np N; without mpirun, one rank). Built only
// with MPI.
#ifndef MHSA_SRC_CLI_PARALLEL_H_
#define MHSA_SRC_CLI_PARALLEL_H_

namespace mhsa {
namespace cli {

// Starts and ends MPI around the run. Returns the exit code, the same on
// every rank: 0, or the code of the first rank that failed (2 refused, 1
// the result could not be written), whose one-line message rank 0 alone
// has printed.
int RunParallel(int argc, char** argv);

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_PARALLEL_H_
