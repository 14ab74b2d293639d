// The GEMM: C = A·Bᵀ with B stored as rows, the shape of x·Wᵀ and q·kᵀ.
#ifndef MHSA_SRC_GEMM_H_
#define MHSA_SRC_GEMM_H_

#include <cstddef>
#include <vector>

#include "aligned.h"

namespace mhsa {

// B packed once into kPanel-wide panels (the layout every target's
// microkernel reads), for repeated products with it: the projection weights.
struct PackedB {
  PackedB() = default;
  // Room for an n x k B, contents to be written by RepackRows.
  PackedB(size_t n_in, size_t k_in);

  size_t n = 0, k = 0;
  AlignedFloats data;  // [ceil(n / kPanel)][k][kPanel]
};

// b: [n][k], stride ldb.
PackedB PackRows(const float* b, size_t ldb, size_t n, size_t k);

// Re-packs rows [first, first + count) of packed's B from `rows` ([count][k],
// stride ldb), leaving the others as they are: first must start a panel
// (a multiple of kPanel) and first + count end one or reach n.
void RepackRows(const float* rows, size_t ldb, size_t first, size_t count, PackedB* packed);

// C = A·Bᵀ, beta = 0 (C is written, never read; it may hold NaN).
// a: [m][k] stride lda; b: [n][k] stride ldb; c: [m][n] stride ldc.
// Parallel with OpenMP over blocks of rows of C (one thread inside an active
// parallel region); each C element is summed over k in the same order
// whatever the thread count, so results are bitwise reproducible.
void GemmBt(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k);

// C = A·Bᵀ with B prepacked; otherwise as GemmBt.
void GemmPacked(const float* a, size_t lda, const PackedB& b, float* c, size_t ldc, size_t m);

}  // namespace mhsa

#endif  // MHSA_SRC_GEMM_H_
