// Merging attention results of the same query rows over disjoint key sets
// through their log-sum-exp (Attention's `lse` output), as the ring does
// with the partial result of each key block:
//   lse' = log(exp(lse) + exp(lse_part))
//   out' = exp(lse - lse') * out + exp(lse_part - lse') * out_part
// Exact in real arithmetic; here in double, rounded once to float per merge.
#ifndef MHSA_SRC_MPI_MERGE_H_
#define MHSA_SRC_MPI_MERGE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace mhsa {
namespace mpi {

// The lse of a row before any partial: no key seen. Its out is not read.
inline constexpr double kNoKeys = -std::numeric_limits<double>::infinity();

// Folds one partial row (part[0, dim), part_lse) into the running row
// (out[0, dim), *lse). A NaN lse on either side (a row that saw a NaN or
// +inf score) makes the row NaN for good, as one kernel call would; a
// part_lse of -inf (no key with a finite score) changes nothing.
inline void MergePartial(float* out, double* lse, const float* part, float part_lse, size_t dim) {
  if (std::isnan(*lse)) return;
  if (std::isnan(part_lse)) {
    std::fill(out, out + dim, std::numeric_limits<float>::quiet_NaN());
    *lse = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  if (part_lse == -std::numeric_limits<float>::infinity()) return;
  if (*lse == kNoKeys) {  // The first partial is copied exactly.
    std::copy(part, part + dim, out);
    *lse = part_lse;
    return;
  }
  const double m = std::max(*lse, static_cast<double>(part_lse));
  const double w_old = std::exp(*lse - m), w_part = std::exp(part_lse - m);
  const double sum = w_old + w_part;
  for (size_t d = 0; d < dim; ++d) {
    out[d] = static_cast<float>((w_old * out[d] + w_part * part[d]) / sum);
  }
  *lse = m + std::log(sum);
}

// After every block: a row that still has lse = -inf saw only -inf scores
// (every query sees at least its own key), which the kernel, like torch,
// turns into NaN.
inline void FinishMerged(float* out, double lse, size_t dim) {
  if (lse == kNoKeys) std::fill(out, out + dim, std::numeric_limits<float>::quiet_NaN());
}

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_SRC_MPI_MERGE_H_
