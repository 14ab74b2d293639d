// The OpenMP policy, in one place: use every thread OpenMP offers
// (OMP_NUM_THREADS is honoured), but only one when the caller is already
// inside an active parallel region, so that a user's own parallel loop around
// Forward neither oversubscribes the machine nor deadlocks.
#ifndef MHSA_SRC_PARALLEL_H_
#define MHSA_SRC_PARALLEL_H_

#include <omp.h>

namespace mhsa {

inline int ThreadsForCall() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

}  // namespace mhsa

#endif  // MHSA_SRC_PARALLEL_H_
