#include "layer.h"

#include <algorithm>
#include <utility>

#include "aligned.h"
#include "attention.h"
#include "blocking.h"
#include "gemm.h"

namespace mhsa {

MultiHeadedSelfAttention::Impl::Impl(size_t embedding_dim_in, size_t head_dim_in,
                                     size_t num_heads_in, std::vector<float> weights_in)
    : embedding_dim(embedding_dim_in),
      head_dim(head_dim_in),
      num_heads(num_heads_in),
      weights(std::move(weights_in)),
      packed(3 * num_heads * head_dim, embedding_dim) {
  Repack(0, packed.n);
}

void MultiHeadedSelfAttention::Impl::Repack(size_t begin, size_t end) {
  // Widen to whole panels: packing is panel by panel.
  const size_t attention_dim = num_heads * head_dim;
  begin = begin / kPanel * kPanel;
  end = std::min(RoundUp(end, kPanel), 3 * attention_dim);
  // Row n of B is projection n / attention_dim (query, key, value), head
  // (n % attention_dim) / head_dim, row n % head_dim of that head's weights.
  std::vector<float> rows((end - begin) * embedding_dim);
  for (size_t n = begin; n < end; ++n) {
    const size_t projection = n / attention_dim, head = (n % attention_dim) / head_dim;
    const float* src =
        weights.data() + ((3 * head + projection) * head_dim + n % head_dim) * embedding_dim;
    std::copy(src, src + embedding_dim, rows.data() + (n - begin) * embedding_dim);
  }
  RepackRows(rows.data(), embedding_dim, begin, end - begin, &packed);
}

void MultiHeadedSelfAttention::Impl::SetHead(size_t head, const float* query, const float* key,
                                             const float* value) {
  const size_t n = head_dim * embedding_dim;
  float* w = weights.data() + 3 * head * n;
  std::copy(query, query + n, w);
  std::copy(key, key + n, w + n);
  std::copy(value, value + n, w + 2 * n);
  // Only this head's rows of each projection: setting every head stays
  // linear in the number of heads.
  const size_t attention_dim = num_heads * head_dim;
  for (size_t projection = 0; projection < 3; ++projection) {
    const size_t first = projection * attention_dim + head * head_dim;
    Repack(first, first + head_dim);
  }
}

void MultiHeadedSelfAttention::Impl::GetHead(size_t head, float* query, float* key,
                                             float* value) const {
  const size_t n = head_dim * embedding_dim;
  const float* w = weights.data() + 3 * head * n;
  std::copy(w, w + n, query);
  std::copy(w + n, w + 2 * n, key);
  std::copy(w + 2 * n, w + 3 * n, value);
}

void MultiHeadedSelfAttention::Impl::Forward(const float* embedded, size_t batch, size_t context,
                                             float* out) const {
  // qkv: [batch][context][3][num_heads][head_dim]; its rows are the
  // projection's output and the attention's input.
  const size_t attention_dim = num_heads * head_dim;
  float* qkv = ThreadScratch(kScratchQkv, batch * context * 3 * attention_dim);
  GemmPacked(embedded, embedding_dim, packed, qkv, 3 * attention_dim, batch * context);
  CausalAttention(qkv, 3 * attention_dim, batch, context, num_heads, head_dim, out, attention_dim);
}

}  // namespace mhsa
