// mhsa: multi-head causal self-attention on the CPU.
//
// Every array the layer takes or gives is float32, row-major, dense, with
// shapes given in elements:
//   embedded: [batch][context][embedding_dim]
//   out:      [batch][context][attention_dim]   (attention_dim = num_heads * head_dim)
//   weights:  [head_dim][embedding_dim] per head and per projection, the nn.Linear layout.
//
// Errors in arguments throw std::invalid_argument before any work starts; the
// message names what was expected and what was given. Nothing here prints or aborts.
#ifndef MHSA_MHSA_H_
#define MHSA_MHSA_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "mhsa/attention.h"
#include "mhsa/version.h"

namespace mhsa {

class KVCache;

class MultiHeadedSelfAttention {
 public:
  // Weights exactly as the problem initialises them: torch.manual_seed(0), then
  // each head's key_gen, query_gen, value_gen = nn.Linear(embedding_dim,
  // head_dim, bias=False). The seed is reset for every head, so all heads start
  // with the same weights.
  MultiHeadedSelfAttention(int embedding_dim, int attention_dim, int num_heads);
  // The same initial weights, computed in `precision`. Precision::kBFloat16
  // stores the weights in bfloat16 only (half the memory of float32: the
  // copy SetHeadWeights/GetHeadWeights see and the packed one the kernels
  // read), rounds x to bf16 for the projection and computes attention with
  // bf16 products (AttentionOptions::precision); inputs and outputs stay
  // float32, and a KVCache made for the layer holds k and v in bf16.
  // kFloat32 is the three-argument constructor.
  MultiHeadedSelfAttention(int embedding_dim, int attention_dim, int num_heads,
                           Precision precision);
  ~MultiHeadedSelfAttention();
  MultiHeadedSelfAttention(const MultiHeadedSelfAttention& other);
  MultiHeadedSelfAttention& operator=(const MultiHeadedSelfAttention& other);
  MultiHeadedSelfAttention(MultiHeadedSelfAttention&& other) noexcept;
  MultiHeadedSelfAttention& operator=(MultiHeadedSelfAttention&& other) noexcept;

  int embedding_dim() const noexcept { return embedding_dim_; }
  int attention_dim() const noexcept { return attention_dim_; }
  int num_heads() const noexcept { return num_heads_; }
  int head_dim() const noexcept { return attention_dim_ / num_heads_; }
  Precision precision() const noexcept { return precision_; }

  // Head `head`'s weights in nn.Linear layout: [head_dim][embedding_dim].
  // In bf16, SetHeadWeights rounds each weight to the nearest bf16 (ties to
  // even) and GetHeadWeights returns the stored bf16 values as floats.
  // Not safe to call while another thread runs Forward on the same object.
  void SetHeadWeights(int head, const float* query, const float* key, const float* value);
  void GetHeadWeights(int head, float* query, float* key, float* value) const;

  // embedded: [batch][context][embedding_dim]; out: [batch][context][attention_dim].
  // Not rounded. `out` must not overlap `embedded`. Const and safe to call
  // from several threads at once on one object.
  void Forward(const float* embedded, int batch, int context, float* out) const;
  void Forward(const float* embedded, int batch, int context, float* out,
               const RunOptions& options) const;

  // Appends `context` new positions of each sequence to the cache and writes
  // their outputs (out: [batch][context][attention_dim]), attending over
  // everything cached before them and over themselves: a prefill, then
  // one-token steps or chunks of any length, give what one Forward over the
  // whole sequence gives (up to float32 rounding). Throws
  // std::invalid_argument, leaving the cache unchanged, when the cache would
  // overflow, was made for another batch size or another layer shape, or
  // holds k and v computed with other weights (the layer's weights changed
  // since, or another layer filled it; see KVCache). Not safe to call from
  // two threads with the same cache.
  void Forward(const float* embedded, int batch, int context, float* out, KVCache& cache) const;
  void Forward(const float* embedded, int batch, int context, float* out, KVCache& cache,
               const RunOptions& options) const;

  // Scratch bytes a Forward with these sizes and options needs (for
  // RunOptions::workspace). With a cache: enough for any call that fits it.
  size_t WorkspaceBytes(int batch, int context, const RunOptions& options = RunOptions()) const;
  size_t WorkspaceBytes(int batch, int context, const KVCache& cache,
                        const RunOptions& options = RunOptions()) const;
  // The same for a layer of these sizes (float32, or in `precision`),
  // before one is built (to check that a call will fit in memory, say).
  // Throws std::invalid_argument for sizes the constructor or Forward would
  // refuse. A bf16 layer's scratch does not depend on which bf16 kernel
  // will serve: the query holds for any target chosen later.
  static size_t WorkspaceBytes(int embedding_dim, int attention_dim, int num_heads, int batch,
                               int context, const RunOptions& options = RunOptions());
  static size_t WorkspaceBytes(int embedding_dim, int attention_dim, int num_heads,
                               Precision precision, int batch, int context,
                               const RunOptions& options = RunOptions());

 private:
  friend class KVCache;
  struct Impl;  // The weights and what is derived from them; defined in src/.
  int embedding_dim_;
  int attention_dim_;
  int num_heads_;
  Precision precision_ = Precision::kFloat32;
  std::unique_ptr<Impl> impl_;
};

// The k and v of every position a layer has seen, per sequence, for
// generating one token (or one chunk) at a time without recomputing the
// prefix. Stored as [batch][num_heads][capacity][head_dim], k and v apart,
// in the layer's precision: float32, or bf16 (half the bytes) for a bf16
// layer. A cache serves layers of its own precision only.
//
// A cache remembers which weights filled it: every layer's weights carry an
// identity, given anew by construction and by each SetHeadWeights (a copy of
// a layer keeps its original's). Forward with a non-empty cache whose
// identity differs from the layer's is refused; an empty cache takes the
// identity of the first layer that fills it.
class KVCache {
 public:
  // Room for max_context positions of `batch` sequences of this layer's k and v.
  KVCache(const MultiHeadedSelfAttention& layer, int batch, int max_context);
  ~KVCache();
  KVCache(const KVCache& other);
  KVCache& operator=(const KVCache& other);
  KVCache(KVCache&& other) noexcept;
  KVCache& operator=(KVCache&& other) noexcept;

  int size() const noexcept;      // positions cached so far (the same for every sequence)
  int capacity() const noexcept;  // max_context
  int batch() const noexcept;
  void Clear() noexcept;  // size() becomes 0; the memory stays
  // Keeps positions [0, size) and forgets the rest (drafted tokens a
  // speculative decoder rejected, a beam rolled back). 0 <= size <= size().
  void Truncate(int size);

  Precision precision() const noexcept;  // The layer's it was made for.

  // Positions [0, size()) of [batch][num_heads][capacity][head_dim]. A
  // float32 cache has keys() and values(), whose bf16 counterparts return
  // nullptr; a bf16 cache the other way round.
  const float* keys() const noexcept;
  const float* values() const noexcept;
  const bf16* keys_bf16() const noexcept;
  const bf16* values_bf16() const noexcept;

 private:
  friend class MultiHeadedSelfAttention;
  struct Impl;  // Defined in src/.
  std::unique_ptr<Impl> impl_;
};

// torch.round(x, decimals) for float32: nearbyint(x * 10^decimals) / 10^decimals
// in float, ties to even (decimals < 0: nearbyint(x / 10^-decimals) * 10^-decimals).
// decimals must lie in [-38, 38].
void RoundToDecimals(float* data, size_t count, int decimals);

// The SIMD target that serves calls now, e.g. "AVX3", "AVX2", "NEON", "SCALAR":
// the best one this build compiled and this CPU runs, unless the environment
// variable MHSA_TARGET (read once, at first use) or SetTarget names another.
// Where the CPU has bf16 instructions mhsa uses, pseudo-targets name them on
// top of their SIMD target, best first: "AVX3_AMX" (AMX tiles, and
// vdpbf16ps at causal edges) and "AVX3_BF16" (vdpbf16ps) on x86,
// "NEON_BF16" (BFDOT) on Arm. A pseudo-target runs the bf16 products of
// Precision::kBFloat16 with those instructions and everything else (all of
// float32, the bf16 softmax) with its SIMD target's code; naming the SIMD
// target itself ("AVX3") turns the instructions off (bf16 products then
// widen to float and use FMA). The default is the best of all: "AVX3_AMX" on
// a CPU with AMX-BF16.
// Names match in any case: MHSA_TARGET=avx2 selects "AVX2". An MHSA_TARGET
// that names no usable target is not an error at first use (the library
// neither prints nor throws there): the best target serves, ActiveTarget()
// names it, and TargetEnvironmentError() says why.
const char* ActiveTarget();

// The targets this build compiled and this CPU runs, best first, each
// pseudo-target just before its SIMD target: "AVX3_AMX", "AVX3_BF16",
// "AVX3", "AVX2", ... on a CPU with AMX-BF16.
std::vector<std::string> AvailableTargets();

// "" when MHSA_TARGET is unset, empty or names a usable target; otherwise one
// line naming the value (a short excerpt) and the usable targets, for a
// program that wants to refuse the value rather than run on the fallback.
// About the variable only: SetTarget does not change it.
std::string TargetEnvironmentError();

// Makes `name` (one of AvailableTargets(), in any case; "" for the best)
// serve all later calls in this process, bf16 instructions included (a SIMD
// target's name turns them off, a pseudo-target's name allows those it
// names; see ActiveTarget). Throws std::invalid_argument for any other name
// and then changes nothing.
// Meant for tests and benchmarks; not to be called while Forward runs.
void SetTarget(const std::string& name);

}  // namespace mhsa

#endif  // MHSA_MHSA_H_
