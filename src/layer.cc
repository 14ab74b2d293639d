#include "layer.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "attention.h"
#include "blocking.h"
#include "gemm.h"
#include "parallel.h"

namespace mhsa {
namespace {

uint64_t NewWeightsId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

MultiHeadedSelfAttention::Impl::Impl(size_t embedding_dim_in, size_t head_dim_in,
                                     size_t num_heads_in, std::vector<float> weights_in)
    : embedding_dim(embedding_dim_in),
      head_dim(head_dim_in),
      num_heads(num_heads_in),
      weights(std::move(weights_in)),
      packed(3 * num_heads * head_dim, embedding_dim),
      weights_id(NewWeightsId()) {
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
  weights_id = NewWeightsId();
}

void MultiHeadedSelfAttention::Impl::GetHead(size_t head, float* query, float* key,
                                             float* value) const {
  const size_t n = head_dim * embedding_dim;
  const float* w = weights.data() + 3 * head * n;
  std::copy(w, w + n, query);
  std::copy(w + n, w + 2 * n, key);
  std::copy(w + 2 * n, w + 3 * n, value);
}

namespace {

// The attention of a Forward: q from the projection's interleaved buffer
// qkv ([batch][context][3][num_heads][head_dim]), k and v from the same
// buffer or from the cache, out [batch][context][num_heads][head_dim].
// The sizes were checked by the public class (and fit int).
AttentionProblem LayerAttention(size_t batch, size_t context, size_t num_heads, size_t head_dim,
                                size_t kv_len) {
  AttentionShape shape;
  shape.batch = static_cast<int>(batch);
  shape.num_heads = static_cast<int>(num_heads);
  shape.head_dim = static_cast<int>(head_dim);
  shape.q_len = static_cast<int>(context);
  shape.kv_len = static_cast<int>(kv_len);
  return CheckAttentionShape(shape, AttentionOptions());  // Causal, 1/sqrt(head_dim).
}

}  // namespace

ScratchNeeds MultiHeadedSelfAttention::Impl::NeedsFor(size_t num_heads, size_t head_dim,
                                                      size_t batch, size_t context, size_t cached,
                                                      int threads) {
  const ScratchNeeds attention = AttentionNeeds(
      LayerAttention(batch, context, num_heads, head_dim, cached + context), threads);
  ScratchNeeds needs;
  // [qkv][the attention's shared part]; per thread, the GEMM's A block or
  // the attention's buffers, whichever is larger (they never coexist).
  needs.shared =
      AlignBytes(batch * context * 3 * num_heads * head_dim * sizeof(float)) + attention.shared;
  needs.per_thread = std::max(GemmNeeds().per_thread, attention.per_thread);
  return needs;
}

void MultiHeadedSelfAttention::Impl::Forward(const float* embedded, size_t batch, size_t context,
                                             float* out, KVCache::Impl* cache,
                                             const RunOptions& options) const {
  const size_t attention_dim = num_heads * head_dim, row = 3 * attention_dim;
  const size_t cached = cache == nullptr ? 0 : cache->size;
  const int threads = ThreadsForCall(options);
  const ScratchNeeds needs = Needs(batch, context, cached, threads);
  const CallScratch scratch(options, needs, threads);
  auto* qkv = static_cast<float*>(scratch.shared());
  GemmWithPackedB({embedded, static_cast<ptrdiff_t>(embedding_dim), 1}, batch * context,
                  packed.data.data(), row, embedding_dim, 1.0f, 0.0f, qkv, row, threads, scratch);

  AttentionProblem p = LayerAttention(batch, context, num_heads, head_dim, cached + context);
  const auto ctx = static_cast<int>(context), heads = static_cast<int>(num_heads),
             dim = static_cast<int>(head_dim);
  // q, k, v of head h at columns h*head_dim of their third of a qkv row.
  const Strides interleaved{int64_t{ctx} * 3 * heads * dim, int64_t{3} * heads * dim, dim};
  p.q = qkv;
  p.q_strides = interleaved;
  p.out = out;
  p.out_strides = StridesBTHD(ctx, heads, dim);
  if (cache == nullptr) {
    p.k = qkv + attention_dim;
    p.v = qkv + 2 * attention_dim;
    p.k_strides = p.v_strides = interleaved;
  } else {
    // Append the new k and v at positions [cached, cached + context).
    for (size_t b = 0; b < batch; ++b) {
      for (size_t i = 0; i < context; ++i) {
        const float* src = qkv + (b * context + i) * row;
        for (size_t h = 0; h < num_heads; ++h) {
          const size_t at = ((b * num_heads + h) * cache->capacity + cached + i) * head_dim;
          std::copy_n(src + attention_dim + h * head_dim, head_dim, cache->keys.data() + at);
          std::copy_n(src + 2 * attention_dim + h * head_dim, head_dim, cache->values.data() + at);
        }
      }
    }
    p.k = cache->keys.data();
    p.v = cache->values.data();
    p.k_strides = p.v_strides = cache->strides();
  }
  RunAttention(p, threads, scratch.AfterShared(AlignBytes(batch * context * row * sizeof(float))));
  if (cache != nullptr) {
    cache->size = cached + context;
    cache->weights_id = weights_id;
  }
}

}  // namespace mhsa
