// The plain scalar reference: the problem's computation written as loops, with
// an explicit causal mask. It is the spec that every fast kernel is proven
// against, so it stays plain: no blocking, no SIMD, no cleverness.
//
// Two precisions, each summing in itself: T = float (what a float32 user
// would get) and T = double (the "truth" for error bounds). Double sums are
// enough for the truth: the error rule's floor (tests/error_rule.h) is one
// float epsilon (1.2e-7) of the largest output, and a double sum of k terms
// is off by at most k * 2^-53 of the sum of its terms' magnitudes (1.1e-13
// for a thousand terms). The sums were long double once, and cost much: IEEE
// quad in software on aarch64 (the AwkwardSizes tests took 5-6x as long
// under qemu), x87 on x86 (1.5-2.2x as long).
#ifndef MHSA_SRC_REFERENCE_H_
#define MHSA_SRC_REFERENCE_H_

#include <cstddef>

#include "mhsa/attention.h"

namespace mhsa {
namespace ref {

// c[i][j] = sum_k a[i][k] * b[j][k]: C = A·Bᵀ with B stored as rows, the shape
// of both x·Wᵀ and q·kᵀ.
// a: [m][k] stride lda; b: [n][k] stride ldb; c: [m][n] stride ldc.
template <typename T>
void MatMulBt(const T* a, size_t lda, const T* b, size_t ldb, T* c, size_t ldc, size_t m, size_t n,
              size_t k);

// Row r is query position q = first_query + r: softmax over columns 0..q
// (the causal mask), after dividing each score by `divisor` (sqrt(head_dim),
// as the problem writes it); columns after q become exactly 0.
// scores: [rows][cols] stride ld, first_query + rows <= cols.
template <typename T>
void CausalSoftmax(T* scores, size_t ld, size_t rows, size_t cols, size_t first_query, T divisor);

// One head of one sequence.
// x: [context][embedding_dim]; wq, wk, wv: [head_dim][embedding_dim];
// out: [context][head_dim] with row stride ld_out.
template <typename T>
void Head(const float* x, size_t context, size_t embedding_dim, const float* wq, const float* wk,
          const float* wv, size_t head_dim, T* out, size_t ld_out);

// The whole layer.
// x: [batch][context][embedding_dim];
// weights: [num_heads][3][head_dim][embedding_dim], projections in the order
// query, key, value;
// out: [batch][context][num_heads * head_dim].
template <typename T>
void Forward(const float* x, size_t batch, size_t context, size_t embedding_dim,
             const float* weights, size_t num_heads, size_t head_dim, T* out);

// C = alpha * op(A) · op(B) + beta * C, row-major, as the public Sgemm
// (beta == 0: C is not read).
template <typename T>
void Gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, T alpha, const float* a,
          size_t lda, const float* b, size_t ldb, T beta, T* c, size_t ldc);

// The public Attention as plain loops, per sequence b, head h and query i
// below its q_length: the keys j it sees (j < kv_length, and with `causal`
// j <= i + kv_length - q_length), scores s_j = (q_i · k_j) * scale, then
//   no visible key:                  out = 0, lse = -inf
//   a visible score NaN or +inf:     out = NaN, lse = NaN
//   every visible score -inf:        out = NaN, lse = -inf
//   otherwise: p_j = exp(s_j - max) / sum, out = sum_j p_j v_j,
//              lse = max + log(sum_j exp(s_j - max)).
// KV head of query head h: h / (num_heads / num_kv_heads). out, lse and
// probabilities are written only for rows below q_length; lse
// ([batch][num_heads][q_len]) and probabilities ([...][kv_len], zero at
// masked keys) may be null.
template <typename T>
void Attention(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
               Strides k_strides, const float* v, Strides v_strides, T* out, Strides out_strides,
               bool causal, T scale, const int* q_lengths, const int* kv_lengths, T* lse,
               T* probabilities);

// ---------------------------------------------------------------- bf16
// Precision::kBFloat16 as plain float32 loops: exactly what the bf16 kernels
// round to bf16 (nearest, ties to even) is rounded here, and nothing else:
//   x and the weights;                      q, k, v = x·Wᵀ summed in float
//   q * scale, k and v;                     s_j = Σ_d q_d k_jd in float
//   p_j = exp(s_j - max) (unnormalised), l = Σ_j p_j of the unrounded p_j,
//   out = Σ_j bf16(p_j) v_j / l,            lse = max + log(l)
// Rows with no key, or with NaN, +inf or only -inf scores, as Attention.
// It is the spec of the bf16 path and the "plain" side of its accuracy
// rule (README: a bf16 result's max error against the float64 reference of
// the unrounded inputs is at most twice this computation's, plus the floor).

// Attention on float tensors, with bf16 products as above (bf16 tensors:
// widen them first; rounding a bf16 value again changes nothing).
// Arguments as Attention<float>; probabilities are p_j / l.
void AttentionBf16(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
                   Strides k_strides, const float* v, Strides v_strides, float* out,
                   Strides out_strides, bool causal, float scale, const int* q_lengths,
                   const int* kv_lengths, float* lse, float* probabilities);

// The bf16 layer: arguments as Forward; scale = 1 / sqrt(head_dim) in float.
void ForwardBf16(const float* x, size_t batch, size_t context, size_t embedding_dim,
                 const float* weights, size_t num_heads, size_t head_dim, float* out);

}  // namespace ref
}  // namespace mhsa

#endif  // MHSA_SRC_REFERENCE_H_
