// mhsa's kernels on the caller's own tensors: attention, the GEMM and the
// causal softmax. Plain C++ (C++11 and later); no Highway or OpenMP here.
//
// Errors in arguments throw std::invalid_argument before any work starts,
// naming what was expected and what was given. Nothing prints or aborts; a
// failed allocation throws std::bad_alloc and leaves everything as it was.
#ifndef MHSA_ATTENTION_H_
#define MHSA_ATTENTION_H_

#include <cstddef>
#include <cstdint>

namespace mhsa {

// A bfloat16 value as its bit pattern: the upper 16 bits of a float32 (sign,
// 8 exponent bits, 7 mantissa bits). A float becomes a bf16 by rounding to
// nearest, ties to even; a bf16 widens to the float with the same upper half
// and zero lower half, exactly.
struct bf16 {
  uint16_t bits;
};

// What the products of attention (and of the layer's projection) are computed
// in. kFloat32: float32 operands. kBFloat16: every operand of a product is
// rounded to bfloat16 first and the products are summed in float32, as the
// CPU's bf16 dot-product instructions do; the softmax stays float32. The
// README's "bfloat16" section says what is rounded, and the accuracy rule.
enum class Precision { kFloat32, kBFloat16 };

// How one call runs. The defaults suit most callers.
struct RunOptions {
  // Threads for this call; 0 means OpenMP's default (omp_get_max_threads(),
  // which honours OMP_NUM_THREADS). Inside an active OpenMP parallel region
  // a call always runs on the calling thread alone. Results are bitwise the
  // same for every thread count.
  int num_threads = 0;
  // Scratch memory. nullptr: a buffer owned by the calling thread, grown when
  // a call needs more, reused by later calls (no allocation after the first
  // call of a size) and freed by ReleaseScratch() or when the thread exits.
  // Otherwise the call uses [workspace, workspace + workspace_bytes) and
  // allocates nothing; it must hold at least what the matching
  // ...WorkspaceBytes() query returns for the same options, or the call
  // throws std::invalid_argument. One call at a time per workspace.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Frees the calling thread's default scratch (see RunOptions::workspace).
void ReleaseScratch() noexcept;

// Bytes of the calling thread's default scratch now held.
size_t ScratchBytes() noexcept;

// Element strides of a [batch][position][head][head_dim] tensor whose
// head_dim elements are contiguous. Strides may be negative or zero in
// inputs; an output must not overlap itself or any input.
struct Strides {
  int64_t batch;
  int64_t position;
  int64_t head;
};

// The two PyTorch layouts, dense:
//   (B, T, H, D): the layout nn.Linear's output reshapes into.
inline Strides StridesBTHD(int len, int heads, int head_dim) noexcept {
  return Strides{int64_t{len} * heads * head_dim, int64_t{heads} * head_dim, head_dim};
}
//   (B, H, T, D): the layout of scaled_dot_product_attention's arguments.
inline Strides StridesBHTD(int len, int heads, int head_dim) noexcept {
  return Strides{int64_t{heads} * len * head_dim, head_dim, int64_t{len} * head_dim};
}

struct AttentionShape {
  int batch = 1;
  int num_heads = 1;
  // K/V heads; must divide num_heads. Query head h reads K/V head
  // h / (num_heads / num_kv_heads): consecutive query heads share one, as
  // in grouped-query attention (1: multi-query). 0 means num_heads.
  int num_kv_heads = 0;
  int head_dim = 0;
  int q_len = 0;   // padded query length (positions in q and out)
  int kv_len = 0;  // padded key/value length (positions in k and v)
};

// The causal mask is aligned bottom-right: the last query sits at the last
// key. Query i (of q_len) sees keys j <= i + kv_len - q_len; with q_len = 3
// and kv_len = 6:
//
//              key  0 1 2 3 4 5
//     query 0       x x x x . .
//     query 1       x x x x x .
//     query 2       x x x x x x
//
// which is what a query block appended after kv_len - q_len cached positions
// must see. With per-sequence lengths, each sequence aligns its own q_length
// and kv_length the same way. A row that sees no key at all (q_len > kv_len,
// or a kv_length of 0) is written as zeros with lse = -inf, never NaN.
struct AttentionOptions {
  bool causal = true;
  // Multiplies q·kᵀ; 0 means 1 / sqrt(head_dim).
  float scale = 0.0f;
  // Per-sequence lengths, [batch] each, or nullptr for the padded lengths.
  // 0 <= q_lengths[b] <= q_len, 0 <= kv_lengths[b] <= kv_len. Keys at or past
  // kv_lengths[b] are never read; out (and lse, probabilities) rows at or
  // past q_lengths[b] are neither read nor written.
  const int* q_lengths = nullptr;
  const int* kv_lengths = nullptr;
  // Optional [batch][num_heads][q_len] output: the natural log of the sum
  // over visible keys of exp(scale * q·k). Two attentions of the same queries
  // over disjoint key sets, (out1, lse1) and (out2, lse2), merge exactly:
  //   lse = log(exp(lse1) + exp(lse2)),
  //   out = exp(lse1 - lse) * out1 + exp(lse2 - lse) * out2.
  float* lse = nullptr;
  // Optional dense [batch][num_heads][q_len][kv_len] output: the attention
  // probabilities, 0 at masked keys. For inputs small enough to hold them;
  // costs a second pass over q·kᵀ.
  float* probabilities = nullptr;
  // kBFloat16: q·kᵀ and p·v with bf16 products, float32 sums. Rounded to
  // bf16: q * scale, k, v, and the unnormalised weights p = exp(s - max)
  // before p·v; the softmax (max, exp, the sums of p, which use p before
  // rounding), lse and probabilities stay float32. Tensors given as bf16
  // (the overload below) are always computed this way, whatever this says.
  Precision precision = Precision::kFloat32;
  RunOptions run;
};

// out = softmax(scale · q·kᵀ + mask) · v, per sequence and head.
//   q:   [batch][q_len][num_heads][head_dim] with strides q_strides
//   k,v: [batch][kv_len][num_kv_heads][head_dim] with their strides
//   out: [batch][q_len][num_heads][head_dim] with strides out_strides
// The problem's layer's interleaved buffer, a (B, T, H, D) tensor and a
// (B, H, T, D) tensor are all such views. Masked keys get an exact zero
// weight and are never multiplied, so a NaN in a later key or value cannot
// reach an earlier query. A row whose visible scores hold NaN or +inf
// becomes NaN, as in PyTorch. Const inputs are never written.
void Attention(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
               Strides k_strides, const float* v, Strides v_strides, float* out,
               Strides out_strides, const AttentionOptions& options = AttentionOptions());

// The same on bf16 tensors (half the bytes of float ones), with float
// output: computed with bf16 products as AttentionOptions::precision
// kBFloat16 describes (q * scale rounded again to bf16; k and v used as
// they are). Strides in elements, as above. Its scratch is what
// AttentionWorkspaceBytes returns for options with precision kBFloat16.
void Attention(const AttentionShape& shape, const bf16* q, Strides q_strides, const bf16* k,
               Strides k_strides, const bf16* v, Strides v_strides, float* out, Strides out_strides,
               const AttentionOptions& options = AttentionOptions());

// Scratch bytes the calls above need with these options (RunOptions'
// num_threads decides how many per-thread parts are counted; precision
// kBFloat16 counts the bf16 path, which serves bf16 tensors too).
size_t AttentionWorkspaceBytes(const AttentionShape& shape,
                               const AttentionOptions& options = AttentionOptions());

// C[m][n] = alpha * op(A) · op(B) + beta * C, row-major; op(X) = Xᵀ when trans_x.
// A is [m][k] (or [k][m] when trans_a) with row stride lda; B is [k][n] (or [n][k]) with ldb.
// beta == 0 never reads C. The convention of dnnl_sgemm and
// cblas_sgemm(CblasRowMajor, ...). alpha == 0 reads neither A nor B.
void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);
void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc, const RunOptions& options);
size_t SgemmWorkspaceBytes(int m, int n, int k, const RunOptions& options = RunOptions());

// Causal softmax of a [rows][cols] score matrix in place (row stride ld):
// row i is multiplied by `scale`, then softmaxed over columns
// j <= i + cols - rows (bottom-right, as in Attention); later columns become
// exactly 0. A row that sees no column becomes zeros; a row whose visible
// scores hold NaN or +inf becomes NaN over them. Single-threaded.
void CausalSoftmax(float* scores, int rows, int cols, int ld, float scale = 1.0f);

}  // namespace mhsa

#endif  // MHSA_ATTENTION_H_
