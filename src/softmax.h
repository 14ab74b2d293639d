// The standalone causal-masked softmax kernel.
#ifndef MHSA_SRC_SOFTMAX_H_
#define MHSA_SRC_SOFTMAX_H_

#include <cstddef>

namespace mhsa {

// Row r of scores ([rows][cols], row stride ld) is query position
// first_query + r: softmax of its columns 0..first_query + r after
// multiplying them by `scale`; later columns become exactly 0. A row holding
// NaN or +inf becomes NaN over its visible columns. Single-threaded;
// dispatches once per call to the chosen SIMD target.
void CausalSoftmax(float* scores, size_t ld, size_t rows, size_t cols, size_t first_query,
                   float scale);

// out[i] = exp(x[i]) with the chosen target's vector exp, the one the
// softmax uses (exposed so that its accuracy can be tested on its own).
void VectorExp(const float* x, float* out, size_t n);

}  // namespace mhsa

#endif  // MHSA_SRC_SOFTMAX_H_
