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
//    NaN in a future value cannot leak. On vdpbf16ps (AVX3_BF16) the
//    scores and their softmax stay in registers, as in the float path's
//    tiles (DotScoreProduct); the other kernels write the scores and take
//    the softmax row by row. Where the chosen kernel widens (no bf16
//    instructions), the float path's flash runs instead on the same
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
#include <cstring>

#include "attention-inl.h"
#include "attention.h"
#include "bf16-inl.h"
#include "decode-inl.h"
#include "flash_tile-inl.h"
#include "hwy/highway.h"
#include "softmax-inl.h"

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// ------------------------------------------------------------------- flash

// Writes the finished rows [i0, i0 + rows) of query head `head` of a
// block (FinishRow), from their accumulators acc ([rows][head_dim]).
void FinishRows(const GroupTask& t, size_t head, size_t i0, size_t rows, const size_t* limit,
                const OnlineRow* state, const float* acc) {
  float* out = t.out + static_cast<ptrdiff_t>(head) * t.out_head;
  for (size_t r = 0; r < rows; ++r) {
    FinishRow(acc + r * t.head_dim, state[r], limit[r] > 0, t.head_dim,
              out + static_cast<ptrdiff_t>(i0 + r) * t.out_pos, t.Lse(head, i0 + r));
  }
}

// acc += p · v for key block j0 (`keys` keys) on the bf16 kernel: p, the
// score block, rounded to bf16 by the kernel's packing (the rows' sums
// added it before), each row stopping at its own last key (PvDiag), as in
// FlashBlock. In causal attention no row reaches past `keys`; without the
// mask `keys` reaches kv_len, past which the packed v is zero padding.
void AccumulatePv(const GroupTask& t, size_t i0, size_t rows, size_t j0, size_t keys,
                  size_t keys_packed, const FlashBf16Scratch& s) {
  const Bf16Kernel& kernel = *t.bf16_kernel;
  kernel.pack_a_f32(s.scores, kKeyBlock, rows, keys, s.p_pack);
  kernel.tiles(s.p_pack, rows, s.v_pack + j0 / 2 * 2 * kBf16Panel, (keys_packed + 1) / 2,
               t.head_dim, keys, s.acc, t.head_dim, /*accumulate=*/true, t.PvDiag(i0, j0));
}

#undef MHSA_DOT_TILES  // Defined once per target.
#undef MHSA_DOT_TILE_ATTR
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// The score tiles of the vdpbf16ps kernel (AVX3_BF16) with their softmax in
// registers: the float path's ScoreProduct (flash_tile-inl.h) with q·kᵀ on
// vdpbf16ps. Compiled for this AVX-512 target plus AVX512_BF16 (the
// Highway functions inline into it), run only where that kernel serves.
#define MHSA_DOT_TILES 1
// The whole target string: clang's function attribute replaces the one
// that HWY_BEFORE_NAMESPACE applies, where GCC adds to it.
#define MHSA_DOT_TILE_ATTR __attribute__((target(HWY_TARGET_STR ",avx512bf16")))
static_assert(kMR == kAvx512Bf16MR && kNV == 2, "the float tile's shape is the dot kernel's");

// One tile of kRows query rows (their k-pair panel at ap: [kp][kMR][2]) and
// the keys of one key panel (bpanel: [kp][32][2]) in its first kVecs
// vectors (ForEachScoreTile), then SoftmaxTile:
// p written to p + r * kKeyBlock + c0 + j, unrounded (the packing of p for
// p·v rounds it), and added to the rows' sums.
// Out of line (the only code with vdpbf16ps here): the caller dispatches
// on the tile height through a lambda, which clang would not inline it into.
template <size_t kRows, size_t kVecs>
MHSA_DOT_TILE_ATTR HWY_NOINLINE void DotScoreTile(const uint16_t* HWY_RESTRICT ap,
                                                  const uint16_t* HWY_RESTRICT bpanel, size_t kp,
                                                  size_t c0, const size_t* visible, bool first_tile,
                                                  float* HWY_RESTRICT p, const LazyRows& rows) {
  VF acc[kRows][kVecs];
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::Zero(DF());
  }
  for (size_t q = 0; q < kp; ++q) {
    const uint16_t* HWY_RESTRICT bq = bpanel + q * 2 * kPanel;
    const uint16_t* HWY_RESTRICT aq = ap + q * 2 * kMR;
    __m512bh b[kVecs];
    for (size_t v = 0; v < kVecs; ++v) b[v] = (__m512bh)_mm512_loadu_si512(bq + v * kPanel);
    HWY_UNROLL(16)
    for (size_t r = 0; r < kRows; ++r) {
      int32_t pair;
      std::memcpy(&pair, aq + 2 * r, sizeof(pair));
      const auto a = (__m512bh)_mm512_set1_epi32(pair);
      for (size_t v = 0; v < kVecs; ++v) acc[r][v].raw = _mm512_dpbf16_ps(acc[r][v].raw, b[v], a);
    }
  }
  SoftmaxTile<kRows, false, kVecs>(acc, c0, visible, first_tile, p, rows);
}

// p for the first m rows of a query block (q packed by the kernel at
// q_pack) against one key block (k_block, packed B, panels of kp k-pairs),
// as ScoreProduct: tile by tile in ForEachScoreTile's order.
void DotScoreProduct(const uint16_t* HWY_RESTRICT q_pack, size_t m,
                     const uint16_t* HWY_RESTRICT k_block, size_t kp, size_t keys,
                     const size_t* visible, bool first_block, float* HWY_RESTRICT p,
                     const LazyRows& rows) {
  ForEachScoreTile(m, keys, visible, [&](auto tile_rows, auto vecs, size_t i0, size_t c0) {
    DotScoreTile<decltype(tile_rows)::value, decltype(vecs)::value>(
        q_pack + i0 * 2 * kp, k_block + c0 / kPanel * kp * 2 * kPanel, kp, c0, visible + i0,
        first_block && c0 == 0, p + i0 * kKeyBlock, rows.From(i0));
  });
}

// Whether the kernel is the one DotScoreProduct stands in for.
bool DotTiles(const Bf16Kernel& kernel) { return kernel.tiles == Avx512Bf16Kernel().tiles; }

// The key blocks of one query block (rows [i0, i0 + rows), their key
// limits) on the vdpbf16ps kernel with fused score tiles: p from
// DotScoreProduct, packed (rounded) by the kernel, then p·v on its tiles,
// each row stopping at its own keys. Leaves each row's reference, sum and
// bad flag in state, as the passes of FlashBlockBf16 do.
void DotKeyBlocks(const GroupTask& t, size_t i0, size_t rows, const size_t* limit,
                  size_t keys_packed, const FlashBf16Scratch& s, OnlineRow* state) {
  const size_t dim = t.head_dim, k_pairs = (dim + 1) / 2;
  // Per row of the block, padded with rows that see nothing: the last
  // rows' short tile (TileRows) may reach past `rows`, never past the block.
  HWY_ALIGN float sums[kBf16QueryBlock * kLanes] = {};
  float correction[kBf16QueryBlock];
  size_t visible[kBf16QueryBlock];
  for (size_t r = rows; r < kBf16QueryBlock; ++r) state[r] = OnlineRow();
  const LazyRows lazy{state, sums, correction};
  const size_t key_end = limit[rows - 1];
  const auto* q_pack = static_cast<const uint16_t*>(s.q_pack);
  for (size_t j0 = 0; j0 < key_end; j0 += kKeyBlock) {
    const size_t keys = std::min(kKeyBlock, key_end - j0);
    for (size_t r = 0; r < kBf16QueryBlock; ++r) {
      visible[r] = r >= rows || limit[r] <= j0 ? 0 : std::min(keys, limit[r] - j0);
      correction[r] = 1.0f;
    }
    DotScoreProduct(q_pack, rows, s.k_pack + j0 / kBf16Panel * k_pairs * 2 * kBf16Panel, k_pairs,
                    keys, visible, j0 == 0, s.scores, lazy);
    for (size_t r = 0; r < rows; ++r) {
      if (correction[r] != 1.0f) ScaleRow(s.acc + r * dim, dim, correction[r]);
    }
    AccumulatePv(t, i0, rows, j0, keys, keys_packed, s);
  }
  for (size_t r = 0; r < rows; ++r) state[r].sum = lazy.RowSum(r);
}
#else
#define MHSA_DOT_TILES 0
#endif

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
  const size_t k_pairs = (dim + 1) / 2;
#if MHSA_DOT_TILES
  if (DotTiles(kernel)) {
    DotKeyBlocks(t, i0, rows, limit, keys_packed, s, state);
    FinishRows(t, head, i0, rows, limit, state, s.acc);
    return;
  }
#endif
  for (size_t j0 = 0; j0 < key_end; j0 += kKeyBlock) {
    const size_t keys = std::min(kKeyBlock, key_end - j0);
    // scores = q_block · k_blockᵀ: [rows][keys], row stride kKeyBlock. The
    // key block starts on a panel (j0 is a multiple of 32).
    kernel.tiles(s.q_pack, rows, s.k_pack + j0 / kBf16Panel * k_pairs * 2 * kBf16Panel, k_pairs,
                 keys, dim, s.scores, kKeyBlock, /*accumulate=*/false, kNoStepLimit);
    for (size_t r = 0; r < rows; ++r) {
      const size_t visible = limit[r] <= j0 ? 0 : std::min(keys, limit[r] - j0);
      const float correction =
          OnlineSoftmaxUpdate(s.scores + r * kKeyBlock, visible, keys, &state[r]);
      if (correction != 1.0f) ScaleRow(s.acc + r * dim, dim, correction);
    }
    AccumulatePv(t, i0, rows, j0, keys, keys_packed, s);
  }
  FinishRows(t, head, i0, rows, limit, state, s.acc);
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
