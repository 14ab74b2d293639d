// The public layer and its KV cache: argument checks, then the hand-off to
// the state in layer.h. No arithmetic lives here.
#include "mhsa/mhsa.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "checks.h"
#include "layer.h"
#include "parallel.h"
#include "torch_init.h"

namespace mhsa {

namespace {

const char* PrecisionName(Precision precision) {
  return precision == Precision::kBFloat16 ? "bfloat16" : "float32";
}

void CheckPrecision(Precision precision) {
  if (precision != Precision::kFloat32 && precision != Precision::kBFloat16) {
    ThrowInvalid("expected precision kFloat32 or kBFloat16, got the value " +
                 std::to_string(static_cast<int>(precision)));
  }
}

// The layer's sizes, as the constructor and the size queries take them.
// Returns the weights' float count: 3 * attention_dim rows of embedding_dim.
size_t CheckLayerSizes(int embedding_dim, int attention_dim, int num_heads, Precision precision) {
  CheckPrecision(precision);
  CheckPositive("embedding_dim", embedding_dim);
  CheckPositive("attention_dim", attention_dim);
  CheckPositive("num_heads", num_heads);
  if (attention_dim % num_heads != 0) {
    ThrowInvalid("expected attention_dim to be a multiple of num_heads, got attention_dim " +
                 std::to_string(attention_dim) + " and num_heads " + std::to_string(num_heads));
  }
  return CheckedFloatCount("the weights", {3, attention_dim, embedding_dim});
}

}  // namespace

MultiHeadedSelfAttention::MultiHeadedSelfAttention(int embedding_dim, int attention_dim,
                                                   int num_heads)
    : MultiHeadedSelfAttention(embedding_dim, attention_dim, num_heads, Precision::kFloat32) {}

MultiHeadedSelfAttention::MultiHeadedSelfAttention(int embedding_dim, int attention_dim,
                                                   int num_heads, Precision precision)
    : embedding_dim_(embedding_dim),
      attention_dim_(attention_dim),
      num_heads_(num_heads),
      precision_(precision) {
  const size_t count = CheckLayerSizes(embedding_dim, attention_dim, num_heads, precision);
  std::vector<float> weights(count);
  ProblemInitWeights(static_cast<size_t>(embedding_dim), static_cast<size_t>(head_dim()),
                     static_cast<size_t>(num_heads), weights.data());
  impl_ =
      std::make_unique<Impl>(static_cast<size_t>(embedding_dim), static_cast<size_t>(head_dim()),
                             static_cast<size_t>(num_heads), std::move(weights), precision);
}

MultiHeadedSelfAttention::~MultiHeadedSelfAttention() = default;

MultiHeadedSelfAttention::MultiHeadedSelfAttention(const MultiHeadedSelfAttention& other)
    : embedding_dim_(other.embedding_dim_),
      attention_dim_(other.attention_dim_),
      num_heads_(other.num_heads_),
      precision_(other.precision_),
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
    ThrowInvalid("expected head in [0, " + std::to_string(num_heads) + "), got " +
                 std::to_string(head));
  }
}

void CheckUsable(bool constructed, const char* what) {
  if (!constructed) {
    ThrowInvalid(std::string("expected a constructed ") + what + ", got one that was moved from");
  }
}

void CheckThreads(const RunOptions& options) {
  if (options.num_threads < 0) {
    ThrowInvalid("expected num_threads >= 0, got " + std::to_string(options.num_threads));
  }
}

}  // namespace

namespace {

// The arguments SetHeadWeights and GetHeadWeights share.
void CheckHeadWeights(bool constructed, int head, int num_heads, const void* query, const void* key,
                      const void* value) {
  CheckUsable(constructed, "layer");
  CheckHead(head, num_heads);
  CheckNotNull("query", query);
  CheckNotNull("key", key);
  CheckNotNull("value", value);
}

}  // namespace

void MultiHeadedSelfAttention::SetHeadWeights(int head, const float* query, const float* key,
                                              const float* value) {
  CheckHeadWeights(impl_ != nullptr, head, num_heads_, query, key, value);
  impl_->SetHead(static_cast<size_t>(head), query, key, value);
}

void MultiHeadedSelfAttention::GetHeadWeights(int head, float* query, float* key,
                                              float* value) const {
  CheckHeadWeights(impl_ != nullptr, head, num_heads_, query, key, value);
  impl_->GetHead(static_cast<size_t>(head), query, key, value);
}

void MultiHeadedSelfAttention::Forward(const float* embedded, int batch, int context,
                                       float* out) const {
  Forward(embedded, batch, context, out, RunOptions());
}

void MultiHeadedSelfAttention::Forward(const float* embedded, int batch, int context, float* out,
                                       KVCache& cache) const {
  Forward(embedded, batch, context, out, cache, RunOptions());
}

namespace {

// The checks every Forward shares: sizes, pointers, overlap.
void CheckForward(const float* embedded, int batch, int context, float* out, int embedding_dim,
                  int attention_dim, const RunOptions& options) {
  CheckNotNull("embedded", embedded);
  CheckNotNull("out", out);
  CheckPositive("batch", batch);
  CheckPositive("context", context);
  CheckThreads(options);
  const size_t in_count = CheckedFloatCount("embedded", {batch, context, embedding_dim});
  const size_t out_count = CheckedFloatCount("out", {batch, context, attention_dim});
  // The qkv buffer, three times out, must be countable too.
  CheckedFloatCount("the projection's output", {3, batch, context, attention_dim});
  CheckDisjoint("out", out, out_count, "embedded", embedded, in_count);
}

}  // namespace

void MultiHeadedSelfAttention::Forward(const float* embedded, int batch, int context, float* out,
                                       const RunOptions& options) const {
  CheckUsable(impl_ != nullptr, "layer");
  CheckForward(embedded, batch, context, out, embedding_dim_, attention_dim_, options);
  impl_->Forward(embedded, static_cast<size_t>(batch), static_cast<size_t>(context), out, nullptr,
                 options);
}

void MultiHeadedSelfAttention::Forward(const float* embedded, int batch, int context, float* out,
                                       KVCache& cache, const RunOptions& options) const {
  CheckUsable(impl_ != nullptr, "layer");
  CheckUsable(cache.impl_ != nullptr, "KVCache");
  CheckForward(embedded, batch, context, out, embedding_dim_, attention_dim_, options);
  KVCache::Impl& c = *cache.impl_;
  if (c.precision != precision_) {
    ThrowInvalid(std::string("expected a KVCache made for a ") + PrecisionName(precision_) +
                 " layer, got one for a " + PrecisionName(c.precision) + " layer");
  }
  if (c.num_heads != impl_->num_heads || c.head_dim != impl_->head_dim) {
    ThrowInvalid("expected a KVCache made for a layer with " + std::to_string(num_heads_) +
                 " heads of " + std::to_string(head_dim()) + ", got one for " +
                 std::to_string(c.num_heads) + " heads of " + std::to_string(c.head_dim));
  }
  if (static_cast<size_t>(batch) != c.batch) {
    ThrowInvalid("expected batch " + std::to_string(c.batch) + " (the KVCache's), got " +
                 std::to_string(batch));
  }
  if (static_cast<size_t>(context) > c.capacity - c.size) {
    ThrowInvalid("expected at most " + std::to_string(c.capacity - c.size) +
                 " new positions (the KVCache holds " + std::to_string(c.size) + " of " +
                 std::to_string(c.capacity) + "), got " + std::to_string(context));
  }
  if (c.size > 0 && c.weights_id != impl_->weights_id) {
    ThrowInvalid(
        "expected a KVCache filled by this layer's current weights, got one filled with other "
        "weights (SetHeadWeights was called since, or another layer filled it); Clear() it");
  }
  impl_->Forward(embedded, static_cast<size_t>(batch), static_cast<size_t>(context), out, &c,
                 options);
}

size_t MultiHeadedSelfAttention::WorkspaceBytes(int batch, int context,
                                                const RunOptions& options) const {
  CheckUsable(impl_ != nullptr, "layer");
  CheckPositive("batch", batch);
  CheckPositive("context", context);
  CheckThreads(options);
  CheckedFloatCount("the projection's output", {3, batch, context, attention_dim_});
  const int threads = ThreadsForCall(options);
  return WorkspaceBytesFor(
      impl_->Needs(static_cast<size_t>(batch), static_cast<size_t>(context), 0, threads), threads);
}

size_t MultiHeadedSelfAttention::WorkspaceBytes(int batch, int context, const KVCache& cache,
                                                const RunOptions& options) const {
  CheckUsable(impl_ != nullptr, "layer");
  CheckUsable(cache.impl_ != nullptr, "KVCache");
  CheckPositive("batch", batch);
  CheckPositive("context", context);
  CheckThreads(options);
  CheckedFloatCount("the projection's output", {3, batch, context, attention_dim_});
  const int threads = ThreadsForCall(options);
  // The most keys any call with this cache attends to: its capacity.
  const size_t cached = cache.impl_->capacity > static_cast<size_t>(context)
                            ? cache.impl_->capacity - static_cast<size_t>(context)
                            : 0;
  return WorkspaceBytesFor(
      impl_->Needs(static_cast<size_t>(batch), static_cast<size_t>(context), cached, threads),
      threads);
}

size_t MultiHeadedSelfAttention::WorkspaceBytes(int embedding_dim, int attention_dim, int num_heads,
                                                int batch, int context, const RunOptions& options) {
  return WorkspaceBytes(embedding_dim, attention_dim, num_heads, Precision::kFloat32, batch,
                        context, options);
}

size_t MultiHeadedSelfAttention::WorkspaceBytes(int embedding_dim, int attention_dim, int num_heads,
                                                Precision precision, int batch, int context,
                                                const RunOptions& options) {
  CheckLayerSizes(embedding_dim, attention_dim, num_heads, precision);
  CheckPositive("batch", batch);
  CheckPositive("context", context);
  CheckThreads(options);
  CheckedFloatCount("the projection's output", {3, batch, context, attention_dim});
  const int threads = ThreadsForCall(options);
  return WorkspaceBytesFor(
      Impl::NeedsFor(static_cast<size_t>(num_heads), static_cast<size_t>(attention_dim / num_heads),
                     precision, static_cast<size_t>(batch), static_cast<size_t>(context), 0,
                     threads),
      threads);
}

KVCache::KVCache(const MultiHeadedSelfAttention& layer, int batch, int max_context) {
  CheckUsable(layer.impl_ != nullptr, "layer");
  CheckPositive("batch", batch);
  CheckPositive("max_context", max_context);
  CheckedFloatCount("the KVCache's keys",
                    {batch, layer.num_heads(), max_context, layer.head_dim()});
  impl_ = std::make_unique<Impl>(static_cast<size_t>(batch), static_cast<size_t>(layer.num_heads()),
                                 static_cast<size_t>(layer.head_dim()),
                                 static_cast<size_t>(max_context), layer.precision());
}

KVCache::~KVCache() = default;
KVCache::KVCache(const KVCache& other)
    : impl_(other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr) {}
KVCache& KVCache::operator=(const KVCache& other) {
  if (this != &other) *this = KVCache(other);
  return *this;
}
KVCache::KVCache(KVCache&& other) noexcept = default;
KVCache& KVCache::operator=(KVCache&& other) noexcept = default;

// A moved-from cache reports itself empty, with no room.
int KVCache::size() const noexcept { return impl_ ? static_cast<int>(impl_->size) : 0; }
int KVCache::capacity() const noexcept { return impl_ ? static_cast<int>(impl_->capacity) : 0; }
int KVCache::batch() const noexcept { return impl_ ? static_cast<int>(impl_->batch) : 0; }
void KVCache::Clear() noexcept {
  if (!impl_) return;
  impl_->size = 0;
  impl_->weights_id = 0;
}
void KVCache::Truncate(int size) {
  CheckUsable(impl_ != nullptr, "KVCache");
  if (size < 0 || static_cast<size_t>(size) > impl_->size) {
    ThrowInvalid("expected a size in [0, " + std::to_string(impl_->size) +
                 "] (positions cached), got " + std::to_string(size));
  }
  impl_->size = static_cast<size_t>(size);
  if (size == 0) impl_->weights_id = 0;
}

// A moved-from cache reports float32 and holds nothing.
Precision KVCache::precision() const noexcept {
  return impl_ ? impl_->precision : Precision::kFloat32;
}

// A cache holds k and v in its own precision only: the other's accessors
// return nullptr. The bf16 storage is uint16_t bit patterns, which
// mhsa::bf16 wraps (same size and alignment: static_assert in
// attention_bf16.cc).
const float* KVCache::keys() const noexcept {
  return impl_ && impl_->precision == Precision::kFloat32 ? impl_->keys.data() : nullptr;
}
const float* KVCache::values() const noexcept {
  return impl_ && impl_->precision == Precision::kFloat32 ? impl_->values.data() : nullptr;
}
const bf16* KVCache::keys_bf16() const noexcept {
  return impl_ && impl_->precision == Precision::kBFloat16
             ? reinterpret_cast<const bf16*>(impl_->keys_bf16.data())
             : nullptr;
}
const bf16* KVCache::values_bf16() const noexcept {
  return impl_ && impl_->precision == Precision::kBFloat16
             ? reinterpret_cast<const bf16*>(impl_->values_bf16.data())
             : nullptr;
}

}  // namespace mhsa
