// The layer's state behind the public class: the weights as the user sees
// them, what the kernels derive from them, and the KV cache's storage.
#ifndef MHSA_SRC_LAYER_H_
#define MHSA_SRC_LAYER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "aligned.h"
#include "gemm.h"
#include "mhsa/mhsa.h"
#include "workspace.h"

namespace mhsa {

struct MultiHeadedSelfAttention::Impl {
  // weights: [num_heads][3][head_dim][embedding_dim], query, key, value.
  Impl(size_t embedding_dim, size_t head_dim, size_t num_heads, std::vector<float> weights);

  void SetHead(size_t head, const float* query, const float* key, const float* value);
  void GetHead(size_t head, float* query, float* key, float* value) const;

  // Arguments already checked by the public class. With a cache, `cached`
  // positions of it are attended to and the new k, v are appended at
  // position `cached`; without one (cache == nullptr), cached is 0.
  void Forward(const float* embedded, size_t batch, size_t context, float* out,
               KVCache::Impl* cache, const RunOptions& options) const;

  // Scratch of a Forward over `context` new positions after `cached` ones.
  ScratchNeeds Needs(size_t batch, size_t context, size_t cached, int threads) const {
    return NeedsFor(num_heads, head_dim, batch, context, cached, threads);
  }
  static ScratchNeeds NeedsFor(size_t num_heads, size_t head_dim, size_t batch, size_t context,
                               size_t cached, int threads);

  size_t embedding_dim;
  size_t head_dim;
  size_t num_heads;
  std::vector<float> weights;
  // Every head's q, k and v weights as one B matrix of the projection GEMM,
  // packed once here rather than on every call: rows [3][num_heads][head_dim]
  // of embedding_dim, so that one GEMM writes each token's q for all heads,
  // then k, then v.
  PackedB packed;
  // Identity of these weights' values (see KVCache in mhsa.h): new at
  // construction and at every SetHead, kept by copies.
  uint64_t weights_id;

 private:
  // Re-packs the panels holding rows [begin, end) of the projection's B.
  void Repack(size_t begin, size_t end);
};

struct KVCache::Impl {
  Impl(size_t batch_in, size_t num_heads_in, size_t head_dim_in, size_t capacity_in)
      : batch(batch_in),
        num_heads(num_heads_in),
        head_dim(head_dim_in),
        capacity(capacity_in),
        keys(batch_in * num_heads_in * capacity_in * head_dim_in),
        values(keys.size()) {}

  // Element strides of keys and values, [batch][num_heads][capacity][head_dim].
  Strides strides() const {
    return StridesBHTD(static_cast<int>(capacity), static_cast<int>(num_heads),
                       static_cast<int>(head_dim));
  }

  size_t batch, num_heads, head_dim, capacity;
  size_t size = 0;
  uint64_t weights_id = 0;  // Of the weights that filled it; 0 while empty.
  AlignedFloats keys, values;
};

}  // namespace mhsa

#endif  // MHSA_SRC_LAYER_H_
