#include "torch_init.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace mhsa {

void TorchLinearInit(std::mt19937& generator, size_t in_features, size_t out_features,
                     float* weight) {
  // torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5)), in Python doubles:
  //   gain = sqrt(2 / (1 + a**2)); std = gain / sqrt(fan_in); bound = sqrt(3) * std
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double std_dev = gain / std::sqrt(static_cast<double>(in_features));
  const double bound = std::sqrt(3.0) * std_dev;
  // uniform_(from, to) on a float tensor: the bounds become floats, each draw
  // keeps the low 24 bits of one 32-bit output (float's digits) scaled by
  // 2^-24 in double, and the result x * (to - from) + from is rounded to float.
  const float from = static_cast<float>(-bound);
  const float to = static_cast<float>(bound);
  const float range = to - from;
  for (size_t i = 0; i < out_features * in_features; ++i) {
    const uint32_t r = static_cast<uint32_t>(generator());
    const double x = static_cast<double>(r & 0xFFFFFFu) * 0x1.0p-24;
    weight[i] = static_cast<float>(x * range + from);
  }
}

void ProblemInitWeights(size_t embedding_dim, size_t head_dim, size_t num_heads, float* weights) {
  const size_t per_projection = head_dim * embedding_dim;
  for (size_t h = 0; h < num_heads; ++h) {
    float* query = weights + (3 * h + 0) * per_projection;
    float* key = weights + (3 * h + 1) * per_projection;
    float* value = weights + (3 * h + 2) * per_projection;
    if (h > 0) {
      // Every head re-seeds with 0, so it draws exactly what head 0 drew.
      std::copy(weights, weights + 3 * per_projection, query);
      continue;
    }
    std::mt19937 generator(0);  // torch.manual_seed(0): mt19937 seeded with 0.
    TorchLinearInit(generator, embedding_dim, head_dim, key);
    TorchLinearInit(generator, embedding_dim, head_dim, query);
    TorchLinearInit(generator, embedding_dim, head_dim, value);
  }
}

}  // namespace mhsa
