// The flash attention's score tiles for one SIMD target: q·kᵀ on the GEMM's
// k loop, and the softmax of the tile done while it is still in registers.
//
// Each row keeps a reference r (its running max, raised lazily) and writes
// p = exp(s - r) straight into the score block that p·v reads. A tile whose
// scores all lie at or below r + kHeadroom (softmax-inl.h, whose
// OnlineSoftmaxUpdate is the row-wise form; almost every tile once a row's
// first keys are seen) needs no max, no horizontal reduction and no second
// pass over memory: one compare per vector decides it. Only a score above
// that, or a NaN or +inf one, takes the path that raises r to the tile's
// max (taken from the registers) and rescales what the row wrote before;
// a row's first tile sets r to its max in registers (FirstReferences).
// The softmax is the same for any r (p and the sum scale alike); r only
// keeps exp in range: p stays at most e^kHeadroom = 256, and never
// underflows for want of a larger r.

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_FLASH_TILE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_FLASH_TILE_INL_H_
#undef MHSA_SRC_FLASH_TILE_INL_H_
#else
#define MHSA_SRC_FLASH_TILE_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "bf16-inl.h"
#include "blocking.h"
#include "gemm-inl.h"
#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// The softmax state of the rows of one query block.
//   state[r]: reference (max), bad flag; its sum is unused here.
//   sums[r * kLanes ...]: lane-wise sums of the row's p so far, reduced
//     once, when the row is finished (RowSum).
//   correction[r]: by how much the row's output accumulated before this key
//     block must be scaled (its reference was raised); 1 when it was not.
struct LazyRows {
  OnlineRow* state;
  float* sums;
  float* correction;

  float RowSum(size_t r) const {
    const DF d;
    return hn::GetLane(hn::SumOfLanes(d, hn::Load(d, sums + r * kLanes)));
  }

  // The rows from row i0 on.
  LazyRows From(size_t i0) const { return {state + i0, sums + i0 * kLanes, correction + i0}; }

  // Row r's scores up to this stay within its reference's headroom.
  VF Limit(size_t r) const { return hn::Set(DF(), state[r].max + kHeadroom); }
};

// Raises row r's reference to `max`, the max of its scores in a tile that
// holds one above its reference + kHeadroom, and rescales what the row
// wrote with the old one: p_row, its p in this key block ([0, c0) written
// by earlier tiles), its sums, and (through its correction) its output.
// With round_p, the rescaled p are rounded to bf16 again, so that p·v
// still multiplies bf16 values.
HWY_NOINLINE inline void RaiseReference(float max, float* p_row, size_t c0, size_t r,
                                        const LazyRows& rows, bool round_p) {
  // The row's sums live in rows.sums here (its state's sum is unused).
  const float c = rows.state[r].Raise(max);
  ScaleRow(p_row, c0, c);
  if (round_p) RoundToBf16InPlace(p_row, c0);
  ScaleRow(rows.sums + r * kLanes, kLanes, c);
  rows.correction[r] *= c;
}

// Whether any score of the tile lies above its row's reference +
// kHeadroom, or is NaN (Not(s <= limit) is true for both).
template <size_t kRows, size_t kVecs>
HWY_INLINE bool TileOver(const VF (&acc)[kRows][kVecs], const LazyRows& rows) {
  const DF d;
  auto any = hn::FirstN(d, 0);
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    const VF limit = rows.Limit(r);
    for (size_t v = 0; v < kVecs; ++v) any = hn::Or(any, hn::Not(hn::Le(acc[r][v], limit)));
  }
  return !hn::AllFalse(d, any);
}

// For each of the `count` rows of a tile (its kVecs vectors stored at tile,
// kPanel floats a row) with a score above its reference + kHeadroom, or a
// NaN or +inf one (then the row is bad, it ends as NaN, and what it writes
// no longer matters): raises the row's reference to the tile's max. Rarely
// called: a row's first tile sets its reference in FirstReferences instead.
template <size_t kVecs>
HWY_NOINLINE void RaiseRows(const float* HWY_RESTRICT tile, size_t count, size_t c0,
                            float* HWY_RESTRICT p, const LazyRows& rows, bool round_p) {
  const DF d;
  const VF inf = hn::Set(d, std::numeric_limits<float>::infinity());
  for (size_t r = 0; r < count; ++r) {
    if (rows.state[r].bad) continue;
    const VF limit = rows.Limit(r);
    const float* HWY_RESTRICT row = tile + r * kPanel;
    VF max = hn::Load(d, row);
    auto over = hn::Not(hn::Le(max, limit));
    auto bad = hn::Not(hn::Lt(max, inf));
    for (size_t v = 1; v < kVecs; ++v) {
      const VF s = hn::Load(d, row + v * kLanes);
      max = hn::Max(max, s);
      over = hn::Or(over, hn::Not(hn::Le(s, limit)));
      bad = hn::Or(bad, hn::Not(hn::Lt(s, inf)));
    }
    if (hn::AllFalse(d, over)) continue;
    if (!hn::AllFalse(d, bad)) {
      rows.state[r].bad = true;
      continue;
    }
    RaiseReference(hn::GetLane(hn::MaxOfLanes(d, max)), p + r * kKeyBlock, c0, r, rows, round_p);
  }
}

// The references of rows whose first tile this is (nothing written yet,
// references -inf, sums 0, outputs 0): each row's max, from the registers,
// or the row marked bad if it holds a NaN or +inf. The same references as
// RaiseRows sets, without its trip through memory; and nothing to rescale.
template <size_t kRows, size_t kVecs>
HWY_INLINE void FirstReferences(const VF (&acc)[kRows][kVecs], const LazyRows& rows) {
  const DF d;
  const VF inf = hn::Set(d, std::numeric_limits<float>::infinity());
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    VF max = acc[r][0];
    auto bad = hn::Not(hn::Lt(acc[r][0], inf));
    for (size_t v = 1; v < kVecs; ++v) {
      max = hn::Max(max, acc[r][v]);
      bad = hn::Or(bad, hn::Not(hn::Lt(acc[r][v], inf)));
    }
    if (HWY_UNLIKELY(!hn::AllFalse(d, bad))) {
      rows.state[r].bad = true;
    } else {
      rows.state[r].max = hn::GetLane(hn::MaxOfLanes(d, max));
    }
  }
}

// The softmax of a finished tile of kRows rows, in registers: see the top
// of this file. c0, visible, p: as for ScoreTile below. first_tile: this is
// the first tile of every row (key 0's panel of the first key block). kRoundP:
// p is written rounded to bf16 (the bf16 path's p·v operand), its sums add
// it unrounded. kVecs: the tile's columns in vectors, from key c0 on.
template <size_t kRows, bool kRoundP, size_t kVecs = kNV>
HWY_INLINE void SoftmaxTile(VF (&acc)[kRows][kVecs], size_t c0, const size_t* visible,
                            bool first_tile, float* HWY_RESTRICT p, const LazyRows& rows) {
  const DF d;
  // Keys a row does not see become -inf: no part in the max, exp gives 0.
  // Rows see more keys further down, and padding rows none, so the first
  // and the last row tell whether any is hidden.
  if (std::min(visible[0], visible[kRows - 1]) < c0 + kVecs * kLanes) {
    HWY_UNROLL(16)
    for (size_t r = 0; r < kRows; ++r) {
      for (size_t v = 0; v < kVecs; ++v) {
        const size_t first = c0 + v * kLanes;
        const size_t n = visible[r] <= first ? 0 : std::min(kLanes, visible[r] - first);
        acc[r][v] = hn::IfThenElse(hn::FirstN(d, n), acc[r][v],
                                   hn::Set(d, -std::numeric_limits<float>::infinity()));
      }
    }
  }
  bool any_over = false;
  if (first_tile) {
    FirstReferences<kRows, kVecs>(acc, rows);
  } else {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
    if constexpr (kLanes == 16) {
      // One compare per vector: each ANDs (s <= limit) into a mask that the
      // next takes as its write mask, where Or(Not(Le)) costs three (the mask
      // operations run on a vector port). Layer 1.01-1.02x.
      __mmask16 within = 0xFFFF;
      HWY_UNROLL(16)
      for (size_t r = 0; r < kRows; ++r) {
        const VF row_limit = rows.Limit(r);
        for (size_t v = 0; v < kVecs; ++v) {
          within = _mm512_mask_cmp_ps_mask(within, acc[r][v].raw, row_limit.raw, _CMP_LE_OQ);
        }
      }
      any_over = within != 0xFFFF;
    } else {
      any_over = TileOver<kRows, kVecs>(acc, rows);
    }
#else
    any_over = TileOver<kRows, kVecs>(acc, rows);
#endif
  }
  if (HWY_UNLIKELY(any_over)) {
    // The tile goes to the out-of-line raise through memory and comes back
    // from it: with the accumulators live across that call (which may
    // clobber every vector register), GCC 12 stored them all to the stack
    // after every tile's k loop, whether the raise ran or not. With this and
    // the rows unrolled (see ComputeTile), ScoreCeiling 1.02x (Zen 5).
    HWY_ALIGN float tile[kRows * kPanel];
    StoreTile<kRows, kVecs>(acc, tile);
    RaiseRows<kVecs>(tile, kRows, c0, p, rows, kRoundP);
    HWY_UNROLL(16)
    for (size_t r = 0; r < kRows; ++r) {
      for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::Load(d, tile + r * kPanel + v * kLanes);
    }
  }
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    // A row whose reference is still -inf has seen only -inf scores:
    // -inf - -inf is NaN, to which SoftmaxExp gives 0.
    const VF reference = hn::Set(d, rows.state[r].max);
    float* HWY_RESTRICT sum = rows.sums + r * kLanes;
    VF total = hn::Load(d, sum);
    for (size_t v = 0; v < kVecs; ++v) {
      const VF e = SoftmaxExp(d, hn::Sub(acc[r][v], reference));
      if constexpr (kRoundP) {
        hn::StoreU(RoundVecToBf16(d, e), d, p + r * kKeyBlock + c0 + v * kLanes);
      } else {
        hn::StoreU(e, d, p + r * kKeyBlock + c0 + v * kLanes);
      }
      total = hn::Add(total, e);
    }
    hn::Store(total, d, sum);
  }
}

// One tile of kRows query rows (packed q at ap, dim steps, kStepStride =
// kRows) and the first kVecs vectors of keys of one key panel (bpanel), the
// panel's first key being key c0 of the block. visible[r]: how many of the
// block's keys row r sees (0 for padding rows). Writes p for every row and
// column of the tile to p + r * kKeyBlock + c0 + j (0 past a row's visible
// keys), adds them to the rows' sums.
template <size_t kRows, bool kRoundP, size_t kVecs>
HWY_INLINE void ScoreTile(const float* HWY_RESTRICT ap, const float* HWY_RESTRICT bpanel,
                          size_t dim, size_t c0, const size_t* visible, bool first_tile,
                          float* HWY_RESTRICT p, const LazyRows& rows) {
  // No prefetching of the key panel: it is 64 steps (8 KiB at head_dim 64)
  // that every row tile of the block reads from L1 in turn, and the
  // prefetches took load slots from the broadcasts. The layer 1.02-1.04x
  // faster (2 threads, Xeon), where the p·v tiles, whose v panels come from
  // L2, lost 1.5-3.5% without theirs.
  ComputeTile<kRows, 1, kRows, false, kVecs>(
      ap, bpanel, dim, static_cast<ptrdiff_t>(dim), 0, [&](VF(&acc)[kRows][kVecs]) {
        SoftmaxTile<kRows, kRoundP, kVecs>(acc, c0, visible, first_tile, p, rows);
      });
}

// Calls tile(rows, vecs, i0, c0) for the score tiles of the first m rows of
// a query block against a block of `keys` keys: key panel by key panel (the
// panel stays in L1 while the row tiles pass), row tiles of kMR rows, the
// last rows in one tile of TileRows (rows: an integral_constant), skipping
// a tile none of whose rows sees a key of the panel (p·v never reads its
// p). vecs (an integral_constant): the tile's columns in vectors, the whole
// panel (kNV), or its first half when no row of the tile sees a key past
// it (at the causal diagonal): a tile's last row sees the most keys, and
// p·v takes each of its tiles to that row's last key (TileProduct's
// tile_limit), so it never reads the half not written. At T=128 that
// computes 1.17x the causal scores instead of 1.29x, at T=64 1.32x instead
// of 1.60x. visible: per row of the block, padded with zeros to whole tiles.
template <class Tile>
HWY_INLINE void ForEachScoreTile(size_t m, size_t keys, const size_t* visible, const Tile& tile) {
  static_assert(kNV % 2 == 0, "a panel splits into halves of whole vectors");
  const size_t full = m / kMR * kMR, rest = m - full;
  // The tile of `rows` rows from row i0, whose last row sees `last` keys.
  const auto run = [&](auto rows, size_t i0, size_t c0, size_t last) {
    if (last <= c0 + kPanel / 2) {
      tile(rows, std::integral_constant<size_t, kNV / 2>(), i0, c0);
    } else {
      tile(rows, std::integral_constant<size_t, kNV>(), i0, c0);
    }
  };
  for (size_t c0 = 0; c0 < keys; c0 += kPanel) {
    for (size_t i0 = 0; i0 < full; i0 += kMR) {
      const size_t last = visible[i0 + kMR - 1];
      if (last > c0) run(std::integral_constant<size_t, kMR>(), i0, c0, last);
    }
    if (rest == 0 || visible[m - 1] <= c0) continue;
    WithTileRows(TileRows(rest), [&](auto tile_rows) { run(tile_rows, full, c0, visible[m - 1]); });
  }
}

// p for the first m rows of a query block (q packed by PackA at q_pack)
// against the keys of one block (k_block: panels of kPanel keys over dim
// steps), tile by tile in ForEachScoreTile's order. visible: per row of the
// block, padded with zeros to whole tiles.
// first_block: the block holds key 0, where every row's first tile is.
// kRoundP: p written rounded to bf16 (SoftmaxTile).
// Kept out of line: inlined into its caller (seen in peak_bench's
// ScoreCeiling), GCC 12 kept the 24 accumulators in memory, storing them at
// every k step, and the block ran at half speed.
template <bool kRoundP = false>
HWY_NOINLINE void ScoreProduct(const float* HWY_RESTRICT q_pack, size_t m,
                               const float* HWY_RESTRICT k_block, size_t dim, size_t keys,
                               const size_t* visible, bool first_block, float* HWY_RESTRICT p,
                               const LazyRows& rows) {
  ForEachScoreTile(m, keys, visible, [&](auto tile_rows, auto vecs, size_t i0, size_t c0) {
    ScoreTile<decltype(tile_rows)::value, kRoundP, decltype(vecs)::value>(
        q_pack + i0 * dim, k_block + c0 * dim, dim, c0, visible + i0, first_block && c0 == 0,
        p + i0 * kKeyBlock, rows.From(i0));
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_FLASH_TILE_INL_H_
