#include "layer.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "attention.h"
#include "bf16.h"
#include "blocking.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "parallel.h"

namespace mhsa {
namespace {

uint64_t NewWeightsId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

MultiHeadedSelfAttention::Impl::Impl(size_t embedding_dim_in, size_t head_dim_in,
                                     size_t num_heads_in, std::vector<float> weights_in,
                                     Precision precision_in)
    : embedding_dim(embedding_dim_in),
      head_dim(head_dim_in),
      num_heads(num_heads_in),
      precision(precision_in),
      weights(std::move(weights_in)),
      weights_id(NewWeightsId()) {
  const size_t rows = 3 * num_heads * head_dim;
  if (precision == Precision::kBFloat16) {
    weights_bf16.resize(weights.size());
    FloatToBf16(weights.data(), weights_bf16.data(), weights.size());
    std::vector<float>().swap(weights);  // Only the bf16 copy stays.
    packed_bf16 = PackedBf16B(rows, embedding_dim);
  } else {
    packed = PackedB(rows, embedding_dim);
  }
  Repack(0, rows);
}

void MultiHeadedSelfAttention::Impl::Repack(size_t begin, size_t end) {
  // Widen to whole panels (the same width in both precisions): packing is
  // panel by panel.
  static_assert(kPanel == kBf16Panel, "one panel width");
  const size_t attention_dim = num_heads * head_dim;
  begin = begin / kPanel * kPanel;
  end = std::min(RoundUp(end, kPanel), 3 * attention_dim);
  // Row n of B is projection n / attention_dim (query, key, value), head
  // (n % attention_dim) / head_dim, row n % head_dim of that head's weights.
  const auto source_row = [&](size_t n) {
    const size_t projection = n / attention_dim, head = (n % attention_dim) / head_dim;
    return ((3 * head + projection) * head_dim + n % head_dim) * embedding_dim;
  };
  if (precision == Precision::kBFloat16) {
    std::vector<uint16_t> rows((end - begin) * embedding_dim);
    for (size_t n = begin; n < end; ++n) {
      const uint16_t* src = weights_bf16.data() + source_row(n);
      std::copy(src, src + embedding_dim, rows.data() + (n - begin) * embedding_dim);
    }
    PackBf16BRows(
        rows.data(), embedding_dim, end - begin, embedding_dim,
        packed_bf16.data.data() + begin / kBf16Panel * packed_bf16.pairs() * 2 * kBf16Panel);
    return;
  }
  std::vector<float> rows((end - begin) * embedding_dim);
  for (size_t n = begin; n < end; ++n) {
    const float* src = weights.data() + source_row(n);
    std::copy(src, src + embedding_dim, rows.data() + (n - begin) * embedding_dim);
  }
  RepackRows(rows.data(), embedding_dim, begin, end - begin, &packed);
}

void MultiHeadedSelfAttention::Impl::SetHead(size_t head, const float* query, const float* key,
                                             const float* value) {
  const size_t n = head_dim * embedding_dim;
  if (precision == Precision::kBFloat16) {
    uint16_t* w = weights_bf16.data() + 3 * head * n;
    FloatToBf16(query, w, n);
    FloatToBf16(key, w + n, n);
    FloatToBf16(value, w + 2 * n, n);
  } else {
    float* w = weights.data() + 3 * head * n;
    std::copy(query, query + n, w);
    std::copy(key, key + n, w + n);
    std::copy(value, value + n, w + 2 * n);
  }
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
  if (precision == Precision::kBFloat16) {
    const uint16_t* w = weights_bf16.data() + 3 * head * n;
    Bf16ToFloat(w, query, n);
    Bf16ToFloat(w + n, key, n);
    Bf16ToFloat(w + 2 * n, value, n);
    return;
  }
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
                                size_t kv_len, Precision precision) {
  AttentionShape shape;
  shape.batch = static_cast<int>(batch);
  shape.num_heads = static_cast<int>(num_heads);
  shape.head_dim = static_cast<int>(head_dim);
  shape.q_len = static_cast<int>(context);
  shape.kv_len = static_cast<int>(kv_len);
  AttentionOptions options;  // Causal, 1/sqrt(head_dim).
  options.precision = precision;
  return CheckAttentionShape(shape, options);
}

}  // namespace

ScratchNeeds MultiHeadedSelfAttention::Impl::NeedsFor(size_t num_heads, size_t head_dim,
                                                      Precision precision, size_t batch,
                                                      size_t context, size_t cached, int threads) {
  const ScratchNeeds attention = AttentionNeeds(
      LayerAttention(batch, context, num_heads, head_dim, cached + context, precision), threads);
  const ScratchNeeds gemm = precision == Precision::kBFloat16 ? GemmBf16Needs() : GemmNeeds();
  ScratchNeeds needs;
  // [qkv][the attention's shared part]; per thread, the GEMM's A block or
  // the attention's buffers, whichever is larger (they never coexist). qkv
  // is float in both precisions: the GEMM sums in float, and the attention
  // rounds q * scale, k and v as it packs them.
  needs.shared =
      AlignBytes(batch * context * 3 * num_heads * head_dim * sizeof(float)) + attention.shared;
  needs.per_thread = std::max(gemm.per_thread, attention.per_thread);
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
  const size_t rows = batch * context;
  const auto ctx = static_cast<int64_t>(context), heads = static_cast<int64_t>(num_heads),
             dim = static_cast<int64_t>(head_dim);
  // Where the projection puts q, k and v: their strides, and `third`, how
  // far k starts after q and v after k. The float GEMM writes each
  // head's q, k and v as its own [batch * context][head_dim] block when a
  // head is whole panels: the attention then reads each head's rows as one
  // contiguous run instead of rows 3 * attention_dim floats apart, one page
  // each: that layer's attention 1.04-1.06x faster, the B=8 T=128 E=768
  // layer 1.01-1.02x and B=32 T=64 1.01x, longer sequences even (Zen 5,
  // interleaved). Otherwise (and in bf16, whose GEMM writes rows only) rows
  // of qkv are [3][num_heads][head_dim].
  const bool by_head = precision == Precision::kFloat32 && head_dim % kPanel == 0;
  const Strides qkv_strides = by_head ? Strides{ctx * dim, dim, static_cast<int64_t>(rows) * dim}
                                      : Strides{ctx * 3 * heads * dim, 3 * heads * dim, dim};
  const size_t third = by_head ? rows * attention_dim : attention_dim;
  if (precision == Precision::kBFloat16) {
    // x rounded to bf16 while packed; products of bf16, sums in float.
    GemmBf16WithScratch(ChosenBf16Kernel(), embedded, embedding_dim, packed_bf16, qkv, row, rows,
                        threads, scratch);
  } else {
    // Groups of head_dim columns (whole panels, as ColumnGroups needs).
    const ColumnGroups columns =
        by_head ? ColumnGroups{head_dim, static_cast<ptrdiff_t>(rows * head_dim)} : ColumnGroups();
    GemmWithPackedB({embedded, static_cast<ptrdiff_t>(embedding_dim), 1}, rows, packed.data.data(),
                    row, embedding_dim, 1.0f, 0.0f, qkv, by_head ? head_dim : row, threads, scratch,
                    columns);
  }

  AttentionProblem p =
      LayerAttention(batch, context, num_heads, head_dim, cached + context, precision);
  p.q = qkv;
  p.q_strides = qkv_strides;
  p.out = out;
  p.out_strides = StridesBTHD(static_cast<int>(context), static_cast<int>(num_heads),
                              static_cast<int>(head_dim));
  PairFill append;
  if (cache == nullptr) {
    p.k = qkv + third;
    p.v = qkv + 2 * third;
    p.k_strides = p.v_strides = qkv_strides;
  } else {
    const bool bf16 = precision == Precision::kBFloat16;
    if (bf16) {
      p.k_bf16 = cache->keys_bf16.data();
      p.v_bf16 = cache->values_bf16.data();
    } else {
      p.k = cache->keys.data();
      p.v = cache->values.data();
    }
    p.k_strides = p.v_strides = cache->strides();
    // Head h's new k and v, appended at positions [cached, cached + context)
    // in the cache's precision (bf16: rounded here, as the flash path would
    // round them when packing).
    append = [&, bf16](size_t b, size_t h) {
      const size_t at = ((b * num_heads + h) * cache->capacity + cached) * head_dim;
      const float* src = qkv + static_cast<ptrdiff_t>(b) * qkv_strides.batch +
                         static_cast<ptrdiff_t>(h) * qkv_strides.head;
      for (size_t i = 0; i < context; ++i, src += qkv_strides.position) {
        const size_t to = at + i * head_dim;
        if (bf16) {
          FloatToBf16(src + third, cache->keys_bf16.data() + to, head_dim);
          FloatToBf16(src + 2 * third, cache->values_bf16.data() + to, head_dim);
        } else {
          std::copy_n(src + third, head_dim, cache->keys.data() + to);
          std::copy_n(src + 2 * third, head_dim, cache->values.data() + to);
        }
      }
    };
  }
  RunAttention(p, threads, scratch.AfterShared(AlignBytes(rows * row * sizeof(float))), append);
  if (cache != nullptr) {
    cache->size = cached + context;
    cache->weights_id = weights_id;
  }
}

}  // namespace mhsa
