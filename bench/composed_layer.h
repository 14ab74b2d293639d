// The attention layer as a user would assemble it from a GEMM library: one
// projection GEMM for all heads, then per (batch, head) the whole
// context x context score matrix q·kᵀ, a plain masked softmax, and p·v.
// Materialising the scores (and multiplying the masked zeros) is what such a
// user does; mhsa's flash form avoids both, and attention_bench measures what
// that is worth.
#ifndef MHSA_BENCH_COMPOSED_LAYER_H_
#define MHSA_BENCH_COMPOSED_LAYER_H_

#include <cstddef>
#include <vector>

#include "peers.h"

namespace mhsa::bench {

class ComposedLayer {
 public:
  // wqkv: [3][attention_dim][embedding_dim]: every head's query weights
  // (head h in rows h * head_dim ...), then every head's key weights, then
  // value weights; the nn.Linear layout stacked.
  ComposedLayer(Peer peer, std::vector<float> wqkv, size_t embedding_dim, size_t attention_dim,
                size_t num_heads);

  // x: [batch][context][embedding_dim]; out: [batch][context][attention_dim].
  // The projection uses the library's own `threads`; the (batch, head) tasks
  // are spread over `threads` OpenMP threads, each calling the library
  // single-threaded, which is how a careful user avoids nesting.
  void Forward(const float* x, size_t batch, size_t context, float* out, int threads);

 private:
  Peer peer_;
  std::vector<float> wqkv_;
  size_t embedding_dim_, attention_dim_, num_heads_;
  // Workspace, grown on first use and kept like a user would keep it:
  // qkv_ [batch][context][3][attention_dim]; scores_ one
  // [context][context] matrix per thread.
  std::vector<float> qkv_;
  std::vector<std::vector<float>> scores_;
};

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_COMPOSED_LAYER_H_
