// mhsa: multi-head causal self-attention on the CPU.
//
// Every array is float32, row-major, dense, with shapes given in elements:
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

#include "mhsa/version.h"

namespace mhsa {

class MultiHeadedSelfAttention {
 public:
  // Weights exactly as the problem initialises them: torch.manual_seed(0), then
  // each head's key_gen, query_gen, value_gen = nn.Linear(embedding_dim,
  // head_dim, bias=False). The seed is reset for every head, so all heads start
  // with the same weights.
  MultiHeadedSelfAttention(int embedding_dim, int attention_dim, int num_heads);
  ~MultiHeadedSelfAttention();
  MultiHeadedSelfAttention(const MultiHeadedSelfAttention& other);
  MultiHeadedSelfAttention& operator=(const MultiHeadedSelfAttention& other);
  MultiHeadedSelfAttention(MultiHeadedSelfAttention&& other) noexcept;
  MultiHeadedSelfAttention& operator=(MultiHeadedSelfAttention&& other) noexcept;

  int embedding_dim() const { return embedding_dim_; }
  int attention_dim() const { return attention_dim_; }
  int num_heads() const { return num_heads_; }
  int head_dim() const { return attention_dim_ / num_heads_; }

  // Head `head`'s weights in nn.Linear layout: [head_dim][embedding_dim].
  // Not safe to call while another thread runs Forward on the same object.
  void SetHeadWeights(int head, const float* query, const float* key, const float* value);
  void GetHeadWeights(int head, float* query, float* key, float* value) const;

  // embedded: [batch][context][embedding_dim]; out: [batch][context][attention_dim].
  // Not rounded. `out` must not overlap `embedded`. Const and safe to call
  // from several threads at once on one object.
  void Forward(const float* embedded, int batch, int context, float* out) const;

  struct Impl;  // Holds the weights; defined in src/, not part of the API.

 private:
  int embedding_dim_;
  int attention_dim_;
  int num_heads_;
  std::unique_ptr<Impl> impl_;
};

// torch.round(x, decimals) for float32: nearbyint(x * 10^decimals) / 10^decimals
// in float, ties to even (decimals < 0: nearbyint(x / 10^-decimals) * 10^-decimals).
// decimals must lie in [-38, 38].
void RoundToDecimals(float* data, size_t count, int decimals);

// The SIMD target that serves calls now, e.g. "AVX3", "AVX2", "NEON", "SCALAR":
// the best one this build compiled and this CPU runs, unless the environment
// variable MHSA_TARGET (read at first use) or SetTarget names another.
const char* ActiveTarget();

// The targets this build compiled and this CPU runs, best first.
std::vector<std::string> AvailableTargets();

// Makes `name` (one of AvailableTargets(); "" for the best) serve all later
// calls in this process. Throws std::invalid_argument for any other name.
// Meant for tests and benchmarks; not to be called while Forward runs.
void SetTarget(const std::string& name);

}  // namespace mhsa

#endif  // MHSA_MHSA_H_
