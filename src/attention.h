// Attention over strided tensors: the checked problem, its scratch, and the
// driver that runs it on OpenMP threads. The public Attention and the
// layer both come here, so there is one attention code path.
#ifndef MHSA_SRC_ATTENTION_H_
#define MHSA_SRC_ATTENTION_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>

#include "blocking.h"
#include "gemm_bf16.h"
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
  // kBFloat16: the bf16 path (attention_bf16.cc). A tensor given as bf16 is
  // here instead of above (q may be float while k and v are bf16: the
  // layer's KV cache); bf16 tensors imply kBFloat16.
  Precision precision = Precision::kFloat32;
  const uint16_t* q_bf16 = nullptr;
  const uint16_t* k_bf16 = nullptr;
  const uint16_t* v_bf16 = nullptr;
};

// Checks the sizes and options (throws std::invalid_argument) and returns the
// problem with defaults resolved and no tensors yet.
AttentionProblem CheckAttentionShape(const AttentionShape& shape, const AttentionOptions& options);

// Checks every public argument (throws std::invalid_argument) and returns
// the problem with defaults resolved; bf16 tensors set the problem's
// precision to kBFloat16.
AttentionProblem CheckAttention(const AttentionShape& shape, const float* q, Strides q_strides,
                                const float* k, Strides k_strides, const float* v,
                                Strides v_strides, float* out, Strides out_strides,
                                const AttentionOptions& options);
AttentionProblem CheckAttention(const AttentionShape& shape, const uint16_t* q, Strides q_strides,
                                const uint16_t* k, Strides k_strides, const uint16_t* v,
                                Strides v_strides, float* out, Strides out_strides,
                                const AttentionOptions& options);

// Scratch of RunAttention on `threads` threads.
ScratchNeeds AttentionNeeds(const AttentionProblem& problem, int threads);

// Writes the k and v of the q_len new positions of sequence b, K/V head g
// where the problem reads them: the layer's append to its KV cache.
using PairFill = std::function<void(size_t b, size_t g)>;

// Runs a checked problem. `scratch` holds AttentionNeeds(problem, threads):
// its shared part at scratch.shared(), per-thread parts at scratch.thread(t).
// Bitwise independent of the thread count. `fill`, if set, runs once per
// (sequence, K/V head) pair before anything reads that pair's k or v.
void RunAttention(const AttentionProblem& problem, int threads, const CallScratch& scratch,
                  const PairFill& fill = nullptr);

// The Highway target the attention's dispatched code was compiled for.
int64_t AttentionCompiledTarget();

// A causal limit past the steps of any block: a product without the mask.
inline constexpr ptrdiff_t kNoStepLimit = std::numeric_limits<ptrdiff_t>::max() / 2;

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
  // The bf16 path: tensors given as bf16 (then the float pointer is null),
  // and the GEMM kernel chosen for the call.
  const uint16_t* q_bf16;
  const uint16_t* k_bf16;
  const uint16_t* v_bf16;
  const Bf16Kernel* bf16_kernel;
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

  // The causal limit of p·v for the block of query rows from i0 against the
  // key block from key j0: row i0 + r may use the block's steps p <
  // PvDiag(i0, j0) + r. Unclamped: a row before the first key it may see
  // has a negative limit and must skip every step, not start at step 0.
  // Without the mask, kNoStepLimit.
  ptrdiff_t PvDiag(size_t i0, size_t j0) const {
    if (!causal) return kNoStepLimit;
    return static_cast<ptrdiff_t>(i0 + kv_len + 1) - static_cast<ptrdiff_t>(q_len + j0);
  }

  // Keys query i sees: [0, Limit(i)), bottom-right aligned when causal.
  size_t Limit(size_t i) const {
    if (!causal) return kv_len;
    const auto limit = static_cast<ptrdiff_t>(i + kv_len) - static_cast<ptrdiff_t>(q_len) + 1;
    return limit <= 0 ? 0
                      : (static_cast<size_t>(limit) < kv_len ? static_cast<size_t>(limit) : kv_len);
  }
};

// The per-target functions of one attention path (float32 or bf16),
// looked up once per call.
using FlashGroupFn = void (*)(const GroupTask& t, size_t block_begin, size_t block_end,
                              size_t mirror, void* scratch);
using DecodeChunkFn = void (*)(const GroupTask& t, size_t key_begin, size_t key_end, float* partial,
                               void* scratch);
using ProbabilityRowsFn = void (*)(const GroupTask& t, size_t head, size_t row_begin,
                                   size_t row_end, float* probabilities, size_t kv_len_padded,
                                   void* scratch);
struct AttentionPath {
  FlashGroupFn flash;
  DecodeChunkFn decode;
  ProbabilityRowsFn probability_rows;
  size_t query_block;      // Rows per flash block: kQueryBlock or kBf16QueryBlock.
  Bf16Kernel bf16_kernel;  // The bf16 path's GEMM kernel (unused in float32).
};

// The bf16 path for the chosen target and bf16 kernel (attention_bf16.cc),
// its per-thread flash scratch, and the target its code was compiled for.
AttentionPath Bf16AttentionPath();
// The bf16 path's flash on the float kernels (attention.cc), which that
// path takes when the chosen bf16 kernel widens.
FlashGroupFn Bf16ValuesFlashGroup();
int64_t AttentionBf16CompiledTarget();

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

// Per-thread scratch of the bf16 flash path for one group task: one query
// block's q * scale (float) and its packing by the bf16 kernel (rounded),
// k and v of every key the task's blocks see packed once (bf16, the layout
// of gemm_bf16.h), the score block (p in place) and p packed (rounded), the
// output accumulators. Packed A is sized for every kernel (MaxPackedABytes),
// so the scratch does not depend on the one chosen.
struct FlashBf16Scratch {
  float* q_rows;
  void* q_pack;
  uint16_t *k_pack, *v_pack;
  float* scores;
  void* p_pack;
  float* acc;
  FlashBf16Scratch(Bump& bump, size_t head_dim, size_t kv_len)
      : q_rows(bump.Take<float>(kBf16QueryBlock * head_dim)),
        q_pack(bump.Take<char>(MaxPackedABytes(kBf16QueryBlock, head_dim))),
        k_pack(bump.Take<uint16_t>(PackedBf16BElements(kv_len, head_dim))),
        v_pack(bump.Take<uint16_t>(PackedBf16BElements(head_dim, kv_len))),
        scores(bump.Take<float>(kBf16QueryBlock * kKeyBlock)),
        p_pack(bump.Take<char>(MaxPackedABytes(kBf16QueryBlock, kKeyBlock))),
        acc(bump.Take<float>(kBf16QueryBlock * head_dim)) {}
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

// The query blocks of one flash group task, the same for both precisions:
// blocks [begin, end) of `rows` query rows each (the last block of the
// sequence may be shorter) and, unless it is kNoBlock, block `mirror`, for
// every query head of the group.
struct FlashBlocks {
  size_t rows, begin, end, mirror;

  // Keys the blocks see, packed once for all of them: what the last row of
  // the latest block sees (limits grow with the row).
  size_t Keys(const GroupTask& t) const {
    const auto keys_for = [&](size_t block) {
      return t.Limit(std::min(t.q_len, (block + 1) * rows) - 1);
    };
    size_t keys = end > begin ? keys_for(end - 1) : 0;
    if (mirror != kNoBlock) keys = std::max(keys, keys_for(mirror));
    return keys;
  }

  // Calls block(head, first_row, row_count) for each head, then each block.
  template <class F>
  void ForEach(const GroupTask& t, const F& block) const {
    for (size_t head = 0; head < t.group; ++head) {
      const auto run = [&](size_t b) {
        const size_t i0 = b * rows;
        block(head, i0, std::min(rows, t.q_len - i0));
      };
      for (size_t b = begin; b < end; ++b) run(b);
      if (mirror != kNoBlock) run(mirror);
    }
  }
};

// A decode chunk's partial result per row: the unnormalised output, then the
// running max (NaN once a NaN or +inf score was seen) and sum.
inline size_t PartialStride(size_t head_dim) { return head_dim + 2; }

}  // namespace mhsa

#endif  // MHSA_SRC_ATTENTION_H_
