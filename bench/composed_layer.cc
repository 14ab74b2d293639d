#include "composed_layer.h"

#include <omp.h>

#include <cmath>
#include <utility>

#include "plain_softmax.h"

namespace mhsa::bench {

ComposedLayer::ComposedLayer(Peer peer, std::vector<float> wqkv, size_t embedding_dim,
                             size_t attention_dim, size_t num_heads)
    : peer_(std::move(peer)),
      wqkv_(std::move(wqkv)),
      embedding_dim_(embedding_dim),
      attention_dim_(attention_dim),
      num_heads_(num_heads) {}

void ComposedLayer::Forward(const float* x, size_t batch, size_t context, float* out, int threads) {
  const size_t e = embedding_dim_, a = attention_dim_, t = context;
  const size_t head_dim = a / num_heads_;
  const size_t ld_qkv = 3 * a;
  if (qkv_.size() < batch * t * ld_qkv) qkv_.resize(batch * t * ld_qkv);
  if (scores_.size() < static_cast<size_t>(threads)) scores_.resize(static_cast<size_t>(threads));
  for (auto& scores : scores_) {
    if (scores.size() < t * t) scores.resize(t * t);
  }

  // qkv = x·Wqkvᵀ: [batch * context][3 * attention_dim], all heads at once.
  peer_.set_threads(threads);
  peer_.gemm_bt(x, e, wqkv_.data(), e, qkv_.data(), ld_qkv, batch * t, ld_qkv, e);

  peer_.set_threads(1);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const size_t tasks = batch * num_heads_;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (size_t task = 0; task < tasks; ++task) {
    const size_t b = task / num_heads_, h = task % num_heads_;
    float* scores = scores_[static_cast<size_t>(omp_get_thread_num())].data();
    const float* rows = qkv_.data() + b * t * ld_qkv;
    const float* q = rows + h * head_dim;
    const float* k = rows + a + h * head_dim;
    const float* v = rows + 2 * a + h * head_dim;
    // scores = q·kᵀ: [context][context], all of it, masked entries included.
    peer_.gemm_bt(q, ld_qkv, k, ld_qkv, scores, t, t, t, head_dim);
    PlainCausalSoftmax(scores, t, t, t, /*first_query=*/0, scale);
    // out = p·v: [context][head_dim], into head h's columns.
    peer_.gemm_nn(scores, t, v, ld_qkv, out + b * t * a + h * head_dim, a, t, head_dim, t);
  }
}

}  // namespace mhsa::bench
