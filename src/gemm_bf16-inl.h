// The bf16 GEMM for every SIMD target, without bf16 instructions: B stays in
// the shared packed bf16 layout (gemm_bf16.h) and is widened to float in
// registers; A is packed as floats (already rounded to bf16) so that each
// row's value is one broadcast, as in the float kernel (gemm-inl.h).
//
// Widening a k-pair word w (low half: step 2q, high half: step 2q+1) costs
// one integer op per step and vector of B, shared by all MR rows:
//   even step: float bits w << 16;   odd step: float bits w & 0xFFFF0000.
// A product of two bf16 values has at most 16 significant bits, so it is
// exact in float and MulAdd rounds only the sum: the result is the plain
// float32 sum of the bf16 products in k order.
//
// Highway's ReorderWidenMulAccumulate (1.0.3) does the same widening for
// both operands on every call and keeps even and odd products in two sums:
// with A broadcast as a bf16 pair that is 4 more integer ops per row and
// k-pair, on the ports the FMAs need, and twice the accumulators, so only 6
// rows fit. Measured (AVX3, this machine, L1-resident panels, standalone
// loop): 183 GFLOP/s for this 12 x 32 kernel, 130 for a 6 x 32 one built on
// ReorderWidenMulAccumulate.
//
// Shapes, row-major, strides in elements:
//   packed A: [ceil(m / kBf16MR)][2 * ceil(k / 2)][kBf16MR] float
//   packed B: [ceil(n / 32)][ceil(k / 2)][32][2] bf16

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_GEMM_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_GEMM_BF16_INL_H_
#undef MHSA_SRC_GEMM_BF16_INL_H_
#else
#define MHSA_SRC_GEMM_BF16_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gemm_bf16.h"
#include "hwy/highway.h"
#include "target_family-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows of the register tile and the vector registers it must fit. The tile
// needs MR x (32 / lanes) accumulators; FMA latency (4) x 2 ports wants at
// least 8 of them. Besides those, a k-step needs the raw B words, their
// widened floats, the 0xFFFF0000 mask and the A broadcasts (see
// kBf16Registers below).
//   AVX-512, 32 zmm: 24 accumulators (12 x 2), 2 B words, 2 widened B, 1
//     mask = 29; broadcasts fold into the FMA as memory operands.
//   AVX2, 16 ymm: 8 accumulators (2 x 4), 2 broadcasts, 1 B word, 1
//     widened, 1 mask = 13. Three rows (the float kernel's MR) would need
//     12 + 3 + 3 = 18.
//   NEON, 32 q: 24 accumulators (3 x 8), 3 broadcasts, 1 B word, 1 widened,
//     1 mask = 30.
//   SSE4/SSSE3, 16 xmm: 8 accumulators (1 x 8), 1 broadcast, 1 B word, 1
//     widened, 1 mask = 12. SCALAR: one row.
inline constexpr size_t kBf16MR = kFamily == Family::kAvx512 ? 12
                                  : kFamily == Family::kAvx2 ? 2
                                  : kFamily == Family::kNeon ? 3
                                                             : 1;
inline constexpr size_t kBf16VectorRegisters = kVectorRegisters;

using Bf16DF = hn::ScalableTag<float>;
using Bf16DU = hn::RebindToUnsigned<Bf16DF>;
inline constexpr size_t kBf16Lanes = hn::MaxLanes(Bf16DF());
static_assert(kBf16Panel % kBf16Lanes == 0, "a B panel row must be whole vectors");
inline constexpr size_t kBf16NV = kBf16Panel / kBf16Lanes;  // Vectors per panel row.
// Few B vectors (AVX3): hold them all and stream the broadcasts. Otherwise
// hold one step's MR broadcasts and stream B.
inline constexpr bool kBf16HoldB = kBf16NV <= 2;
inline constexpr size_t kBf16Registers =
    kBf16MR * kBf16NV + 1 + (kBf16HoldB ? 2 * kBf16NV : kBf16MR + 2);
static_assert(kBf16VectorRegisters == 0 || kBf16Registers <= kBf16VectorRegisters,
              "the bf16 register tile must not spill");

// kBf16Lanes k-pair words (column j: step 2q in the low half, 2q+1 in the high).
HWY_INLINE hn::Vec<Bf16DU> LoadPairWords(const uint16_t* HWY_RESTRICT p) {
  const Bf16DU du;
#if HWY_TARGET == HWY_SCALAR
  uint32_t word;
  std::memcpy(&word, p, sizeof(word));
  return hn::Set(du, word);
#else
  const hn::Repartition<uint16_t, Bf16DU> du16;
  return hn::BitCast(du, hn::LoadU(du16, p));
#endif
}

template <int kStep>  // 0: the even k-step of the pair, 1: the odd one.
HWY_INLINE hn::Vec<Bf16DF> Widen(hn::Vec<Bf16DU> words, hn::Vec<Bf16DU> high_mask) {
  const Bf16DF df;
  return kStep == 0 ? hn::BitCast(df, hn::ShiftLeft<16>(words))
                    : hn::BitCast(df, hn::And(words, high_mask));
}

// One k-step for rows [0, kRows): acc[r][v] += a[r] * B(step).
template <int kStep, size_t kRows>
HWY_INLINE void Bf16Step(const float* HWY_RESTRICT a, const uint16_t* HWY_RESTRICT bq,
                         hn::Vec<Bf16DU> high_mask, hn::Vec<Bf16DF> (&acc)[kRows][kBf16NV]) {
  const Bf16DF df;
  if constexpr (kBf16HoldB) {
    hn::Vec<Bf16DF> b[kBf16NV];
    for (size_t v = 0; v < kBf16NV; ++v) {
      b[v] = Widen<kStep>(LoadPairWords(bq + v * 2 * kBf16Lanes), high_mask);
    }
    for (size_t r = 0; r < kRows; ++r) {
      const auto av = hn::Set(df, a[r]);
      for (size_t v = 0; v < kBf16NV; ++v) acc[r][v] = hn::MulAdd(av, b[v], acc[r][v]);
    }
  } else {
    hn::Vec<Bf16DF> av[kRows];
    for (size_t r = 0; r < kRows; ++r) av[r] = hn::Set(df, a[r]);
    for (size_t v = 0; v < kBf16NV; ++v) {
      const auto b = Widen<kStep>(LoadPairWords(bq + v * 2 * kBf16Lanes), high_mask);
      for (size_t r = 0; r < kRows; ++r) acc[r][v] = hn::MulAdd(av[r], b, acc[r][v]);
    }
  }
}

// The masked form of one k-step: rows whose limit it reaches skip it.
template <int kStep, size_t kRows>
HWY_INLINE void Bf16MaskedStep(const float* HWY_RESTRICT a, const uint16_t* HWY_RESTRICT bq,
                               hn::Vec<Bf16DU> high_mask, ptrdiff_t step, ptrdiff_t diag,
                               hn::Vec<Bf16DF> (&acc)[kRows][kBf16NV]) {
  const Bf16DF df;
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    if (step >= diag + static_cast<ptrdiff_t>(r)) continue;
    const auto av = hn::Set(df, a[r]);
    for (size_t v = 0; v < kBf16NV; ++v) {
      const auto b = Widen<kStep>(LoadPairWords(bq + v * 2 * kBf16Lanes), high_mask);
      acc[r][v] = hn::MulAdd(av, b, acc[r][v]);
    }
  }
}

// Short tiles (decode: m = 1) compute kBf16SmallRows rows instead of
// kBf16MR: 4 on AVX3 (8 accumulators still cover FMA latency x ports),
// 1 where MR is 2 or 3.
inline constexpr size_t kBf16SmallRows = kBf16MR >= 4 ? 4 : 1;

// One kRows x 32 tile of C (kRows <= kBf16MR rows of the panel) from an A
// panel (ap: [2 kp][kBf16MR] floats) and a B panel (bp: [kp][32][2] bf16),
// k steps. accumulate, diag, m_valid <= kRows, n_valid: as
// Bf16Kernel::tiles and the float MicroKernel.
template <size_t kRows>
inline void Bf16MicroKernel(const float* HWY_RESTRICT ap, const uint16_t* HWY_RESTRICT bp, size_t k,
                            float* HWY_RESTRICT c, size_t ldc, size_t m_valid, size_t n_valid,
                            bool accumulate, ptrdiff_t diag) {
  const Bf16DF df;
  const Bf16DU du;
  const auto high_mask = hn::Set(du, 0xFFFF0000u);
  // The loops over the rows of acc are unrolled, as in ComputeTile
  // (gemm-inl.h): rolled, they put acc on the stack.
  static_assert(kRows <= 16, "HWY_UNROLL(16) unrolls the row loops whole");
  hn::Vec<Bf16DF> acc[kRows][kBf16NV];
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kBf16NV; ++v) acc[r][v] = hn::Zero(df);
  }
  const size_t kp = (k + 1) / 2;
  // Pairs every row takes whole, then the triangle where rows drop out step
  // by step. (Past k, in the odd step of an odd k, A and B hold zero padding.)
  const size_t full = diag >= static_cast<ptrdiff_t>(k) ? kp
                      : diag <= 0                       ? 0
                                                        : static_cast<size_t>(diag) / 2;
  // Inner loop on AVX3 at 12 rows (GCC 12 -O3, objdump -d): per k-pair,
  // `vpslld $0x10,mem,%zmm` x 2 and `vpandd mem,%zmm26,%zmm` x 2 (B widened
  // straight from memory), 24 vbroadcastss loads of A, 48 vfmadd231ps and a
  // few register moves; no spills.
  for (size_t q = 0; q < full; ++q) {
    const uint16_t* HWY_RESTRICT bq = bp + q * 2 * kBf16Panel;
    Bf16Step<0, kRows>(ap + 2 * q * kBf16MR, bq, high_mask, acc);
    Bf16Step<1, kRows>(ap + (2 * q + 1) * kBf16MR, bq, high_mask, acc);
  }
  for (size_t q = full; q < kp; ++q) {
    const uint16_t* HWY_RESTRICT bq = bp + q * 2 * kBf16Panel;
    const auto step = static_cast<ptrdiff_t>(2 * q);
    Bf16MaskedStep<0, kRows>(ap + 2 * q * kBf16MR, bq, high_mask, step, diag, acc);
    Bf16MaskedStep<1, kRows>(ap + (2 * q + 1) * kBf16MR, bq, high_mask, step + 1, diag, acc);
  }

  if (m_valid == kRows && n_valid == kBf16Panel) {
    HWY_UNROLL(16)
    for (size_t r = 0; r < kRows; ++r) {
      float* HWY_RESTRICT crow = c + r * ldc;
      for (size_t v = 0; v < kBf16NV; ++v) {
        auto sum = acc[r][v];
        if (accumulate) sum = hn::Add(sum, hn::LoadU(df, crow + v * kBf16Lanes));
        hn::StoreU(sum, df, crow + v * kBf16Lanes);
      }
    }
    return;
  }
  // Edge tile: spill to a buffer, then touch only the valid part of C.
  HWY_ALIGN float tile[kRows * kBf16Panel];
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kBf16NV; ++v) {
      hn::Store(acc[r][v], df, tile + r * kBf16Panel + v * kBf16Lanes);
    }
  }
  for (size_t r = 0; r < m_valid; ++r) {
    float* HWY_RESTRICT crow = c + r * ldc;
    const float* HWY_RESTRICT trow = tile + r * kBf16Panel;
    for (size_t j = 0; j < n_valid; ++j) crow[j] = accumulate ? crow[j] + trow[j] : trow[j];
  }
}

// All tiles of C (m x n) (+)= packed A · packed B over k steps; arguments as
// Bf16Kernel::tiles, with ap packed by PackAWidened<kBf16MR>.
inline void Bf16TileProduct(const float* HWY_RESTRICT ap, size_t m, const uint16_t* HWY_RESTRICT bp,
                            size_t b_pairs, size_t n, size_t k, float* HWY_RESTRICT c, size_t ldc,
                            bool accumulate, ptrdiff_t diag) {
  const size_t steps = (k + 1) / 2 * 2;
  const auto tile = [&](size_t i0, size_t j0) {
    const size_t rows = std::min(kBf16MR, m - i0);
    auto kernel = &Bf16MicroKernel<kBf16MR>;
    if constexpr (kBf16SmallRows < kBf16MR) {
      if (rows <= kBf16SmallRows) kernel = &Bf16MicroKernel<kBf16SmallRows>;
    }
    kernel(ap + i0 * steps, Bf16BPanel(bp, b_pairs, j0), k, c + i0 * ldc + j0, ldc, rows,
           std::min(kBf16Panel, n - j0), accumulate, diag + static_cast<ptrdiff_t>(i0));
  };
  ForEachBf16Tile(m, kBf16MR, n, k, tile);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_GEMM_BF16_INL_H_
