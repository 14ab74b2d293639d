#include "layer.h"

#include <algorithm>
#include <utility>

#include "attention.h"
#include "gemm.h"

namespace mhsa {

MultiHeadedSelfAttention::Impl::Impl(size_t embedding_dim_in,
                                     size_t head_dim_in, size_t num_heads_in,
                                     std::vector<float> weights_in)
    : embedding_dim(embedding_dim_in),
      head_dim(head_dim_in),
      num_heads(num_heads_in),
      weights(std::move(weights_in)) {
  Repack();
}

void MultiHeadedSelfAttention::Impl::Repack() {
  const size_t per_projection = head_dim * embedding_dim;
  std::vector<float> rows(3 * num_heads * per_projection);
  for (size_t h = 0; h < num_heads; ++h) {
    for (size_t proj = 0; proj < 3; ++proj) {
      const float* src = weights.data() + (3 * h + proj) * per_projection;
      std::copy(src, src + per_projection,
                rows.data() + (proj * num_heads + h) * per_projection);
    }
  }
  packed = PackRows(rows.data(), embedding_dim, 3 * num_heads * head_dim,
                    embedding_dim);
}

void MultiHeadedSelfAttention::Impl::SetHead(size_t head, const float* query,
                                             const float* key,
                                             const float* value) {
  const size_t n = head_dim * embedding_dim;
  float* w = weights.data() + 3 * head * n;
  std::copy(query, query + n, w);
  std::copy(key, key + n, w + n);
  std::copy(value, value + n, w + 2 * n);
  Repack();
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
  // qkv: [batch][context][3][num_heads][head_dim]; its rows are the
  // projection's output and the attention's input.
  const size_t attention_dim = num_heads * head_dim;
  AlignedFloats qkv(batch * context * 3 * attention_dim);
  GemmPacked(embedded, embedding_dim, packed, qkv.data(), 3 * attention_dim,
             batch * context);
  CausalAttention(qkv.data(), 3 * attention_dim, batch, context, num_heads,
                  head_dim, out, attention_dim);
}

}  // namespace mhsa
