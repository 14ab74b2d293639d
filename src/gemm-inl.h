// GEMM building blocks for one SIMD target, after BLIS: A is packed into
// panels of MR rows, B into panels of kPanel columns, and an MR x kPanel
// register-blocked microkernel computes one tile of C. Included by the
// per-target code of gemm.cc and attention.cc (through foreach_target.h).
//
// Shapes, row-major, strides in elements:
//   packed A: [ceil(m / MR)][k][MR]        (row r of panel i is A row i*MR + r)
//   packed B: [ceil(n / kPanel)][k][kPanel] (column j of panel i is B column i*kPanel + j)
// Padding rows and columns are zero, so edge tiles run the full kernel and
// only their valid part is stored.

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_GEMM_INL_H_
#undef MHSA_SRC_GEMM_INL_H_
#else
#define MHSA_SRC_GEMM_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "blocking.h"
#include "gemm.h"
#include "hwy/highway.h"
#include "prefetch.h"
#include "target_family-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Rows of the register tile, by target family (target_family-inl.h). The
// tile holds MR x (kPanel / lanes) accumulators; FMA latency (4 cycles) x 2
// ports needs at least 8 of them, and they plus the B vectors and the
// broadcasts must fit the register file (checked below):
//   AVX-512, 32 zmm: 12 x 2 = 24 accumulators, 2 B vectors, broadcasts fused
//     into the FMA as memory operands;
//   AVX2, 16 ymm: 3 x 4 = 12 accumulators, 3 broadcasts, 1 B vector.
//     Measured on a Zen 3 and not taken: a GEMM tile of 6 rows x 2
//     vectors, each panel in two halves so that a B line feeds 6 rows
//     (bitwise the same C). Alone in cache it was 1.1-1.25x faster
//     (TileCeiling, k = 64), but in gemm_bench (2 threads, interleaved)
//     slower: q·kᵀ 1024x1024x64 1.05-1.1x; 1024^3 1.1-1.2x with A read in
//     place (6 rows 4 KiB apart) or packed tile by tile; the projections
//     even with A in place, 1.1-1.25x slower packed. Prefetching both
//     halves' lines with the first did not change that;
//   NEON, 32 q: 3 x 8 = 24 accumulators, 3 broadcasts, 1 B vector;
//   SSE4/SSSE3 (no FMA, 4 lanes): 8 accumulators for one row; SCALAR: 1.
inline constexpr size_t kMR = kFamily == Family::kAvx512                             ? 12
                              : kFamily == Family::kAvx2 || kFamily == Family::kNeon ? 3
                                                                                     : 1;

inline constexpr size_t kLanes = hn::MaxLanes(DF());
static_assert(kPanel % kLanes == 0, "a B panel must be whole vectors");
inline constexpr size_t kNV = kPanel / kLanes;  // Vectors per panel row.
// Live registers in the k loop: accumulators, then either all B vectors and
// one broadcast (kNV <= 2) or all broadcasts and one B vector.
static_assert(kMR * kNV + (kNV <= 2 ? kNV + 1 : kMR + 1) <= kVectorRegisters ||
                  kFamily == Family::kScalar,
              "the register tile spills");

// How many k steps ahead the microkernel asks for its B panel's lines (3
// KiB: 24 steps of 128 bytes). The hardware prefetchers leave the panel's
// stream from L2 short of the FMAs; measured on the Xeon against none (1 and
// 2 threads, three interleaved runs): 2048x1536x512 1.03-1.06x,
// 4096x2304x768 1.03-1.08x, 1024^3 1.04-1.09x, 256^3 1.03-1.04x, the layer
// even; 8 steps ahead gave nothing.
inline constexpr size_t kBPrefetchSteps = 24;

// The packers ask for the rows they will move next when the source is made
// of short runs far apart: the k and v rows of one head (256 bytes at a
// stride of the projection's width), or a [k][n] B's steps. The hardware
// prefetchers follow a stream only within a page, and each of those runs
// starts a new one, so every line was a demand miss (FlashGroup's packing of
// k and v: 3.9% of the layer at B=2 T=1024, 2.8% with this). Longer rows
// stream well by themselves: asking for them too cost the square Sgemms
// 1-3%.
inline constexpr size_t kShortRowBytes = 512;
// How far ahead, in steps, the packer of a source with contiguous columns
// (rows of at most kPanel floats per step) asks for them.
inline constexpr size_t kPackAheadSteps = 8;

// kRowStride of a kernel that reads a row-major A with a run-time stride.
inline constexpr size_t kRuntimeStride = 0;

static_assert(kQueryBlock % kMR == 0 && kMC % kMR == 0 && kGemmRowQuantum % kMR == 0,
              "query and row blocks are whole register tiles, so their scratch "
              "does not depend on the target");

// Whether PackPanels moves rows four at a time (4 x 4 transposes within the
// 128-bit blocks of whole vectors): every target whose vectors are whole
// blocks of a size StoreBlock knows; not SCALAR (one lane, no interleaves).
#undef MHSA_TRANSPOSE_ROWS  // Defined once per target.
#if HWY_TARGET == HWY_SCALAR || HWY_HAVE_SCALABLE
#define MHSA_TRANSPOSE_ROWS 0
#else
#define MHSA_TRANSPOSE_ROWS 1
static_assert(kLanes % 4 == 0 && kLanes <= 16, "vectors of one, two or four blocks");

// Stores 128-bit block kBlock (four floats) of v at dst, unaligned.
template <size_t kBlock>
HWY_INLINE void StoreBlock(VF v, float* HWY_RESTRICT dst) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  _mm_storeu_ps(dst, _mm512_extractf32x4_ps(v.raw, kBlock));
#elif HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
  _mm_storeu_ps(dst, _mm256_extractf128_ps(v.raw, kBlock));
#else
  static_assert(kLanes == 4 && kBlock == 0, "one block per vector on 128-bit targets");
  hn::StoreU(v, DF(), dst);
#endif
}

// Four rows' vectors a, b, c, e (lane p of each: that row's step p) into a
// panel of width W: step p's four values at out + p * W, one block store
// each. Transposes 4 x 4 within each 128-bit block (interleaving pairs,
// then pairs of pairs): eight shuffles and kLanes block stores for 4 x
// kLanes values instead of scattered scalars. The lanes are moved, never
// computed on: any 32-bit patterns pass unchanged (the bf16 packers' pairs).
template <size_t W>
HWY_INLINE void StoreTransposedFour(VF a, VF b, VF c, VF e, float* HWY_RESTRICT out) {
  const DF d;
  const hn::Repartition<uint64_t, DF> du;
  // Per block: ab_lo = a0 b0 a1 b1, cd_lo = c0 d0 c1 d1, ab_hi, cd_hi for 2, 3.
  const auto ab_lo = hn::BitCast(du, hn::InterleaveLower(d, a, b));
  const auto cd_lo = hn::BitCast(du, hn::InterleaveLower(d, c, e));
  const auto ab_hi = hn::BitCast(du, hn::InterleaveUpper(d, a, b));
  const auto cd_hi = hn::BitCast(du, hn::InterleaveUpper(d, c, e));
  // Step j of each block: the four rows' values.
  const VF step[4] = {hn::BitCast(d, hn::InterleaveLower(du, ab_lo, cd_lo)),
                      hn::BitCast(d, hn::InterleaveUpper(du, ab_lo, cd_lo)),
                      hn::BitCast(d, hn::InterleaveLower(du, ab_hi, cd_hi)),
                      hn::BitCast(d, hn::InterleaveUpper(du, ab_hi, cd_hi))};
  for (size_t j = 0; j < 4; ++j) {
    StoreBlock<0>(step[j], out + j * W);
    if constexpr (kLanes >= 8) StoreBlock<1>(step[j], out + (4 + j) * W);
    if constexpr (kLanes >= 16) {
      StoreBlock<2>(step[j], out + (8 + j) * W);
      StoreBlock<3>(step[j], out + (12 + j) * W);
    }
  }
}

// Rows r0 .. r0+3 of a row-major source (row stride `ld`), steps [p, p +
// kLanes), times vs, into a panel of width W at panel + p * W + lane: four
// loads, then StoreTransposedFour.
template <size_t W>
HWY_INLINE void TransposeFourRows(const float* HWY_RESTRICT r0, ptrdiff_t ld, VF vs,
                                  float* HWY_RESTRICT out) {
  const DF d;
  StoreTransposedFour<W>(hn::Mul(hn::LoadU(d, r0), vs), hn::Mul(hn::LoadU(d, r0 + ld), vs),
                         hn::Mul(hn::LoadU(d, r0 + 2 * ld), vs),
                         hn::Mul(hn::LoadU(d, r0 + 3 * ld), vs), out);
}
#endif  // MHSA_TRANSPOSE_ROWS

// Interleaves `rows` rows of a matrix into panels of W rows:
// dst[ceil(rows / W)][k][W], dst panel i, step p, lane r = row i*W + r,
// element p, times `scale`; padding lanes are zero. The source's row r,
// element p is at src[r * row_stride + p * step]: (ld, 1) reads a row-major
// matrix by rows (A, or B given as rows: W in x·Wᵀ and k in q·kᵀ), (1, ld)
// reads it by columns (a transposed A, or B given as [k][n]: v in p·v).
// Strides may be negative. A panels use W = kMR, B panels W = kPanel.
// Every element is row[p] * scale, however it is moved: the layout, not
// the values, depends on the target.
template <size_t W>
inline void PackPanels(const float* HWY_RESTRICT src, ptrdiff_t row_stride, ptrdiff_t step,
                       size_t rows, size_t k, float scale, float* HWY_RESTRICT dst) {
  const DF d;
  const VF vs = hn::Set(d, scale);
  for (size_t i0 = 0; i0 < rows; i0 += W) {
    float* HWY_RESTRICT panel = dst + i0 * k;
    const size_t valid = std::min(W, rows - i0);
    const float* first = src + static_cast<ptrdiff_t>(i0) * row_stride;
    if (step == 1) {
      // Rows contiguous: rows [0, grouped) four at a time over steps
      // [0, moved) by vectors, then everything else one by one, written with
      // a stride of W.
      size_t grouped = 0, moved = 0;
#if MHSA_TRANSPOSE_ROWS
      if constexpr (W % 4 == 0) {
        grouped = valid / 4 * 4;
        moved = k / kLanes * kLanes;
        const bool short_rows = k * sizeof(float) <= kShortRowBytes;
        for (size_t r = 0; r < grouped; r += 4) {
          const float* row = first + static_cast<ptrdiff_t>(r) * row_stride;
          if (short_rows && i0 + W + r + 4 <= rows) {
            for (size_t j = 0; j < 4; ++j) {
              const float* ahead = row + static_cast<ptrdiff_t>(W + j) * row_stride;
              for (size_t p = 0; p < k; p += 64 / sizeof(float)) __builtin_prefetch(ahead + p);
            }
          }
          for (size_t p = 0; p < moved; p += kLanes) {
            TransposeFourRows<W>(row + p, row_stride, vs, panel + p * W + r);
          }
        }
      }
#endif
      for (size_t r = 0; r < valid; ++r) {
        const float* HWY_RESTRICT row = first + static_cast<ptrdiff_t>(r) * row_stride;
        for (size_t p = r < grouped ? moved : 0; p < k; ++p) panel[p * W + r] = row[p] * scale;
      }
    } else if (row_stride == 1) {
      // Columns contiguous: each step's `valid` values are one vector copy.
      for (size_t p = 0; p < k; ++p) {
        const float* HWY_RESTRICT column = first + static_cast<ptrdiff_t>(p) * step;
        if (p + kPackAheadSteps < k) {
          for (size_t j = 0; j < valid; j += 64 / sizeof(float)) {
            __builtin_prefetch(column + static_cast<ptrdiff_t>(kPackAheadSteps) * step +
                               static_cast<ptrdiff_t>(j));
          }
        }
        float* HWY_RESTRICT out = panel + p * W;
        size_t r = 0;
        for (; r + kLanes <= valid; r += kLanes) {
          hn::StoreU(hn::Mul(hn::LoadU(d, column + r), vs), d, out + r);
        }
        for (; r < valid; ++r) out[r] = column[r] * scale;
      }
    } else {
      for (size_t p = 0; p < k; ++p) {
        const float* HWY_RESTRICT column = first + static_cast<ptrdiff_t>(p) * step;
        for (size_t r = 0; r < valid; ++r) {
          panel[p * W + r] = column[static_cast<ptrdiff_t>(r) * row_stride] * scale;
        }
      }
    }
    for (size_t r = valid; r < W; ++r) {
      for (size_t p = 0; p < k; ++p) panel[p * W + r] = 0.0f;
    }
  }
}

// The k loop of the AVX2 tile is unrolled four steps deep. Rolled, its
// counter, pointer updates and branch (5 of the 26 instructions of a step)
// held a copy of the 3 x 4 tile timed alone with its operands in L1 at
// 69-74% of the FMA peak, unrolled at 80-96% (Zen 3). gemm_bench against
// the rolled loop (Zen 3, 2 threads, 3 rounds interleaved, medians): the
// projections 2048x1536x512 1.12x and 4096x2304x768 1.14x faster, q·kᵀ
// 1024x1024x64 1.07x, p·v 1024x64x1024 1.09x, 1024^3 1.01x; on 1 thread
// 0.91-1.16x (this VM's noise is about 10%); the layer even. The same sums
// in the same order: bitwise the same results.
#undef MHSA_UNROLL_STEPS  // Defined once per target.
#if HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
#define MHSA_UNROLL_STEPS HWY_UNROLL(4)
#else
#define MHSA_UNROLL_STEPS
#endif

// One tile: acc[r][v] = sum over steps p of A(r, p) * B(p, v), each row
// stopping at its causal limit (see MicroKernel), then finish(acc) with the
// tile still in registers. Shared by the GEMM's MicroKernel, which stores
// the tile, and the flash attention's score tiles, which take its softmax.
// (The accumulators are declared here, beside the loop: passed in by
// reference instead, GCC 12 spilled a B vector of the 12-row kernels.)
// kPrefetchB: whether to ask for B's lines ahead (kBPrefetchSteps); a B
// panel already in L1 gains nothing from it and pays two loads per step.
// kVecs: the tile's columns, in vectors from the panel's first: kNV (the
// whole panel), or fewer for the flash path's score tiles at the causal
// diagonal, whose rows see none of the panel's last keys.
template <size_t kRows, size_t kRowStride, size_t kStepStride, bool kPrefetchB = true,
          size_t kVecs = kNV, class Finish>
HWY_INLINE void ComputeTile(const float* HWY_RESTRICT ap, const float* HWY_RESTRICT bp, size_t k,
                            ptrdiff_t diag, size_t a_stride, const Finish& finish) {
  static_assert(kRows <= kMR, "the register budget is kMR's");
  static_assert(kRows <= 16, "HWY_UNROLL(16) unrolls the row loops whole");
  static_assert(kVecs >= 1 && kVecs <= kNV, "columns within one panel");
  const size_t row_stride = kRowStride == kRuntimeStride ? a_stride : kRowStride;
  const DF d;
  // Every loop over the rows of acc is unrolled, here and in the finishes:
  // GCC 12 leaves a 12-row loop over 24 accumulators rolled (too many
  // instructions to peel whole by default), and an array indexed in a loop
  // lives on the stack: zeroed there, loaded before the k loop, stored after
  // it and read back by the finish, 72 memory operations a tile. Unrolled,
  // the accumulators stay in registers: TileCeiling at k = 64 1.07x, q·kᵀ
  // 1024x1024x64 1.09x, the 2048x1536x512 projection 1.05x (Zen 5).
  VF acc[kRows][kVecs];
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::Zero(d);
  }
  // Steps every row may take, then the triangle where rows drop out.
  const size_t full = diag <= 0 ? 0 : std::min(k, static_cast<size_t>(diag));
  MHSA_UNROLL_STEPS
  for (size_t p = 0; p < full; ++p) {
    const float* HWY_RESTRICT brow = bp + p * kPanel;
    // The B panel's lines kBPrefetchSteps ahead (past its end: the next
    // panel's first, which the next tile reads).
    if (kPrefetchB) {
      for (size_t j = 0; j < kPanel; j += 64 / sizeof(float)) {
        __builtin_prefetch(brow + kBPrefetchSteps * kPanel + j);
      }
    }
    const float* HWY_RESTRICT arow = ap + p * kStepStride;
    if (kVecs <= 2) {
      // Few B vectors: hold them all, stream the broadcasts (on AVX-512 the
      // broadcast folds into the FMA as a memory operand).
      VF b[kVecs];
      for (size_t v = 0; v < kVecs; ++v) b[v] = hn::LoadU(d, brow + v * kLanes);
      for (size_t r = 0; r < kRows; ++r) {
        const VF a = hn::Set(d, arow[r * row_stride]);
        for (size_t v = 0; v < kVecs; ++v) acc[r][v] = hn::MulAdd(a, b[v], acc[r][v]);
      }
    } else {
      // Many B vectors: hold the MR broadcasts, stream B.
      VF a[kRows];
      for (size_t r = 0; r < kRows; ++r) a[r] = hn::Set(d, arow[r * row_stride]);
      for (size_t v = 0; v < kVecs; ++v) {
        const VF b = hn::LoadU(d, brow + v * kLanes);
        for (size_t r = 0; r < kRows; ++r) acc[r][v] = hn::MulAdd(a[r], b, acc[r][v]);
      }
    }
  }
  for (size_t p = full; p < k; ++p) {
    const float* HWY_RESTRICT brow = bp + p * kPanel;
    const float* HWY_RESTRICT arow = ap + p * kStepStride;
    for (size_t r = 0; r < kRows; ++r) {
      if (static_cast<ptrdiff_t>(p) >= diag + static_cast<ptrdiff_t>(r)) continue;
      const VF a = hn::Set(d, arow[r * row_stride]);
      for (size_t v = 0; v < kVecs; ++v) {
        acc[r][v] = hn::MulAdd(a, hn::LoadU(d, brow + v * kLanes), acc[r][v]);
      }
    }
  }
  finish(acc);
}

// Stores a tile's accumulators row-major, kPanel floats a row, at tile
// (aligned): the edge tiles' spill and the flash tiles' out-of-line raise.
// Unrolled, as every loop over acc's rows (see ComputeTile).
template <size_t kRows, size_t kVecs = kNV>
HWY_INLINE void StoreTile(const VF (&acc)[kRows][kVecs], float* HWY_RESTRICT tile) {
  const DF d;
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kVecs; ++v) hn::Store(acc[r][v], d, tile + r * kPanel + v * kLanes);
  }
}

// One MR x kPanel tile of C from an A panel and a B panel, k steps.
//   beta: C = A·B + beta * C; beta == 0 never reads C (it may hold NaN).
//   Stores rows [0, m_valid) and columns [0, n_valid) only.
//   diag: causal limit. Row r may use k steps p < diag + r only; steps past
//         that are skipped, not multiplied by a zero, so that a NaN in a
//         later value row cannot leak into an earlier query (0 * NaN = NaN).
//         Pass diag >= k for an unmasked tile.
//   A is read at ap[r * kRowStride + p * kStepStride]: packed panels have
//   (1, kRows); a row-major block with a compile-time stride L has (L, 1),
//   which lets the attention's p block feed the kernel without packing (the
//   constant strides become constant displacements of one pointer);
//   kRowStride == kRuntimeStride reads a row-major A in place with the row
//   stride a_stride (the GEMM's A, whose rows are only read here once or
//   twice, so packing them would cost as much as the product).
//   kRows: the tile's height, kMR or, for the last rows of a product, the
//   smallest of 1, 2, 4, 8 that holds them (TileRows), so that one token
//   does not pay for twelve.
// Kept out of line: inlined into TileProduct, GCC 12 held the 12-row tile's
// B vectors on the stack (seen in objdump -d), reading them from memory
// twelve times per step.
template <size_t kRows, size_t kRowStride, size_t kStepStride>
HWY_NOINLINE void MicroKernel(const float* HWY_RESTRICT ap, const float* HWY_RESTRICT bp, size_t k,
                              float* HWY_RESTRICT c, size_t ldc, size_t m_valid, size_t n_valid,
                              float beta, ptrdiff_t diag, size_t a_stride) {
  // The tile's lines of C are asked for (for writing) now, so that their
  // misses overlap the k loop instead of stalling the stores at its end:
  // q·kᵀ 1024x1024x64 on 2 threads 1.13x, the 4096x2304x768 projection
  // 1.03x faster (Xeon); no change where C is already near.
  PrefetchRowsForWrite<kFamily == Family::kAvx512>(c, kRows, static_cast<ptrdiff_t>(ldc), kPanel);
  ComputeTile<kRows, kRowStride, kStepStride>(ap, bp, k, diag, a_stride, [&](VF(&acc)[kRows][kNV]) {
    const DF d;
    if (m_valid == kRows && n_valid == kPanel) {
      const VF vbeta = hn::Set(d, beta);
      HWY_UNROLL(16)
      for (size_t r = 0; r < kRows; ++r) {
        float* HWY_RESTRICT crow = c + r * ldc;
        for (size_t v = 0; v < kNV; ++v) {
          VF sum = acc[r][v];
          // beta == 1: fma(1, c, acc) is exactly c + acc.
          if (beta != 0.0f) sum = hn::MulAdd(vbeta, hn::LoadU(d, crow + v * kLanes), sum);
          hn::StoreU(sum, d, crow + v * kLanes);
        }
      }
      return;
    }
    // Edge tile: spill to a buffer, then touch only the valid part of C.
    HWY_ALIGN float tile[kRows * kPanel];
    StoreTile<kRows>(acc, tile);
    for (size_t r = 0; r < m_valid; ++r) {
      float* HWY_RESTRICT crow = c + r * ldc;
      const float* HWY_RESTRICT trow = tile + r * kPanel;
      for (size_t j = 0; j < n_valid; ++j) {
        crow[j] = beta != 0.0f ? std::fma(beta, crow[j], trow[j]) : trow[j];
      }
    }
  });
}

// Height of the tile for the last `rest` rows of a product (rest < kMR; 0
// means a whole tile): the smallest of 1, 2, 4 and 8 that holds them, or kMR.
constexpr size_t TileRows(size_t rest) {
  // The largest short tile: 8 rows, or one less than a whole tile.
  constexpr size_t kMaxShort = kMR > 8 ? 8 : kMR - 1;
  size_t rows = 1;
  while (rows < rest) rows *= 2;
  return rest != 0 && rows <= kMaxShort ? rows : kMR;
}

// Calls f(std::integral_constant<size_t, R>()) with R = rows, a height
// TileRows returns, so that the tile height becomes a template argument.
template <class F>
HWY_INLINE void WithTileRows(size_t rows, const F& f) {
  using std::integral_constant;
  if constexpr (kMR > 8) {
    if (rows == 8) return f(integral_constant<size_t, 8>());
  }
  if constexpr (kMR > 4) {
    if (rows == 4) return f(integral_constant<size_t, 4>());
  }
  if constexpr (kMR > 2) {
    if (rows == 2) return f(integral_constant<size_t, 2>());
  }
  if constexpr (kMR > 1) {
    if (rows == 1) return f(integral_constant<size_t, 1>());
  }
  f(integral_constant<size_t, kMR>());
}

// Packs rows [0, m) of A into the layout TileProduct reads: whole panels of
// kMR rows, then the last rows in one panel of TileRows(m % kMR) rows.
// dst: m rounded up to that layout, times k floats; times `scale`.
inline void PackA(const float* HWY_RESTRICT src, ptrdiff_t row_stride, ptrdiff_t step, size_t m,
                  size_t k, float scale, float* HWY_RESTRICT dst) {
  const size_t full = m / kMR * kMR;
  PackPanels<kMR>(src, row_stride, step, full, k, scale, dst);
  const size_t rest = m - full;
  if (rest == 0) return;
  WithTileRows(TileRows(rest), [&](auto rows) {
    PackPanels<decltype(rows)::value>(src + static_cast<ptrdiff_t>(full) * row_stride, row_stride,
                                      step, rest, k, scale, dst + full * k);
  });
}

// One column panel of C for the `rows` (<= kRows) rows starting at a_tile.
template <size_t kRows, size_t kRowStride>
inline void TileColumn(const float* HWY_RESTRICT a_tile, const float* HWY_RESTRICT bpanel, size_t k,
                       float* HWY_RESTRICT c, size_t ldc, size_t rows, size_t cols, float beta,
                       ptrdiff_t diag, size_t a_stride) {
  MicroKernel<kRows, kRowStride, (kRowStride == 1 ? kRows : 1)>(a_tile, bpanel, k, c, ldc, rows,
                                                                cols, beta, diag, a_stride);
}

// C (m x n) = or += A (m x k) · packed B (k x n), all tiles.
//   ap: packed by PackA, or with kRowStride = L a row-major [m rounded up to
//   kMR][L] block (rows past m are read, never stored), or with
//   kRowStride = kRuntimeStride a row-major [m][a_stride] block, m a
//   multiple of kMR (no row past m is read);
//   bp: [ceil(n / kPanel)][bk][kPanel] where
//   bk >= k is the panel height (the packed matrix's full k) and the panel
//   starts at step 0 of this product.
//   diag: causal limit for row 0 of C (see MicroKernel); rows below add one
//   each. Pass a value >= k + m for none.
//   tile_limit: every row of a tile takes the steps of the tile's last row
//   (of those < m), unmasked. Only for an A that is 0 at each masked step
//   and a B that is finite there, where a masked step adds fma(0, b, c) = c
//   exactly (c is never -0): the same bits, without the triangle's per-row
//   skips.
//   columns, first_col: C's columns lie as `columns` says (gemm.h), c at
//   column first_col (a whole panel when columns are grouped).
template <size_t kRowStride = 1>
inline void TileProduct(const float* HWY_RESTRICT ap, size_t m, const float* HWY_RESTRICT bp,
                        size_t bk, size_t n, size_t k, float* HWY_RESTRICT c, size_t ldc,
                        float beta, ptrdiff_t diag, size_t a_stride = 0, bool tile_limit = false,
                        const ColumnGroups& columns = ColumnGroups(), size_t first_col = 0) {
  const size_t full = m / kMR * kMR, rest = m - full;
  const ptrdiff_t origin = columns.Offset(first_col);
  // Panel j0's first column of C's row 0.
  const auto c_panel = [&](size_t j0) { return c + (columns.Offset(first_col + j0) - origin); };
  const size_t row_stride = kRowStride == kRuntimeStride ? a_stride : kRowStride;
  // The steps and limit of the tile whose row 0 is C's row i0 and whose last
  // row is `last` rows below it: k and diag, or with tile_limit the last
  // row's steps for every row.
  const auto tile_steps = [&](size_t i0, size_t last) {
    const ptrdiff_t d = diag + static_cast<ptrdiff_t>(i0);
    if (!tile_limit) return std::make_pair(k, d);
    const ptrdiff_t end = d + static_cast<ptrdiff_t>(last);
    const size_t steps = end <= 0 ? 0 : std::min(k, static_cast<size_t>(end));
    return std::make_pair(steps, static_cast<ptrdiff_t>(steps));
  };
  // Loop over A tiles outside B panels: the tile of A (kMR x k, at most 24
  // KiB at kKC) stays in L1 while the B panels stream from L2, and the
  // tile's rows of C are written left to right. The other order, meant to
  // keep a B panel in L1 (but 32 x 512 floats are 64 KiB, more than L1),
  // was slower wherever the two differ (Xeon, interleaved): the
  // 2048x1536x512 and 4096x2304x768 projections 1.07-1.13x, q·kᵀ
  // 1024x1024x64 1.10-1.14x, 2048^3 1.06x, the layer 1.02-1.05x.
  for (size_t i0 = 0; i0 < full; i0 += kMR) {
    // Packed: panel i0 / kMR starts at i0 * k. Row-major: row i0.
    const float* a_tile = kRowStride == 1 ? ap + i0 * k : ap + i0 * row_stride;
    const auto [steps, tile_diag] = tile_steps(i0, kMR - 1);
    for (size_t j0 = 0; j0 < n; j0 += kPanel) {
      TileColumn<kMR, kRowStride>(a_tile, bp + j0 * bk, steps, c_panel(j0) + i0 * ldc, ldc, kMR,
                                  std::min(kPanel, n - j0), beta, tile_diag, a_stride);
    }
  }
  if (rest == 0) return;
  const float* a_tile = kRowStride == 1 ? ap + full * k : ap + full * row_stride;
  // Plain variables: a lambda may not capture structured bindings (C++17).
  const std::pair<size_t, ptrdiff_t> last = tile_steps(full, rest - 1);
  const size_t steps = last.first;
  const ptrdiff_t tile_diag = last.second;
  WithTileRows(TileRows(rest), [&](auto rows) {
    for (size_t j0 = 0; j0 < n; j0 += kPanel) {
      TileColumn<decltype(rows)::value, kRowStride>(
          a_tile, bp + j0 * bk, steps, c_panel(j0) + full * ldc, ldc, rest,
          std::min(kPanel, n - j0), beta, tile_diag, a_stride);
    }
  });
}

// C = alpha * op(A) · B + beta * C for rows [0, m) of op(A) (m <= kMC) and
// the n columns of B starting at bp, which is packed over the whole k
// (bp: [ceil(n / kPanel)][k][kPanel]). beta == 0 never reads C. k > 0.
// k_block: steps per k-block, at most kKC unless A is read in place, then
// at most kInPlaceKC; a_pack: kMC * kKC floats.
// A thin product (ReadsAInPlace: n <= kInPlaceColumns) reads a row-major A
// with alpha 1 in place, but for its last m % kMR rows (their short tile
// would read rows past m): packing copies A once per row block, which when
// few B panels use it (1024x64x1024: two) took a quarter of the time. Wider
// products pack: the packed tile is read once per B panel and beats 12
// strided rows.
// Either way each element of C is the same sum in the same order.
inline void GemmRowBlock(MatrixView a, size_t m, const float* HWY_RESTRICT bp, size_t n, size_t k,
                         float alpha, float beta, float* HWY_RESTRICT c, size_t ldc, size_t k_block,
                         float* HWY_RESTRICT a_pack, const ColumnGroups& columns = ColumnGroups(),
                         size_t first_col = 0) {
  const ptrdiff_t kNoMask = static_cast<ptrdiff_t>(k + m + 1);
  const bool in_place = ReadsAInPlace(a, n, alpha);
  const size_t direct = in_place ? m / kMR * kMR : 0;  // Rows read in place.
  const auto a_stride = static_cast<size_t>(a.row_stride);
  // In place, the last rows are packed into one tile's panel with k-blocks
  // of up to kInPlaceKC.
  static_assert(kMR * kInPlaceKC <= kMC * kKC, "a_pack holds the packed rows");
  for (size_t k0 = 0; k0 < k; k0 += k_block) {
    const size_t kc = std::min(k_block, k - k0);
    // k-blocks after the first add to C: the sum over k keeps its order.
    const float block_beta = k0 == 0 ? beta : 1.0f;
    const float* b_block = bp + k0 * kPanel;
    if (direct > 0) {
      TileProduct<kRuntimeStride>(a.data + k0, direct, b_block, k, n, kc, c, ldc, block_beta,
                                  kNoMask, a_stride, false, columns, first_col);
    }
    if (direct == m) continue;
    // alpha is folded into A here: one multiply per element of A, not of C.
    const float* rest = a.data + static_cast<ptrdiff_t>(direct) * a.row_stride;
    PackA(rest + static_cast<ptrdiff_t>(k0) * a.step, a.row_stride, a.step, m - direct, kc, alpha,
          a_pack);
    TileProduct(a_pack, m - direct, b_block, k, n, kc, c + direct * ldc, ldc, block_beta, kNoMask,
                0, false, columns, first_col);
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_GEMM_INL_H_
