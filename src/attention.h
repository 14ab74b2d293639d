// Attention over strided tensors: the checked problem, its scratch, and the
// driver that runs it on OpenMP threads. The public Attention and the
// layer both come here, so there is one attention code path.
#ifndef MHSA_SRC_ATTENTION_H_
#define MHSA_SRC_ATTENTION_H_

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "blocking.h"
#include "mhsa/attention.h"
#include "workspace.h"

namespace mhsa {

// Everything the public Attention takes, checked. Shapes as in
// include/mhsa/attention.h; strides in elements.
struct AttentionProblem {
  size_t batch = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0, q_len = 0, kv_len = 0;
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  Strides q_strides{}, k_strides{}, v_strides{}, out_strides{};
  const int* q_lengths = nullptr;  // nullptr: every sequence has q_len
  const int* kv_lengths = nullptr;
  bool causal = true;
  float scale = 1.0f;              // never 0 here: the default is resolved
  float* lse = nullptr;            // [batch][num_heads][q_len] or nullptr
  float* probabilities = nullptr;  // [batch][num_heads][q_len][kv_len] or nullptr
};

// Checks the sizes and options (throws std::invalid_argument) and returns the
// problem with defaults resolved and no tensors yet.
AttentionProblem CheckAttentionShape(const AttentionShape& shape, const AttentionOptions& options);

// Checks every public argument (throws std::invalid_argument) and returns
// the problem with defaults resolved.
AttentionProblem CheckAttention(const AttentionShape& shape, const float* q, Strides q_strides,
                                const float* k, Strides k_strides, const float* v,
                                Strides v_strides, float* out, Strides out_strides,
                                const AttentionOptions& options);

// Scratch of RunAttention on `threads` threads.
ScratchNeeds AttentionNeeds(const AttentionProblem& problem, int threads);

// Runs a checked problem. `scratch` holds AttentionNeeds(problem, threads):
// its shared part at scratch.shared(), per-thread parts at scratch.thread(t).
// Bitwise independent of the thread count.
void RunAttention(const AttentionProblem& problem, int threads, const CallScratch& scratch);

// The Highway target the attention's dispatched code was compiled for.
int64_t AttentionCompiledTarget();

// One sequence and one K/V head: the group of query heads that share it.
// What a per-target kernel needs, with pointers at the group's first query
// head and at position 0 of the sequence.
struct GroupTask {
  const float* q;
  ptrdiff_t q_pos, q_head;
  const float* k;
  ptrdiff_t k_pos;
  const float* v;
  ptrdiff_t v_pos;
  float* out;
  ptrdiff_t out_pos, out_head;
  float* lse;        // row 0 of the group's first head, or nullptr
  size_t rows_head;  // padded q_len: from one head's row 0 to the next's
  size_t group;      // query heads in the group
  size_t head_dim;
  size_t q_len, kv_len;  // this sequence's own lengths
  bool causal;
  float scale;

  float* Lse(size_t head, size_t i) const {
    return lse == nullptr ? nullptr : lse + head * rows_head + i;
  }

  // Keys query i sees: [0, Limit(i)), bottom-right aligned when causal.
  size_t Limit(size_t i) const {
    if (!causal) return kv_len;
    const auto limit = static_cast<ptrdiff_t>(i + kv_len) - static_cast<ptrdiff_t>(q_len) + 1;
    return limit <= 0 ? 0
                      : (static_cast<size_t>(limit) < kv_len ? static_cast<size_t>(limit) : kv_len);
  }
};

// Per-thread scratch of the flash path for one group task: q of one query
// block packed (scaled), k and v of every key the task's blocks see packed
// once, the score block (p in place), the output accumulators.
struct FlashScratch {
  float *q_pack, *k_pack, *v_pack, *scores, *acc;
  FlashScratch(Bump& bump, size_t head_dim, size_t kv_len)
      : q_pack(bump.Take<float>(kQueryBlock * head_dim)),
        k_pack(bump.Take<float>(RoundUp(kv_len, kPanel) * head_dim)),
        v_pack(bump.Take<float>(RoundUp(head_dim, kPanel) * kv_len)),
        scores(bump.Take<float>(kQueryBlock * kKeyBlock)),
        acc(bump.Take<float>(kQueryBlock * head_dim)) {}
};

// Per-thread scratch of the decode path for up to `rows` (<= kDecodeRows)
// query rows: q scaled and zero-padded to q_stride; one block of scores per
// row; the accumulators.
struct DecodeScratch {
  size_t q_stride;
  float *q, *scores, *acc;
  DecodeScratch(Bump& bump, size_t head_dim, size_t rows)
      : q_stride(RoundUp(head_dim, kDecodeQPad)),
        q(bump.Take<float>(rows * q_stride)),
        scores(bump.Take<float>(rows * kDecodeBlock)),
        acc(bump.Take<float>(rows * head_dim)) {}
};

// lse = m + log(l) for a row's running max m and sum l of exp(s - m), with
// one rounding instead of two: the sum is taken in double.
inline float LogSumExp(float max, float sum) {
  return static_cast<float>(static_cast<double>(max) + std::log(static_cast<double>(sum)));
}

// "No mirror block" for a flash task that runs a plain range of blocks.
inline constexpr size_t kNoBlock = ~size_t{0};

// A decode chunk's partial result per row: the unnormalised output, then the
// running max (NaN once a NaN or +inf score was seen) and sum.
inline size_t PartialStride(size_t head_dim) { return head_dim + 2; }

}  // namespace mhsa

#endif  // MHSA_SRC_ATTENTION_H_
