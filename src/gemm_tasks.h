// How the float32 and bf16 GEMMs share a product among threads.
#ifndef MHSA_SRC_GEMM_TASKS_H_
#define MHSA_SRC_GEMM_TASKS_H_

#include <algorithm>
#include <cstddef>

#include "blocking.h"

namespace mhsa {

// The tasks of an m x n product: blocks of kMC rows, and when there are
// fewer of them than two per thread, column parts too (whole panels of
// `panel` columns), so that every thread has work. Each element of C
// belongs to one task, which sums it over k in one order: the result does
// not depend on the thread count. A task past the last column is empty
// (cols(t) == 0).
struct GemmTasks {
  GemmTasks(size_t m_in, size_t n_in, size_t panel, int threads) : m(m_in), n(n_in) {
    row_blocks = (m + kMC - 1) / kMC;
    const size_t panels = (n + panel - 1) / panel;
    const size_t wanted = 2 * static_cast<size_t>(std::max(threads, 1));
    col_parts = row_blocks >= wanted ? 1 : std::min(panels, (wanted + row_blocks - 1) / row_blocks);
    cols_per_part = (panels + col_parts - 1) / col_parts * panel;
  }
  size_t count() const { return row_blocks * col_parts; }
  size_t row(size_t t) const { return t / col_parts * kMC; }
  size_t rows(size_t t) const { return std::min(kMC, m - row(t)); }
  size_t col(size_t t) const { return t % col_parts * cols_per_part; }
  size_t cols(size_t t) const { return col(t) >= n ? 0 : std::min(cols_per_part, n - col(t)); }

  size_t m, n, row_blocks = 0, col_parts = 1, cols_per_part = 0;
};

}  // namespace mhsa

#endif  // MHSA_SRC_GEMM_TASKS_H_
