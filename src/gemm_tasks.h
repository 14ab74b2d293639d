// How the float32 and bf16 GEMMs share a product among threads.
#ifndef MHSA_SRC_GEMM_TASKS_H_
#define MHSA_SRC_GEMM_TASKS_H_

#include <algorithm>
#include <cstddef>

#include "blocking.h"

namespace mhsa {

// The tasks of an m x n product: blocks of at most kMC rows, made of whole
// `quantum`s of rows (a multiple of the kernels' tile heights) and as even
// as the quantum allows, their count a multiple of the thread count when
// there are at least two blocks per thread (11 blocks of 96 rows on 2
// threads would leave one thread idle for a twelfth of the time; 12 blocks
// of 84-96 rows do not). When there are fewer, columns are split too
// (whole panels of `panel` columns), so that every thread has work.
// With max_cols > 0, columns are also split into parts of at most max_cols,
// and the tasks run part by part (all row blocks of part 0, then of part
// 1, ...): a thread's consecutive tasks then use the same part of B, which
// stays in its L2, and the threads read the same part from L3 together.
// With chunk_blocks > 0 as well, the row blocks are taken chunk_blocks at a
// time, every part over one chunk before the next chunk: the chunk's rows of
// A are then read from cache by every part, where a tall A read whole by
// each part (4096 x 768 floats, with a C that does not fit L3 beside it)
// came from memory every time.
// Each element of C belongs to one task, which sums it over k in one order:
// the result depends on neither the split nor the thread count. A task past
// the last column is empty (cols(t) == 0).
struct GemmTasks {
  GemmTasks(size_t m_in, size_t n_in, size_t panel, int threads, size_t quantum,
            size_t max_cols = 0, size_t chunk_blocks = 0)
      : m(m_in), n(n_in), quantum_(quantum) {
    const size_t team = static_cast<size_t>(std::max(threads, 1));
    units_ = (m + quantum - 1) / quantum;
    const size_t max_units = kMC / quantum;
    row_blocks = (units_ + max_units - 1) / max_units;
    const size_t wanted = 2 * team;
    if (row_blocks >= wanted) row_blocks = std::min(units_, RoundUp(row_blocks, team));
    const size_t panels = (n + panel - 1) / panel;
    col_parts = row_blocks >= wanted ? 1 : std::min(panels, (wanted + row_blocks - 1) / row_blocks);
    const size_t max_panels = max_cols / panel;
    if (max_panels > 0 && panels > max_panels * col_parts) {
      col_parts = (panels + max_panels - 1) / max_panels;
      by_part_ = true;
    }
    cols_per_part = (panels + col_parts - 1) / col_parts * panel;
    chunk_ = by_part_ && chunk_blocks > 0 ? std::min(chunk_blocks, row_blocks) : row_blocks;
  }
  size_t count() const { return row_blocks * col_parts; }
  size_t row(size_t t) const { return BlockStart(RowBlock(t)); }
  size_t rows(size_t t) const { return BlockStart(RowBlock(t) + 1) - row(t); }
  size_t col(size_t t) const { return ColPart(t) * cols_per_part; }
  size_t cols(size_t t) const { return col(t) >= n ? 0 : std::min(cols_per_part, n - col(t)); }

  size_t m, n, row_blocks = 0, col_parts = 1, cols_per_part = 0;

 private:
  // By parts: task t is in chunk t / (chunk_ * col_parts), whose blocks
  // (chunk_ of them, fewer in the last chunk) it takes part by part.
  size_t ChunkFirst(size_t t) const { return t / (chunk_ * col_parts) * chunk_; }
  size_t ChunkBlocks(size_t t) const { return std::min(chunk_, row_blocks - ChunkFirst(t)); }
  size_t InChunk(size_t t) const { return t - ChunkFirst(t) * col_parts; }
  size_t RowBlock(size_t t) const {
    return by_part_ ? ChunkFirst(t) + InChunk(t) % ChunkBlocks(t) : t / col_parts;
  }
  size_t ColPart(size_t t) const { return by_part_ ? InChunk(t) / ChunkBlocks(t) : t % col_parts; }
  // First row of row block b (b == row_blocks: m). The first units %
  // row_blocks blocks take one quantum more than the rest: the threads take
  // tasks in order as they free up, so with the larger blocks first they end
  // together (86 quanta in 12 blocks on 2 threads: 43 each, where the larger
  // blocks spread among the smaller had left one thread 2 quanta longer).
  size_t BlockStart(size_t b) const {
    return std::min(m, (b * (units_ / row_blocks) + std::min(b, units_ % row_blocks)) * quantum_);
  }
  size_t quantum_, units_ = 0, chunk_ = 0;
  bool by_part_ = false;
};

}  // namespace mhsa

#endif  // MHSA_SRC_GEMM_TASKS_H_
