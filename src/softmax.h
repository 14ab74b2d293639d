// The standalone causal-masked softmax kernel (the public CausalSoftmax is
// its checked front).
#ifndef MHSA_SRC_SOFTMAX_H_
#define MHSA_SRC_SOFTMAX_H_

#include <cstddef>
#include <cstdint>

namespace mhsa {

// Row r of scores ([rows][cols], row stride ld) is query position
// first_query + r: softmax of its columns j <= first_query + r after
// multiplying them by `scale`; later columns become exactly 0, and a row
// that sees no column (first_query + r < 0) becomes zeros. A row holding
// NaN or +inf becomes NaN over its visible columns. Single-threaded;
// dispatches once per call to the chosen SIMD target.
void CausalSoftmaxRows(float* scores, size_t ld, size_t rows, size_t cols, ptrdiff_t first_query,
                       float scale);

// out[i] = exp(x[i]) for x[i] <= 0 with the chosen target's vector exp, the
// one the softmax uses (exposed so that its accuracy can be tested on its
// own): 1 ULP on [-87.33, 0], exactly 0 below.
void VectorExp(const float* x, float* out, size_t n);

// The Highway target the softmax's dispatched code was compiled for.
int64_t SoftmaxCompiledTarget();

}  // namespace mhsa

#endif  // MHSA_SRC_SOFTMAX_H_
