// What tests of the layer repeat: a layer with random weights, and its
// weights read back in the reference's layout.
#ifndef MHSA_TESTS_LAYER_HELPERS_H_
#define MHSA_TESTS_LAYER_HELPERS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mhsa/mhsa.h"
#include "test_data.h"

namespace mhsa {
namespace test {

// A layer whose heads have their own weights, uniform in [-0.5, 0.5) from
// `seed` (the problem's initial weights are the same for every head, which
// would hide a head mixed up with another).
inline MultiHeadedSelfAttention RandomLayer(int embedding_dim, int head_dim, int num_heads,
                                            uint32_t seed,
                                            Precision precision = Precision::kFloat32) {
  MultiHeadedSelfAttention layer(embedding_dim, head_dim * num_heads, num_heads, precision);
  const auto n = static_cast<size_t>(head_dim) * static_cast<size_t>(embedding_dim);
  for (int h = 0; h < num_heads; ++h) {
    const auto w = Random(3 * n, seed + static_cast<uint32_t>(h), -0.5f, 0.5f);
    layer.SetHeadWeights(h, w.data(), w.data() + n, w.data() + 2 * n);
  }
  return layer;
}

// Every head's weights: [num_heads][3][head_dim][embedding_dim], the layout
// ref::Forward takes.
inline std::vector<float> AllWeights(const MultiHeadedSelfAttention& layer) {
  const auto n = static_cast<size_t>(layer.head_dim()) * static_cast<size_t>(layer.embedding_dim());
  std::vector<float> weights(3 * n * static_cast<size_t>(layer.num_heads()));
  for (int h = 0; h < layer.num_heads(); ++h) {
    float* w = weights.data() + 3 * n * static_cast<size_t>(h);
    layer.GetHeadWeights(h, w, w + n, w + 2 * n);
  }
  return weights;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_LAYER_HELPERS_H_
