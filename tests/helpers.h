// What the tests repeat, once: element counts, a layer with random weights,
// its weights read back, and the expectation that a call is refused.
#ifndef MHSA_TESTS_HELPERS_H_
#define MHSA_TESTS_HELPERS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mhsa/mhsa.h"
#include "test_data.h"

namespace mhsa {
namespace test {

// a * b * c as a count of elements.
inline size_t Count(int a, int b, int c) {
  return static_cast<size_t>(a) * static_cast<size_t>(b) * static_cast<size_t>(c);
}

// A layer whose heads each have their own weights, uniform in
// [-scale, scale) from `seed` + head (the problem's initial weights are the
// same for every head, which would hide a head mixed up with another).
inline MultiHeadedSelfAttention RandomLayer(int embedding_dim, int attention_dim, int num_heads,
                                            uint32_t seed, Precision precision,
                                            float scale = 0.5f) {
  MultiHeadedSelfAttention layer(embedding_dim, attention_dim, num_heads, precision);
  const auto n = static_cast<size_t>(layer.head_dim()) * static_cast<size_t>(embedding_dim);
  for (int h = 0; h < num_heads; ++h) {
    const auto w = Random(3 * n, seed + static_cast<uint32_t>(h), -scale, scale);
    layer.SetHeadWeights(h, w.data(), w.data() + n, w.data() + 2 * n);
  }
  return layer;
}
inline MultiHeadedSelfAttention RandomLayer(int embedding_dim, int attention_dim, int num_heads,
                                            uint32_t seed, float scale = 0.5f) {
  return RandomLayer(embedding_dim, attention_dim, num_heads, seed, Precision::kFloat32, scale);
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

// Expects `call` to throw std::invalid_argument whose message holds every
// one of `parts` (what was expected and what was given, say).
template <typename Call>
void ExpectInvalid(const Call& call, std::initializer_list<std::string> parts) {
  try {
    call();
    ADD_FAILURE() << "accepted; expected std::invalid_argument mentioning '" << *parts.begin()
                  << "'";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "'" << message << "' lacks '" << part << "'";
    }
  }
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_HELPERS_H_
