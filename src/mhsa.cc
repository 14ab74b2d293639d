// The public layer: argument checks, weight storage, and the hand-off to the
// attention driver. No arithmetic lives here.
#include "mhsa/mhsa.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "checks.h"
#include "layer.h"
#include "torch_init.h"

namespace mhsa {

MultiHeadedSelfAttention::MultiHeadedSelfAttention(int embedding_dim, int attention_dim,
                                                   int num_heads)
    : embedding_dim_(embedding_dim), attention_dim_(attention_dim), num_heads_(num_heads) {
  CheckPositive("embedding_dim", embedding_dim);
  CheckPositive("attention_dim", attention_dim);
  CheckPositive("num_heads", num_heads);
  if (attention_dim % num_heads != 0) {
    throw std::invalid_argument(
        "mhsa: expected attention_dim to be a multiple of num_heads, got "
        "attention_dim " +
        std::to_string(attention_dim) + " and num_heads " + std::to_string(num_heads));
  }
  // All heads' q, k, v weights: 3 * attention_dim rows of embedding_dim.
  const size_t count = CheckedFloatCount("the weights", {3, attention_dim, embedding_dim});
  std::vector<float> weights(count);
  ProblemInitWeights(static_cast<size_t>(embedding_dim), static_cast<size_t>(head_dim()),
                     static_cast<size_t>(num_heads), weights.data());
  impl_ =
      std::make_unique<Impl>(static_cast<size_t>(embedding_dim), static_cast<size_t>(head_dim()),
                             static_cast<size_t>(num_heads), std::move(weights));
}

MultiHeadedSelfAttention::~MultiHeadedSelfAttention() = default;

MultiHeadedSelfAttention::MultiHeadedSelfAttention(const MultiHeadedSelfAttention& other)
    : embedding_dim_(other.embedding_dim_),
      attention_dim_(other.attention_dim_),
      num_heads_(other.num_heads_),
      impl_(other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr) {}

MultiHeadedSelfAttention& MultiHeadedSelfAttention::operator=(
    const MultiHeadedSelfAttention& other) {
  if (this != &other) *this = MultiHeadedSelfAttention(other);
  return *this;
}

MultiHeadedSelfAttention::MultiHeadedSelfAttention(MultiHeadedSelfAttention&& other) noexcept =
    default;
MultiHeadedSelfAttention& MultiHeadedSelfAttention::operator=(
    MultiHeadedSelfAttention&& other) noexcept = default;

namespace {

void CheckHead(int head, int num_heads) {
  if (head < 0 || head >= num_heads) {
    throw std::invalid_argument("mhsa: expected head in [0, " + std::to_string(num_heads) +
                                "), got " + std::to_string(head));
  }
}

void CheckUsable(const MultiHeadedSelfAttention::Impl* impl) {
  if (impl == nullptr) {
    throw std::invalid_argument("mhsa: expected a constructed layer, got one that was moved from");
  }
}

// Whether [a, a + a_count) and [b, b + b_count) share a float.
bool Overlap(const float* a, size_t a_count, const float* b, size_t b_count) {
  const auto begin_a = reinterpret_cast<uintptr_t>(a);
  const auto begin_b = reinterpret_cast<uintptr_t>(b);
  return begin_a < begin_b + b_count * sizeof(float) && begin_b < begin_a + a_count * sizeof(float);
}

}  // namespace

void MultiHeadedSelfAttention::SetHeadWeights(int head, const float* query, const float* key,
                                              const float* value) {
  CheckUsable(impl_.get());
  CheckHead(head, num_heads_);
  CheckNotNull("query", query);
  CheckNotNull("key", key);
  CheckNotNull("value", value);
  impl_->SetHead(static_cast<size_t>(head), query, key, value);
}

void MultiHeadedSelfAttention::GetHeadWeights(int head, float* query, float* key,
                                              float* value) const {
  CheckUsable(impl_.get());
  CheckHead(head, num_heads_);
  CheckNotNull("query", query);
  CheckNotNull("key", key);
  CheckNotNull("value", value);
  impl_->GetHead(static_cast<size_t>(head), query, key, value);
}

void MultiHeadedSelfAttention::Forward(const float* embedded, int batch, int context,
                                       float* out) const {
  CheckUsable(impl_.get());
  CheckNotNull("embedded", embedded);
  CheckNotNull("out", out);
  CheckPositive("batch", batch);
  CheckPositive("context", context);
  const size_t in_count = CheckedFloatCount("embedded", {batch, context, embedding_dim_});
  const size_t out_count = CheckedFloatCount("out", {batch, context, attention_dim_});
  if (Overlap(embedded, in_count, out, out_count)) {
    throw std::invalid_argument(
        "mhsa: expected out and embedded to be separate arrays, got "
        "overlapping ones");
  }
  impl_->Forward(embedded, static_cast<size_t>(batch), static_cast<size_t>(context), out);
}

}  // namespace mhsa
