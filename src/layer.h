// The layer's state behind the public class: the weights as the user sees
// them, what the kernels derive from them, and the KV cache's storage.
#ifndef MHSA_SRC_LAYER_H_
#define MHSA_SRC_LAYER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "aligned.h"
#include "gemm.h"
#include "gemm_bf16.h"
#include "mhsa/mhsa.h"
#include "workspace.h"

namespace mhsa {

struct MultiHeadedSelfAttention::Impl {
  // weights: [num_heads][3][head_dim][embedding_dim], query, key, value. In
  // bf16 they are rounded and kept only as bf16 (the float vector is freed).
  Impl(size_t embedding_dim, size_t head_dim, size_t num_heads, std::vector<float> weights,
       Precision precision);

  void SetHead(size_t head, const float* query, const float* key, const float* value);
  void GetHead(size_t head, float* query, float* key, float* value) const;

  // Arguments already checked by the public class. With a cache, `cached`
  // positions of it are attended to and the new k, v are appended at
  // position `cached`; without one (cache == nullptr), cached is 0.
  void Forward(const float* embedded, size_t batch, size_t context, float* out,
               KVCache::Impl* cache, const RunOptions& options) const;

  // Scratch of a Forward over `context` new positions after `cached` ones.
  ScratchNeeds Needs(size_t batch, size_t context, size_t cached, int threads) const {
    return NeedsFor(num_heads, head_dim, precision, batch, context, cached, threads);
  }
  static ScratchNeeds NeedsFor(size_t num_heads, size_t head_dim, Precision precision, size_t batch,
                               size_t context, size_t cached, int threads);

  size_t embedding_dim;
  size_t head_dim;
  size_t num_heads;
  Precision precision;
  // float32: `weights` and `packed`, bf16: `weights_bf16` and `packed_bf16`
  // (the others stay empty). The same layout either way:
  std::vector<float> weights;
  std::vector<uint16_t> weights_bf16;
  // Every head's q, k and v weights as one B matrix of the projection GEMM,
  // packed once here rather than on every call: rows [3][num_heads][head_dim]
  // of embedding_dim, so that one GEMM writes each token's q for all heads,
  // then k, then v.
  PackedB packed;
  PackedBf16B packed_bf16;
  // Identity of these weights' values (see KVCache in mhsa.h): new at
  // construction and at every SetHead, kept by copies.
  uint64_t weights_id;

 private:
  // Re-packs the panels holding rows [begin, end) of the projection's B.
  void Repack(size_t begin, size_t end);
};

struct KVCache::Impl {
  // Storage for k and v in `precision_in` only: float32 or bf16.
  Impl(size_t batch_in, size_t num_heads_in, size_t head_dim_in, size_t capacity_in,
       Precision precision_in)
      : batch(batch_in),
        num_heads(num_heads_in),
        head_dim(head_dim_in),
        capacity(capacity_in),
        precision(precision_in) {
    const size_t count = batch * num_heads * capacity * head_dim;
    if (precision == Precision::kBFloat16) {
      keys_bf16.resize(count);
      values_bf16.resize(count);
    } else {
      keys.resize(count);
      values.resize(count);
    }
  }

  // Element strides of keys and values, [batch][num_heads][capacity][head_dim].
  Strides strides() const {
    return StridesBHTD(static_cast<int>(capacity), static_cast<int>(num_heads),
                       static_cast<int>(head_dim));
  }

  size_t batch, num_heads, head_dim, capacity;
  Precision precision;
  size_t size = 0;
  uint64_t weights_id = 0;     // Of the weights that filled it; 0 while empty.
  AlignedFloats keys, values;  // float32 caches
  std::vector<uint16_t, AlignedAllocator<uint16_t>> keys_bf16, values_bf16;  // bf16 caches
};

}  // namespace mhsa

#endif  // MHSA_SRC_LAYER_H_
