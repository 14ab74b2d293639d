// The layer's state behind the public class: the weights as the user sees
// them and whatever the kernels derive from them when they are set.
#ifndef MHSA_SRC_LAYER_H_
#define MHSA_SRC_LAYER_H_

#include <cstddef>
#include <vector>

#include "gemm.h"
#include "mhsa/mhsa.h"

namespace mhsa {

struct MultiHeadedSelfAttention::Impl {
  // weights: [num_heads][3][head_dim][embedding_dim], query, key, value.
  Impl(size_t embedding_dim, size_t head_dim, size_t num_heads, std::vector<float> weights);

  void SetHead(size_t head, const float* query, const float* key, const float* value);
  void GetHead(size_t head, float* query, float* key, float* value) const;

  // Arguments already checked by the public class.
  void Forward(const float* embedded, size_t batch, size_t context, float* out) const;

  size_t embedding_dim;
  size_t head_dim;
  size_t num_heads;
  std::vector<float> weights;
  // Every head's q, k and v weights as one B matrix of the projection GEMM,
  // packed once here rather than on every call: rows [3][num_heads][head_dim]
  // of embedding_dim, so that one GEMM writes each token's q for all heads,
  // then k, then v.
  PackedB packed;

 private:
  // Re-packs the panels holding rows [begin, end) of the projection's B.
  void Repack(size_t begin, size_t end);
};

}  // namespace mhsa

#endif  // MHSA_SRC_LAYER_H_
