// The GEMM: C = alpha * op(A) · B + beta * C with B packed into panels, the
// driver behind the public Sgemm and the layer's projection.
#ifndef MHSA_SRC_GEMM_H_
#define MHSA_SRC_GEMM_H_

#include <cstddef>

#include "aligned.h"
#include "blocking.h"
#include "workspace.h"

namespace mhsa {

// op(A) or op(B) as a kernel reads it: element (i, p) at
// data[i * row_stride + p * step]. (ld, 1) is a row-major matrix read by
// rows, (1, ld) the same matrix read by columns (its transpose).
struct MatrixView {
  const float* data;
  ptrdiff_t row_stride, step;
};

// Where the GEMM writes C's columns: column j of a row at
// (j / group) * group_stride + j % group from the row's start, so that the
// groups of `group` columns (whole kPanel panels) may lie apart: the
// layer's projection writes each head's q, k and v as its own [rows][head_dim]
// block. group 0: row-major, column j at j.
struct ColumnGroups {
  size_t group = 0;
  ptrdiff_t group_stride = 0;

  ptrdiff_t Offset(size_t j) const {
    if (group == 0) return static_cast<ptrdiff_t>(j);
    return static_cast<ptrdiff_t>(j / group) * group_stride + static_cast<ptrdiff_t>(j % group);
  }
};

// Whether the GEMM reads op(A) in place, unpacked, for a task n columns
// wide: a row-major A, alpha 1 (packing folds alpha in), a thin task.
inline bool ReadsAInPlace(MatrixView a, size_t n, float alpha) {
  return n <= kInPlaceColumns && a.step == 1 && a.row_stride > 0 && alpha == 1.0f;
}

// B packed once into kPanel-wide panels (the layout every target's
// microkernel reads), for repeated products with it: the projection weights.
struct PackedB {
  PackedB() = default;
  // Room for an n x k B, contents to be written by RepackRows.
  PackedB(size_t n_in, size_t k_in);

  size_t n = 0, k = 0;
  AlignedFloats data;  // [ceil(n / kPanel)][k][kPanel]
};

// Packs the n rows (each k long) of `b` into [ceil(n / kPanel)][k][kPanel]
// panels at dst, single-threaded.
void PackB(MatrixView b, size_t n, size_t k, float* dst);

// Re-packs rows [first, first + count) of packed's B from `rows` ([count][k],
// stride ldb), leaving the others as they are: first must start a panel
// (a multiple of kPanel) and first + count end one or reach n.
void RepackRows(const float* rows, size_t ldb, size_t first, size_t count, PackedB* packed);

// Scratch of GemmWithPackedB: the per-thread A block.
ScratchNeeds GemmNeeds();

// C = alpha * op(A) · B + beta * C; op(A): [m][k], B packed
// ([ceil(n / kPanel)][k][kPanel]), c: [m][n] with row stride ldc. beta == 0
// never reads C; k == 0 or alpha == 0 reads neither A nor B. Parallel over
// blocks of rows (and of columns when rows are few) on up to `threads`
// threads, each per-thread part of `scratch` holding GemmNeeds().per_thread
// bytes; every element of C is summed over k in one fixed order, so results
// are bitwise the same for any thread count.
// `columns`: where C's columns lie (row-major by default).
void GemmWithPackedB(MatrixView a, size_t m, const float* bp, size_t n, size_t k, float alpha,
                     float beta, float* c, size_t ldc, int threads, const CallScratch& scratch,
                     const ColumnGroups& columns = ColumnGroups());

// Conveniences for tests and benchmarks: B packed from rows b ([n][k],
// stride ldb), and C = A·Bᵀ with it (a: [m][k] stride lda, beta = 0) with
// scratch per RunOptions.
PackedB PackRows(const float* b, size_t ldb, size_t n, size_t k);
void GemmPacked(const float* a, size_t lda, const PackedB& b, float* c, size_t ldc, size_t m,
                const RunOptions& options = RunOptions());

// The Highway target (HWY_AVX3, ...) the GEMM's dispatched code was compiled
// for: what a test compares with the target it chose.
int64_t GemmCompiledTarget();

}  // namespace mhsa

#endif  // MHSA_SRC_GEMM_H_
