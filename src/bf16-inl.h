// bf16 values for one SIMD target, in vectors: rounding floats to bf16 and
// widening bf16 to floats (bitwise the scalar functions of bf16.h), and
// packing strided rows of floats or bf16 values into the shared packed-B
// layout of gemm_bf16.h (attention's k and v, whatever their strides).
// Included by bf16.cc and attention_bf16.cc through foreach_target.h.

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_BF16_INL_H_
#undef MHSA_SRC_BF16_INL_H_
#else
#define MHSA_SRC_BF16_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bf16.h"
#include "bf16_pack.h"
#include "gemm-inl.h"
#include "gemm_bf16.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The bf16 patterns of v's lanes in the low halves of 32-bit lanes, rounded
// as the scalar FloatToBf16: to nearest, ties to even (adding 0x7FFF or
// 0x8000 as the kept part's lowest bit says), a NaN kept a quiet NaN.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> Bf16BitsOf(DF /*df*/, hn::Vec<DF> v) {
  const hn::RebindToUnsigned<DF> du;
  const auto bits = hn::BitCast(du, v);
  const auto upper = hn::ShiftRight<16>(bits);  // Logical: the sign does not spread.
  const auto rounded = hn::ShiftRight<16>(
      hn::Add(bits, hn::Add(hn::Set(du, 0x7FFFu), hn::And(upper, hn::Set(du, 1u)))));
  return hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Or(upper, hn::Set(du, 0x0040u)),
                        rounded);
}

// v's lanes rounded to the nearest bf16 values, as floats.
template <class DF>
HWY_INLINE hn::Vec<DF> RoundVecToBf16(DF df, hn::Vec<DF> v) {
  return hn::BitCast(df, hn::ShiftLeft<16>(Bf16BitsOf(df, v)));
}

// Lanes(df) bf16 values at p, widened (exactly) to floats.
template <class DF>
HWY_INLINE hn::Vec<DF> LoadBf16AsFloat(DF df, const uint16_t* HWY_RESTRICT p) {
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> du16;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(du16, p))));
}

// The values a bf16 product uses, as floats: float lanes rounded, bf16
// lanes widened. Scalar and vector forms.
inline float AsBf16Value(float f) { return ::mhsa::RoundToBf16(f); }
inline float AsBf16Value(uint16_t h) { return ::mhsa::Bf16ToFloat(h); }
template <class DF>
HWY_INLINE hn::Vec<DF> LoadAsBf16(DF df, const float* HWY_RESTRICT p) {
  return RoundVecToBf16(df, hn::LoadU(df, p));
}
template <class DF>
HWY_INLINE hn::Vec<DF> LoadAsBf16(DF df, const uint16_t* HWY_RESTRICT p) {
  return LoadBf16AsFloat(df, p);
}

// Lanes(df) bf16 patterns of src in the low halves of 32-bit lanes.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> LoadBf16Bits(DF df, const float* HWY_RESTRICT src) {
  return Bf16BitsOf(df, hn::LoadU(df, src));
}
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> LoadBf16Bits(DF /*df*/,
                                                          const uint16_t* HWY_RESTRICT src) {
  const hn::RebindToUnsigned<DF> du;
  const hn::Rebind<uint16_t, DF> du16;
  return hn::PromoteTo(du, hn::LoadU(du16, src));
}

inline uint16_t Bf16Pattern(float f) { return ::mhsa::FloatToBf16(f); }
inline uint16_t Bf16Pattern(uint16_t h) { return h; }

#if MHSA_TRANSPOSE_ROWS
// The pair words (two bf16 steps, the even one in the low half) of steps
// [0, 2 * Lanes) of a row: float steps rounded, then their even and odd
// lanes gathered and joined; bf16 steps are already the words in memory.
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> PairWords(DF df, const float* HWY_RESTRICT row) {
  const hn::RebindToUnsigned<DF> du;
  const auto lo = LoadBf16Bits(df, row), hi = LoadBf16Bits(df, row + hn::Lanes(df));
  return hn::Or(hn::ConcatEven(du, hi, lo), hn::ShiftLeft<16>(hn::ConcatOdd(du, hi, lo)));
}
template <class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> PairWords(DF /*df*/,
                                                       const uint16_t* HWY_RESTRICT row) {
  const hn::RebindToUnsigned<DF> du;
  return hn::LoadU(du, reinterpret_cast<const uint32_t*>(row));
}
#endif  // MHSA_TRANSPOSE_ROWS

// `count` values at src as bf16 patterns at dst (floats rounded, bf16
// copied): vectors, then the scalar Bf16Pattern for the tail. Every lane of
// LoadBf16Bits is in [0, 0xFFFF], so the saturating demotion is exact.
template <typename T>
inline void NarrowToBf16(const T* HWY_RESTRICT src, size_t count, uint16_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= count; i += N) {
    hn::StoreU(hn::DemoteTo(du16, hn::BitCast(di, LoadBf16Bits(df, src + i))), du16, dst + i);
  }
  for (; i < count; ++i) dst[i] = Bf16Pattern(src[i]);
}

// Steps [0, count) of one row as bf16 pairs, pair q at out + q * W * 2
// (the odd step of an odd count zero): rounded in vectors into a buffer,
// then stored a 32-bit word at a time. The rows and steps PackPairRows
// does not move in fours.
template <typename T>
void PackPairsOfRow(const T* HWY_RESTRICT row, size_t count, uint16_t* HWY_RESTRICT out, size_t W) {
  HWY_ALIGN uint16_t buffer[kPackChunk + 1];
  for (size_t p0 = 0; p0 < count; p0 += kPackChunk) {
    const size_t n = std::min(kPackChunk, count - p0);
    NarrowToBf16(row + p0, n, buffer);
    if (n % 2 != 0) buffer[n] = 0;  // The odd step's pad.
    for (size_t q = 0; q < (n + 1) / 2; ++q) {
      std::memcpy(out + (p0 / 2 + q) * W * 2, buffer + 2 * q, 4);
    }
  }
}

// Rows [0, n) of a matrix, each k long (row j at src + j * row_stride, any
// sign), as k-pair panels of W rows, rounded to bf16:
//   dst: [ceil(n / W)][ceil(k / 2)][W][2], padding rows and the odd step 0.
// The layout of packed B (W = kBf16Panel: k in q·kᵀ) and of the dot
// kernels' packed A (W = their MR). Four rows at a time, 2 * Lanes steps at
// a time, become pair words transposed in registers (StoreTransposedFour):
// the word of pair q of row r goes W words after that of pair q - 1, and
// one word per store was a third of the bf16 prefill's time at T=128 on
// AVX3_BF16. Other rows and steps take PackPairsOfRow.
template <size_t W, typename T>
void PackPairRows(const T* HWY_RESTRICT src, ptrdiff_t row_stride, size_t n, size_t k,
                  uint16_t* HWY_RESTRICT dst) {
  const size_t pairs = (k + 1) / 2;
  size_t vector_pairs = 0;  // Pairs of the rows in fours moved in vectors.
#if MHSA_TRANSPOSE_ROWS
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  if constexpr (W % 4 == 0) vector_pairs = k / (2 * N) * N;
#endif
  for (size_t i0 = 0; i0 < n; i0 += W) {
    uint16_t* HWY_RESTRICT panel = dst + i0 * pairs * 2;
    const size_t valid = std::min(W, n - i0);
    const T* first = src + static_cast<ptrdiff_t>(i0) * row_stride;
    const size_t grouped = vector_pairs > 0 ? valid / 4 * 4 : 0;
#if MHSA_TRANSPOSE_ROWS
    for (size_t r = 0; r < grouped; r += 4) {
      const T* row = first + static_cast<ptrdiff_t>(r) * row_stride;
      for (size_t q = 0; q < vector_pairs; q += N) {
        const T* at = row + 2 * q;
        StoreTransposedFour<W>(hn::BitCast(df, PairWords(df, at)),
                               hn::BitCast(df, PairWords(df, at + row_stride)),
                               hn::BitCast(df, PairWords(df, at + 2 * row_stride)),
                               hn::BitCast(df, PairWords(df, at + 3 * row_stride)),
                               reinterpret_cast<float*>(panel + (q * W + r) * 2));
      }
    }
#endif
    for (size_t r = 0; r < W; ++r) {
      uint16_t* HWY_RESTRICT out = panel + r * 2;
      if (r >= valid) {
        for (size_t q = 0; q < pairs; ++q) out[q * W * 2] = out[q * W * 2 + 1] = 0;
        continue;
      }
      const T* row = first + static_cast<ptrdiff_t>(r) * row_stride;
      const size_t q0 = r < grouped ? vector_pairs : 0;
      PackPairsOfRow(row + 2 * q0, k - 2 * q0, out + q0 * W * 2, W);
    }
  }
}

// Rows [0, n) of B (k in q·kᵀ) into the packed layout of gemm_bf16.h.
template <typename T>
void PackBf16RowsStrided(const T* HWY_RESTRICT src, ptrdiff_t row_stride, size_t n, size_t k,
                         uint16_t* HWY_RESTRICT dst) {
  PackPairRows<kBf16Panel>(src, row_stride, n, k, dst);
}

// Steps [0, k) of B given as [k][n] (step p at src + p * step_stride, any
// sign, n contiguous values: v in p·v), into the same packed layout:
// word j of pair q holds B[2q][j] (low half) and B[2q + 1][j] (high half),
// made from two rows in vectors. Columns past n and the odd step are zero.
template <typename T>
void PackBf16ColsStrided(const T* HWY_RESTRICT src, ptrdiff_t step_stride, size_t n, size_t k,
                         uint16_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const size_t N = hn::Lanes(df);
  const size_t pairs = (k + 1) / 2;
  HWY_ALIGN uint32_t words[hn::MaxLanes(df)];
  for (size_t j0 = 0; j0 < n; j0 += kBf16Panel) {
    uint16_t* panel = dst + j0 / kBf16Panel * pairs * 2 * kBf16Panel;
    const size_t cols = std::min(kBf16Panel, n - j0);
    for (size_t q = 0; q < pairs; ++q) {
      uint16_t* out = panel + q * 2 * kBf16Panel;
      const T* even = src + static_cast<ptrdiff_t>(2 * q) * step_stride + j0;
      const bool has_odd = 2 * q + 1 < k;
      const T* odd = has_odd ? even + step_stride : even;
      size_t j = 0;
      for (; j + N <= cols; j += N) {
        auto word = LoadBf16Bits(df, even + j);
        if (has_odd) word = hn::Or(word, hn::ShiftLeft<16>(LoadBf16Bits(df, odd + j)));
        hn::Store(word, du, words);
        std::memcpy(out + 2 * j, words, N * 4);
      }
      for (; j < cols; ++j) {
        out[2 * j] = Bf16Pattern(even[j]);
        out[2 * j + 1] = has_odd ? Bf16Pattern(odd[j]) : uint16_t{0};
      }
      std::fill(out + 2 * cols, out + 2 * kBf16Panel, uint16_t{0});
    }
  }
}

// n floats at p rounded in place to their nearest bf16 values (as
// RoundVecToBf16): the float kernels then multiply bf16 values, exactly.
inline void RoundToBf16InPlace(float* HWY_RESTRICT p, size_t n) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(RoundVecToBf16(df, hn::LoadU(df, p + i)), df, p + i);
  for (; i < n; ++i) p[i] = AsBf16Value(p[i]);
}

// `count` bf16 values at src widened (exactly) to floats at dst: vectors,
// then the scalar Bf16ToFloat for the tail.
inline void WidenBf16(const uint16_t* HWY_RESTRICT src, size_t count, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= count; i += N) hn::StoreU(LoadBf16AsFloat(df, src + i), df, dst + i);
  for (; i < count; ++i) dst[i] = ::mhsa::Bf16ToFloat(src[i]);
}

// Rows [0, rows) of bf16 values (row r at src + r * row_stride, n values)
// widened into the row-major floats dst[rows][n].
inline void WidenRows(const uint16_t* HWY_RESTRICT src, ptrdiff_t row_stride, size_t rows, size_t n,
                      float* HWY_RESTRICT dst) {
  for (size_t r = 0; r < rows; ++r) {
    WidenBf16(src + static_cast<ptrdiff_t>(r) * row_stride, n, dst + r * n);
  }
}

// The float panels of PackPanels<W> (gemm-inl.h) made from bf16 values,
// widened: the float flash path's v when it is given as bf16.
// Steps [0, k) of B given as [k][n] (step p at src + p * step_stride, n
// contiguous values: v in p·v) into dst[ceil(n / W)][k][W], padding lanes
// zero: each step's values are one widened vector copy.
template <size_t W>
void WidenColsToPanels(const uint16_t* HWY_RESTRICT src, ptrdiff_t step_stride, size_t n, size_t k,
                       float* HWY_RESTRICT dst) {
  for (size_t j0 = 0; j0 < n; j0 += W) {
    float* HWY_RESTRICT panel = dst + j0 * k;
    const size_t cols = std::min(W, n - j0);
    for (size_t p = 0; p < k; ++p) {
      float* HWY_RESTRICT out = panel + p * W;
      WidenBf16(src + static_cast<ptrdiff_t>(p) * step_stride + j0, cols, out);
      std::fill(out + cols, out + W, 0.0f);
    }
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_BF16_INL_H_
