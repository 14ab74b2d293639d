#include "layer.h"

#include <algorithm>
#include <utility>

#include "reference.h"

namespace mhsa {

MultiHeadedSelfAttention::Impl::Impl(size_t embedding_dim_in,
                                     size_t head_dim_in, size_t num_heads_in,
                                     std::vector<float> weights_in)
    : embedding_dim(embedding_dim_in),
      head_dim(head_dim_in),
      num_heads(num_heads_in),
      weights(std::move(weights_in)) {}

void MultiHeadedSelfAttention::Impl::SetHead(size_t head, const float* query,
                                             const float* key,
                                             const float* value) {
  const size_t n = head_dim * embedding_dim;
  float* w = weights.data() + 3 * head * n;
  std::copy(query, query + n, w);
  std::copy(key, key + n, w + n);
  std::copy(value, value + n, w + 2 * n);
}

void MultiHeadedSelfAttention::Impl::GetHead(size_t head, float* query,
                                             float* key, float* value) const {
  const size_t n = head_dim * embedding_dim;
  const float* w = weights.data() + 3 * head * n;
  std::copy(w, w + n, query);
  std::copy(w + n, w + 2 * n, key);
  std::copy(w + 2 * n, w + 3 * n, value);
}

void MultiHeadedSelfAttention::Impl::Forward(const float* embedded,
                                             size_t batch, size_t context,
                                             float* out) const {
  ref::Forward(embedded, batch, context, embedding_dim, weights.data(),
               num_heads, head_dim, out);
}

}  // namespace mhsa
