// Row pieces of the causal softmax for one SIMD target, shared by the
// standalone softmax (softmax.cc) and the flash attention (attention.cc).
//
// exp is SoftmaxExp below, made for the softmax's arguments s - max <= 0
// (and the flash tiles' s - reference, at most 8 ln 2, flash_tile-inl.h):
// max error 1 ULP on [-87.33, 0] (0.997 measured over 60 million points
// against long double; the kernel tests check 1 ULP against std::exp on
// [-87, 8]),
// exactly 0 below -87.33, where exp would be subnormal, and for -inf. NaN
// and +inf scores are caught before exp and turn the whole row to NaN, as
// torch's softmax does.

#if defined(MHSA_SRC_SOFTMAX_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_SOFTMAX_INL_H_
#undef MHSA_SRC_SOFTMAX_INL_H_
#else
#define MHSA_SRC_SOFTMAX_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The first `count` (at most Lanes) floats at p, the other lanes `fill`, and
// the first `count` lanes of v stored at p, touching no float past them.
// AVX-512's masked loads and stores never touch (or fault on) a masked
// lane (SCALAR takes this path too: its one lane is never a partial tail,
// count being at least 1 everywhere). Where Highway says they might
// (HWY_MEM_OPS_MIGHT_FAULT: SSSE3, SSE4, AVX2, NEON, and every target
// under ASan; version 1.0.3 emulates some of them with full-width
// accesses, which would read past the row and fault at a page boundary)
// the tail goes through a small buffer, whose scalar stores the vector
// load then waits for: a softmax of one row of 1 or 4 floats took 59 ns
// through it, 38 with the masked operations (Zen 5).
template <class D>
HWY_INLINE hn::Vec<D> LoadTail(D d, const float* HWY_RESTRICT p, size_t count, float fill) {
#if !HWY_MEM_OPS_MIGHT_FAULT
  const auto valid = hn::FirstN(d, count);
  return hn::IfThenElse(valid, hn::MaskedLoad(valid, d, p), hn::Set(d, fill));
#else
  HWY_ALIGN float buffer[hn::MaxLanes(D())];
  for (size_t i = 0; i < hn::Lanes(d); ++i) buffer[i] = i < count ? p[i] : fill;
  return hn::Load(d, buffer);
#endif
}

template <class D>
HWY_INLINE void StoreTail(D d, hn::Vec<D> v, float* HWY_RESTRICT p, size_t count) {
#if !HWY_MEM_OPS_MIGHT_FAULT
  hn::BlendedStore(v, hn::FirstN(d, count), d, p);
#else
  HWY_ALIGN float buffer[hn::MaxLanes(D())];
  hn::Store(v, d, buffer);
  for (size_t i = 0; i < count; ++i) p[i] = buffer[i];
#endif
}

// exp(r) for r = x - q ln2, |r| <= ln2/2 (see SoftmaxExp): 1 + r + r^2 Q(r).
template <class D>
HWY_INLINE hn::Vec<D> ExpReduced(D d, hn::Vec<D> x, hn::Vec<D> q) {
  auto r = hn::MulAdd(q, hn::Set(d, -0.693145751953125f), x);
  r = hn::MulAdd(q, hn::Set(d, -1.428606765330187045e-6f), r);
  auto poly = hn::Set(d, 0.0013751407895869424f);
  poly = hn::MulAdd(poly, r, hn::Set(d, 0.00836891634137505f));
  poly = hn::MulAdd(poly, r, hn::Set(d, 0.041669533109222265f));
  poly = hn::MulAdd(poly, r, hn::Set(d, 0.1666651845998037f));
  poly = hn::MulAdd(poly, r, hn::Set(d, 0.499999885951128f));
  return hn::Add(hn::MulAdd(hn::Mul(r, r), poly, r), hn::Set(d, 1.0f));
}

// exp(x) for x <= 88 (normal results; the softmaxes need x <= 8), in about
// 17 operations where Highway's general Exp (any x, subnormal results)
// takes about 27: the exp is a sixth of the flash attention's arithmetic
// besides its FMAs. x = q ln2 + r with q = round(x / ln2) (ln2 in two
// parts, so that r is exact to a few ulps) and |r| <= ln2/2; exp(r) = 1 + r
// + r^2 Q(r) with Q fitted by weighted least squares (relative error
// 3.6e-9), the small terms summed first and the 1 last; then the exponent
// gets q (2^q is exact for q >= -126).
// q is rounded by adding 1.5 * 2^23 to x / ln2 (|x / ln2| < 2^22): the
// sum's float keeps no fraction, so it is 1.5 * 2^23 + round(x / ln2), to
// nearest with ties to even as a rounding instruction (the constant is
// even), and its low mantissa bits hold q as a two's complement; adding the
// bias 127 and shifting by 23 makes 2^q's bits (the shift drops the rest).
// An add, a subtract (q as a float), an integer add and a shift, where
// rounding, converting to integers (with Highway's fix-up of out-of-range
// lanes on AVX2: five instructions), masking the lanes out of range and
// adding the bias took about eight: the same q and the same bits. Lanes out
// of range (x below -87.33, -inf, NaN) get bits of no meaning, which the
// final mask zeroes; none is converted, so no NaN or -inf reaches a
// conversion (undefined where Highway emulates it in C++: found by the
// fuzz_forward corpus under UBSan).
template <class D>
HWY_INLINE hn::Vec<D> SoftmaxExp(D d, hn::Vec<D> x) {
  const auto x_log2e = hn::Mul(x, hn::Set(d, 1.44269504088896341f));
  const auto in_range = hn::Ge(x, hn::Set(d, -87.33f));
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  // AVX-512 rounds in one instruction and scales by 2^q in one (vscalefps;
  // the zero-masking is free), where the generic path below takes two and
  // three: the same values, as y * 2^q is exact for the normal results of
  // this range.
  if constexpr (hn::MaxLanes(D()) == 16) {
    const auto q = hn::Round(x_log2e);
    const auto y = ExpReduced(d, x, q);
    return hn::Vec<D>{_mm512_maskz_scalef_ps(in_range.raw, y.raw, q.raw)};
  }
#endif
  const auto shifter = hn::Set(d, 12582912.0f);  // 1.5 * 2^23.
  const auto shifted = hn::Add(x_log2e, shifter);
  const auto q = hn::Sub(shifted, shifter);  // Exact: both in [2^23, 2^24).
  const auto y = ExpReduced(d, x, q);
  const hn::RebindToUnsigned<D> du;
  const auto biased = hn::Add(hn::BitCast(du, shifted), hn::Set(du, 127u));
  const auto scale = hn::BitCast(d, hn::ShiftLeft<23>(biased));
  // Below -87.33 (where q + 127 leaves the exponent's range), and for -inf
  // and NaN: exactly 0.
  return hn::IfThenElseZero(in_range, hn::Mul(y, scale));
}

// Returns the max of row[0..n). Sets *bad when an element is NaN or +inf:
// torch's softmax would then give NaN for the whole row (through inf - inf
// or NaN arithmetic), and so do we.
inline float MaxAndCheck(const float* HWY_RESTRICT row, size_t n, bool* bad) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto inf = hn::Set(d, std::numeric_limits<float>::infinity());
  auto vmax = hn::Set(d, -std::numeric_limits<float>::infinity());
  // Not (x < inf) is true exactly for NaN and +inf.
  auto vbad = hn::Ne(vmax, vmax);  // All false.
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto x = hn::LoadU(d, row + i);
    vbad = hn::Or(vbad, hn::Not(hn::Lt(x, inf)));
    vmax = hn::Max(vmax, x);
  }
  if (i < n) {
    // Lanes past n hold -inf: they change neither the max nor the flag.
    const auto x = LoadTail(d, row + i, n - i, -std::numeric_limits<float>::infinity());
    vbad = hn::Or(vbad, hn::Not(hn::Lt(x, inf)));
    vmax = hn::Max(vmax, x);
  }
  if (!hn::AllFalse(d, vbad)) *bad = true;
  return hn::GetLane(hn::MaxOfLanes(d, vmax));
}

// row[i] = exp(row[i] - max) for i < n; returns their sum. max is finite.
inline float ExpAndSum(float* HWY_RESTRICT row, size_t n, float max) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vmax = hn::Set(d, max);
  // Two sums: the add latency (4 cycles) would otherwise bound the loop.
  auto sum0 = hn::Zero(d), sum1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto e0 = SoftmaxExp(d, hn::Sub(hn::LoadU(d, row + i), vmax));
    const auto e1 = SoftmaxExp(d, hn::Sub(hn::LoadU(d, row + i + N), vmax));
    hn::StoreU(e0, d, row + i);
    hn::StoreU(e1, d, row + i + N);
    sum0 = hn::Add(sum0, e0);
    sum1 = hn::Add(sum1, e1);
  }
  for (; i < n; i += N) {
    const size_t count = std::min(N, n - i);
    // Lanes past n hold -inf, whose exp is exactly 0 and adds nothing.
    const auto e = SoftmaxExp(
        d, hn::Sub(LoadTail(d, row + i, count, -std::numeric_limits<float>::infinity()), vmax));
    StoreTail(d, e, row + i, count);
    sum0 = hn::Add(sum0, e);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(sum0, sum1)));
}

// row[i] *= factor for i < n.
inline void ScaleRow(float* HWY_RESTRICT row, size_t n, float factor) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vf = hn::Set(d, factor);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, row + i), vf), d, row + i);
  if (i < n) StoreTail(d, hn::Mul(LoadTail(d, row + i, n - i, 0.0f), vf), row + i, n - i);
}

inline void FillRow(float* HWY_RESTRICT row, size_t n, float value) {
  for (size_t i = 0; i < n; ++i) row[i] = value;
}

// The running softmax of one query row in flash attention, over the key
// blocks seen so far: a reference m (the max of its scores, raised lazily:
// see kHeadroom), the sum l of exp(s - m), and whether a NaN or +inf score
// was seen (the row then ends as NaN). The softmax is the same for any m;
// m only keeps exp in range.
struct OnlineRow {
  float max = -std::numeric_limits<float>::infinity();
  float sum = 0.0f;
  bool bad = false;

  // Raises the reference to `raised` (above it) and scales the sum to the
  // new one; returns c = exp(old - raised), by which the caller scales what
  // else it computed with the old reference (0 while that was -inf: a row
  // that saw no finite score has nothing to keep).
  float Raise(float raised) {
    const float c = max == -std::numeric_limits<float>::infinity() ? 0.0f : std::exp(max - raised);
    sum *= c;
    max = raised;
    return c;
  }
};

// How far a score may exceed its row's reference before the reference is
// raised: 8 ln 2, so p = exp(s - m) <= 2^8 and never underflows for want of
// a larger m. Raising only then spares a max pass over every block and the
// rescaling of the row's output whenever a block's max exceeds the last.
// (reference + kHeadroom rounds to at most reference + 8, for a reference
// near 2^26: exp is tested up to 8.)
inline constexpr float kHeadroom = 5.545177444479562f;

// Folds one block of a row's scores into its running softmax, in one pass
// while every score lies within the reference's headroom. In scalar form:
//   m' = m if every s_j <= m + kHeadroom, else max(s_j) (> every score
//        before, which lay within m's headroom);  c = exp(m - m') (0 while
//        m = -inf, 1 while m stands)
//   p_j = exp(s_j - m');     l' = l * c + sum_j p_j
// row[0, visible) holds the block's scaled scores of visible keys; on return
// row[0, cols) holds p, exact zeros past `visible` (and everywhere once the
// row is bad, or while every score seen is -inf). Returns c, by which the
// caller rescales the output accumulated so far (1: unchanged).
inline float OnlineSoftmaxUpdate(float* HWY_RESTRICT row, size_t visible, size_t cols,
                                 OnlineRow* state) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  if (visible == 0 || state->bad) {
    FillRow(row, cols, 0.0f);
    return 1.0f;
  }
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  float correction = 1.0f;
  auto sum = hn::Zero(d);
  size_t i = 0;
  while (i < visible) {
    // A row whose reference is -inf takes the raise below at its first
    // score; -inf - -inf (every score -inf) is NaN, to which SoftmaxExp
    // gives 0. Not (s <= limit) holds for a score above it and for NaN.
    const auto reference = hn::Set(d, state->max);
    const auto limit = hn::Set(d, state->max + kHeadroom);
    for (; i < visible; i += N) {
      const size_t count = std::min(N, visible - i);
      // Lanes past `visible` hold -inf: within any limit, exp 0.
      const auto s = count == N ? hn::LoadU(d, row + i) : LoadTail(d, row + i, count, -kInf);
      if (!hn::AllTrue(d, hn::Le(s, limit))) break;
      const auto e = SoftmaxExp(d, hn::Sub(s, reference));
      if (count == N) {
        hn::StoreU(e, d, row + i);
      } else {
        StoreTail(d, e, row + i, count);
      }
      sum = hn::Add(sum, e);
    }
    if (i >= visible) break;
    // Raise the reference to the max of the rest of the block, which
    // exceeds every score before it, and rescale what was written with the
    // old one.
    const float block_max = MaxAndCheck(row + i, visible - i, &state->bad);
    if (state->bad) {
      FillRow(row, cols, 0.0f);
      return 1.0f;
    }
    const float c = state->Raise(block_max);
    ScaleRow(row, i, c);
    sum = hn::Mul(sum, hn::Set(d, c));
    correction *= c;
  }
  FillRow(row + visible, cols - visible, 0.0f);
  state->sum += hn::GetLane(hn::SumOfLanes(d, sum));
  return correction;
}

// Softmax of one score row over its first `valid` columns (the keys this
// query may see), after scaling; columns [valid, cols) are written as exact
// zeros, not computed from -inf. A row that holds NaN or +inf, or only -inf,
// becomes NaN over its valid columns, as in torch.
inline void CausalSoftmaxRow(float* HWY_RESTRICT row, size_t valid, size_t cols, float scale) {
  const hn::ScalableTag<float> d;
  if (valid > 0 && valid <= hn::Lanes(d)) {
    // A row of one vector stays in a register through the steps below,
    // which pass it through memory between steps: the same operations on
    // the same lanes, so the same bits (their second partial sum is zero
    // for one vector and changes none). Rows of 1 and 4 floats 38 -> 31
    // ns, of 16 32 -> 31 ns (Zen 5); the plain scalar loop takes 16, 26
    // and 66 ns.
    constexpr float kInf = std::numeric_limits<float>::infinity();
    const auto in_row = hn::FirstN(d, valid);
    const auto x = hn::IfThenElse(in_row, hn::Mul(LoadTail(d, row, valid, 0.0f), hn::Set(d, scale)),
                                  hn::Set(d, -kInf));
    const float max = hn::GetLane(hn::MaxOfLanes(d, x));
    if (!hn::AllTrue(d, hn::Lt(x, hn::Set(d, kInf))) || max == -kInf) {
      StoreTail(d, hn::Set(d, std::numeric_limits<float>::quiet_NaN()), row, valid);
    } else {
      const auto e = SoftmaxExp(d, hn::Sub(x, hn::Set(d, max)));
      const float sum = hn::GetLane(hn::SumOfLanes(d, e));
      StoreTail(d, hn::Mul(e, hn::Set(d, 1.0f / sum)), row, valid);
    }
    FillRow(row + valid, cols - valid, 0.0f);
    return;
  }
  bool bad = false;
  ScaleRow(row, valid, scale);
  const float max = MaxAndCheck(row, valid, &bad);
  if (bad || max == -std::numeric_limits<float>::infinity()) {
    FillRow(row, valid, std::numeric_limits<float>::quiet_NaN());
  } else {
    const float sum = ExpAndSum(row, valid, max);  // >= 1: the max gives exp(0).
    ScaleRow(row, valid, 1.0f / sum);
  }
  FillRow(row + valid, cols - valid, 0.0f);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_SOFTMAX_INL_H_
