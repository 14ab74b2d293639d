// Fused causal attention (the flash form) over all (batch, head) pairs.
#ifndef MHSA_SRC_ATTENTION_H_
#define MHSA_SRC_ATTENTION_H_

#include <cstddef>

namespace mhsa {

// qkv: [batch][context][3][num_heads][head_dim] with row stride ld
//      (>= 3 * num_heads * head_dim): each row holds every head's q, then
//      every head's k, then every head's v, as the projection writes them.
// out: [batch][context][num_heads][head_dim] with row stride ld_out.
// out[b][i][h] = sum over j <= i of softmax_j(q_i·k_j / sqrt(head_dim)) v_j.
// Extra memory O(head_dim * block) per thread, never context x context.
// Parallel over (batch, head), and over query blocks when there are fewer
// pairs than threads; bitwise independent of the thread count.
void CausalAttention(const float* qkv, size_t ld, size_t batch, size_t context, size_t num_heads,
                     size_t head_dim, float* out, size_t ld_out);

}  // namespace mhsa

#endif  // MHSA_SRC_ATTENTION_H_
