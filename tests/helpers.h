// What the tests repeat, once: element counts, a layer with random weights,
// its weights read back, the expectation that a call is refused, and a
// sequence fed through a KV cache in pieces.
#ifndef MHSA_TESTS_HELPERS_H_
#define MHSA_TESTS_HELPERS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
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

// A layer's sizes and a batch of input for it.
struct LayerShape {
  int batch, context, embedding_dim, head_dim, num_heads;
  std::string Describe() const {
    return "B=" + std::to_string(batch) + " T=" + std::to_string(context) +
           " E=" + std::to_string(embedding_dim) + " D=" + std::to_string(head_dim) +
           " H=" + std::to_string(num_heads);
  }
};

// Layer shapes at and around the kernels' edges: context 1, 7, 47-49
// (the query block), 97, 255-257 (the key block), 1025; head_dim 1, 3, 59,
// 64; odd embedding dims; 1 to 4 heads.
inline std::vector<LayerShape> AwkwardLayerShapes() {
  return {
      {1, 1, 1, 1, 1},     {2, 7, 5, 3, 2},      {1, 47, 33, 59, 1},  {1, 48, 17, 64, 2},
      {2, 49, 67, 1, 3},   {1, 97, 9, 3, 4},     {1, 255, 31, 64, 1}, {1, 256, 7, 59, 1},
      {2, 257, 13, 16, 2}, {1, 1025, 67, 64, 1}, {1, 1025, 5, 3, 2},
  };
}

// Calls check(at, k, v, where) for every position a layer of shape s, fed x
// ([batch][context][embedding_dim]) with weights in ref::Forward's layout,
// leaves in its KV cache: k = x·Wkᵀ and v = x·Wvᵀ summed in double over
// the values passed through `round` (the identity, or bf16 rounding); `at`
// indexes a cache of `capacity` positions, [batch][head][position][dim].
template <class Round, class Check>
void ForEachCachedValue(const LayerShape& s, int capacity, const std::vector<float>& x,
                        const std::vector<float>& weights, const Round& round, const Check& check) {
  const auto B = static_cast<size_t>(s.batch), T = static_cast<size_t>(s.context),
             E = static_cast<size_t>(s.embedding_dim), D = static_cast<size_t>(s.head_dim),
             H = static_cast<size_t>(s.num_heads);
  for (size_t b = 0; b < B; ++b) {
    for (size_t h = 0; h < H; ++h) {
      for (size_t i = 0; i < T; ++i) {
        for (size_t d = 0; d < D; ++d) {
          double k = 0, v = 0;
          for (size_t e = 0; e < E; ++e) {
            const double xe = round(x[(b * T + i) * E + e]);
            k += xe * round(weights[((h * 3 + 1) * D + d) * E + e]);
            v += xe * round(weights[((h * 3 + 2) * D + d) * E + e]);
          }
          const size_t at = ((b * H + h) * static_cast<size_t>(capacity) + i) * D + d;
          check(at, k, v,
                "b" + std::to_string(b) + " h" + std::to_string(h) + " i" + std::to_string(i) +
                    " d" + std::to_string(d));
        }
      }
    }
  }
}

// Feeds x through a cache in pieces of the given lengths and returns the
// concatenated outputs, [batch][context][attention_dim].
inline std::vector<float> InPieces(const MultiHeadedSelfAttention& layer,
                                   const std::vector<float>& x, const LayerShape& s,
                                   const std::vector<int>& pieces, KVCache* cache) {
  const auto e = static_cast<size_t>(s.embedding_dim),
             a = static_cast<size_t>(layer.attention_dim());
  const auto b_count = static_cast<size_t>(s.batch), t = static_cast<size_t>(s.context);
  std::vector<float> out(b_count * t * a);
  size_t at = 0;
  for (int piece : pieces) {
    const auto n = static_cast<size_t>(piece);
    std::vector<float> x_piece(b_count * n * e), out_piece(b_count * n * a);
    for (size_t b = 0; b < b_count; ++b) {
      std::memcpy(&x_piece[b * n * e], &x[(b * t + at) * e], n * e * sizeof(float));
    }
    EXPECT_EQ(cache->size(), static_cast<int>(at));
    layer.Forward(x_piece.data(), s.batch, piece, out_piece.data(), *cache);
    for (size_t b = 0; b < b_count; ++b) {
      std::memcpy(&out[(b * t + at) * a], &out_piece[b * n * a], n * a * sizeof(float));
    }
    at += n;
  }
  EXPECT_EQ(at, t);
  return out;
}

// Random piece lengths summing to `total`: a prefill, then steps of one and
// chunks, drawn from `seed`.
inline std::vector<int> RandomPieces(int total, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<int> pieces;
  int left = total;
  std::uniform_int_distribution<int> prefill(1, total);
  pieces.push_back(prefill(gen));
  left -= pieces.back();
  while (left > 0) {
    const int kind = static_cast<int>(gen() % 3);
    int n = kind == 0 ? 1 : static_cast<int>(gen() % static_cast<uint32_t>(left)) + 1;
    if (kind == 2) n = std::min(left, static_cast<int>(gen() % 7) + 1);
    pieces.push_back(n);
    left -= n;
  }
  return pieces;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_HELPERS_H_
