// Attention with bf16 products (Precision::kBFloat16) for each SIMD target,
// and the public Attention on bf16 tensors. The two paths of attention.cc,
// with its task split and driver (RunAttention picks these functions for a
// bf16 problem), its key blocks and its online softmax in float32; what
// differs is what is rounded to bf16 before a product:
//   q * scale (the scale folded in first, as the float path does), k, v,
//   and p = exp(s - m) before p·v. The running sum l adds p before rounding.
//  - Flash (prefill): q·kᵀ and p·v run on the call's Bf16Kernel (AMX tiles,
//    vdpbf16ps or BFDOT), q and p packed (rounded) into its A layout, k and
//    v packed once per task into the shared B layout. Diagonal tiles stop
//    each row at its own last key, as the kernels' `diag` promises, so a
//    NaN in a future value cannot leak. Where the chosen kernel widens (no
//    bf16 instructions), the float path's flash runs instead on the same
//    rounded values (FlashGroupBf16Values, attention.cc).
//  - Decode (at most kDecodeRows query rows per K/V group): each key and
//    value row is read once, in place, as bf16 widened to float (or float
//    rounded to bf16), and multiplied by the rounded q or p in float FMAs.
//    A product of two bf16 values is exact in float, so the decode path
//    rounds exactly the intermediates the flash path rounds.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention_bf16.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <algorithm>
#include <cmath>
#include <limits>

#include "attention-inl.h"
#include "attention.h"
#include "bf16-inl.h"
#include "decode-inl.h"
#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// ------------------------------------------------------------------- flash

// One block of `rows` query rows (first row i0) of query head `head` in the
// group, against keys packed in s.k_pack / s.v_pack (keys_packed of them).
// The steps of FlashBlock (attention.cc), on the bf16 kernel.
void FlashBlockBf16(const GroupTask& t, size_t head, size_t i0, size_t rows, size_t keys_packed,
                    const FlashBf16Scratch& s) {
  if (rows == 0) return;  // Never asked for; the limits below need a row.
  const Bf16Kernel& kernel = *t.bf16_kernel;
  const size_t dim = t.head_dim;
  // q * scale in float, rounded to bf16 by the kernel's packing.
  for (size_t r = 0; r < rows; ++r) ScaledQueryRow(t, head, i0 + r, s.q_rows + r * dim);
  kernel.pack_a_f32(s.q_rows, dim, rows, dim, s.q_pack);
  std::fill(s.acc, s.acc + rows * dim, 0.0f);
  OnlineRow state[kBf16QueryBlock];
  size_t limit[kBf16QueryBlock];
  for (size_t r = 0; r < rows; ++r) {
    state[r] = OnlineRow();
    limit[r] = t.Limit(i0 + r);
  }
  const size_t key_end = limit[rows - 1];  // Limits grow with the row.
  const ptrdiff_t kNoMask = std::numeric_limits<ptrdiff_t>::max() / 2;
  const size_t k_pairs = (dim + 1) / 2, v_pairs = (keys_packed + 1) / 2;
  for (size_t j0 = 0; j0 < key_end; j0 += kKeyBlock) {
    const size_t keys = std::min(kKeyBlock, key_end - j0);
    // scores = q_block · k_blockᵀ: [rows][keys], row stride kKeyBlock. The
    // key block starts on a panel (j0 is a multiple of 32).
    kernel.tiles(s.q_pack, rows, s.k_pack + j0 / kBf16Panel * k_pairs * 2 * kBf16Panel, k_pairs,
                 keys, dim, s.scores, kKeyBlock, /*accumulate=*/false, kNoMask);
    for (size_t r = 0; r < rows; ++r) {
      const size_t visible = limit[r] <= j0 ? 0 : std::min(keys, limit[r] - j0);
      const float correction =
          OnlineSoftmaxUpdate(s.scores + r * kKeyBlock, visible, keys, &state[r]);
      if (correction != 1.0f) ScaleRow(s.acc + r * dim, dim, correction);
    }
    // p rounded to bf16 by the kernel's packing; l above summed it before.
    kernel.pack_a_f32(s.scores, kKeyBlock, rows, keys, s.p_pack);
    // acc += p · v_block, row r stopping at its own last key (steps
    // p < diag + r), as in FlashBlock. In causal attention no row reaches
    // past `keys`; without the mask `keys` reaches kv_len, past which the
    // packed v is zero padding.
    const ptrdiff_t diag =
        t.causal ? static_cast<ptrdiff_t>(i0 + t.kv_len + 1) - static_cast<ptrdiff_t>(t.q_len + j0)
                 : kNoMask;
    kernel.tiles(s.p_pack, rows, s.v_pack + j0 / 2 * 2 * kBf16Panel, v_pairs, dim, keys, s.acc, dim,
                 /*accumulate=*/true, diag);
  }
  float* out = t.out + static_cast<ptrdiff_t>(head) * t.out_head;
  for (size_t r = 0; r < rows; ++r) {
    FinishRow(s.acc + r * dim, state[r], limit[r] > 0, dim,
              out + static_cast<ptrdiff_t>(i0 + r) * t.out_pos, t.Lse(head, i0 + r));
  }
}

// The flash path of one group task: query blocks [block_begin, block_end)
// and, unless it is kNoBlock, block `mirror` (blocks of kBf16QueryBlock),
// of every query head in the group; k and v are packed once for all.
void FlashGroupBf16(const GroupTask& t, size_t block_begin, size_t block_end, size_t mirror,
                    void* scratch) {
  const FlashBlocks blocks{kBf16QueryBlock, block_begin, block_end, mirror};
  const size_t keys = blocks.Keys(t);
  Bump bump(scratch);
  const FlashBf16Scratch s(bump, t.head_dim, keys);
  if (keys > 0) {
    if (t.k_bf16 != nullptr) {
      PackBf16RowsStrided(t.k_bf16, t.k_pos, keys, t.head_dim, s.k_pack);
      PackBf16ColsStrided(t.v_bf16, t.v_pos, t.head_dim, keys, s.v_pack);
    } else {
      PackBf16RowsStrided(t.k, t.k_pos, keys, t.head_dim, s.k_pack);
      PackBf16ColsStrided(t.v, t.v_pos, t.head_dim, keys, s.v_pack);
    }
  }
  blocks.ForEach(
      t, [&](size_t head, size_t i0, size_t rows) { FlashBlockBf16(t, head, i0, rows, keys, s); });
}

// ------------------------------------------------------------------ decode

void DecodeChunkBf16(const GroupTask& t, size_t key_begin, size_t key_end, float* partial,
                     void* scratch) {
  if (t.k_bf16 != nullptr) {
    DecodeRows<Bf16Products>(t, t.k_bf16, t.v_bf16, key_begin, key_end, partial, scratch);
  } else {
    DecodeRows<Bf16Products>(t, t.k, t.v, key_begin, key_end, partial, scratch);
  }
}

// ----------------------------------------------------------- probabilities

// ProbabilityRows (attention.cc) with the bf16 path's scores: rows
// [row_begin, row_end) of query head `head`, each softmaxed on its own.
template <typename T>
void ProbabilityRowsBf16Impl(const GroupTask& t, const T* k, size_t head, size_t row_begin,
                             size_t row_end, float* probabilities, size_t kv_len_padded,
                             void* scratch) {
  const size_t dim = t.head_dim;
  float* qs = static_cast<float*>(scratch);
  std::fill(qs, qs + RoundUp(dim, kDecodeQPad), 0.0f);
  for (size_t i = row_begin; i < row_end; ++i) {
    ScaledQueryRow(t, head, i, qs);
    RoundQueryRow<Bf16Products>(qs, dim);
    float* row = probabilities + i * kv_len_padded;
    const size_t limit = t.Limit(i);
    for (size_t j = 0; j < limit; ++j) {
      row[j] = Dot1<Bf16Products>(qs, k + static_cast<ptrdiff_t>(j) * t.k_pos, dim);
    }
    CausalSoftmaxRow(row, limit, kv_len_padded, 1.0f);
  }
}

void ProbabilityRowsBf16(const GroupTask& t, size_t head, size_t row_begin, size_t row_end,
                         float* probabilities, size_t kv_len_padded, void* scratch) {
  if (t.k_bf16 != nullptr) {
    ProbabilityRowsBf16Impl(t, t.k_bf16, head, row_begin, row_end, probabilities, kv_len_padded,
                            scratch);
  } else {
    ProbabilityRowsBf16Impl(t, t.k, head, row_begin, row_end, probabilities, kv_len_padded,
                            scratch);
  }
}

int64_t AttentionBf16TargetId() { return HWY_TARGET; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "dispatch.h"
#include "parallel.h"

namespace mhsa {

HWY_EXPORT(FlashGroupBf16);
HWY_EXPORT(DecodeChunkBf16);
HWY_EXPORT(ProbabilityRowsBf16);
HWY_EXPORT(AttentionBf16TargetId);

int64_t AttentionBf16CompiledTarget() { return MHSA_DISPATCH(AttentionBf16TargetId)(); }

AttentionPath Bf16AttentionPath() {
  const Bf16Kernel kernel = ChosenBf16Kernel();
  if (WidensBf16(kernel)) {
    return AttentionPath{Bf16ValuesFlashGroup(), &MHSA_DISPATCH(DecodeChunkBf16),
                         &MHSA_DISPATCH(ProbabilityRowsBf16), kQueryBlock, kernel};
  }
  return AttentionPath{&MHSA_DISPATCH(FlashGroupBf16), &MHSA_DISPATCH(DecodeChunkBf16),
                       &MHSA_DISPATCH(ProbabilityRowsBf16), kBf16QueryBlock, kernel};
}

static_assert(sizeof(bf16) == sizeof(uint16_t), "mhsa::bf16 is its bit pattern");
static_assert(alignof(bf16) == alignof(uint16_t), "mhsa::bf16 is its bit pattern");

void Attention(const AttentionShape& shape, const bf16* q, Strides q_strides, const bf16* k,
               Strides k_strides, const bf16* v, Strides v_strides, float* out, Strides out_strides,
               const AttentionOptions& options) {
  const AttentionProblem p = CheckAttention(
      shape, reinterpret_cast<const uint16_t*>(q), q_strides, reinterpret_cast<const uint16_t*>(k),
      k_strides, reinterpret_cast<const uint16_t*>(v), v_strides, out, out_strides, options);
  const int threads = ThreadsForCall(options.run);
  const CallScratch scratch(options.run, AttentionNeeds(p, threads), threads);
  RunAttention(p, threads, scratch);
}

}  // namespace mhsa
#endif  // HWY_ONCE
