// The causal softmax a user writes without SIMD: plain loops and std::exp,
// the same contract as mhsa::CausalSoftmax (src/softmax.h). It is the
// baseline of softmax_bench and the softmax of the composed layers.
#ifndef MHSA_BENCH_PLAIN_SOFTMAX_H_
#define MHSA_BENCH_PLAIN_SOFTMAX_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace mhsa::bench {

// scores: [rows][cols], row stride ld. Row r is query position
// first_query + r: softmax over its columns 0..first_query + r of the scores
// times `scale`; later columns (the causal mask) become exactly 0.
inline void PlainCausalSoftmax(float* scores, size_t ld, size_t rows, size_t cols,
                               ptrdiff_t first_query, float scale) {
  for (size_t r = 0; r < rows; ++r) {
    float* row = scores + r * ld;
    const ptrdiff_t last = first_query + static_cast<ptrdiff_t>(r);
    const size_t visible = last < 0 ? 0 : std::min(cols, static_cast<size_t>(last) + 1);
    float max = -std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < visible; ++j) max = std::max(max, row[j] * scale);
    float sum = 0.0f;
    for (size_t j = 0; j < visible; ++j) {
      row[j] = std::exp(row[j] * scale - max);
      sum += row[j];
    }
    const float inverse = 1.0f / sum;
    for (size_t j = 0; j < visible; ++j) row[j] *= inverse;
    std::fill(row + visible, row + cols, 0.0f);
  }
}

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_PLAIN_SOFTMAX_H_
