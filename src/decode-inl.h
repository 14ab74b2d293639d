// The decode path of attention for one SIMD target, shared by float32
// products (attention.cc) and bf16 products (attention_bf16.cc): one query
// row per head (or a few) against a long cache is a matrix-vector product,
// so each key and value row is read once, in place, and used by every row
// of the group, four keys at a time, with the next block prefetched.

// Toggling include guard: one copy per target.
#if defined(MHSA_SRC_DECODE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MHSA_SRC_DECODE_INL_H_
#undef MHSA_SRC_DECODE_INL_H_
#else
#define MHSA_SRC_DECODE_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "attention-inl.h"
#include "attention.h"
#include "bf16-inl.h"
#include "gemm-inl.h"  // DF, VF
#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// How a path reads k and v and rounds q * scale and p before a product.
// kPairs: whether the path reads k and v rows by pairs (LoadPairs), with q
// and the accumulators in the split layout of SplitPairs.
struct ExactProducts {  // float32: as they are.
  static constexpr bool kPairs = false;
  template <class D>
  static HWY_INLINE hn::Vec<D> Load(D d, const float* HWY_RESTRICT p) {
    return hn::LoadU(d, p);
  }
  static float Value(float x) { return x; }
  static float Round(float x) { return x; }
};
struct Bf16Products {  // bf16: floats rounded to bf16, bf16 widened.
  // A bf16 row read as 32-bit words holds two values in each: the even one
  // widens by a shift, the odd one by a mask, two cheap integer operations
  // for two vectors of values where widening by halves costs a shuffle and
  // a shift per vector (the shuffles compete with the FMAs for port 5 on
  // Intel). The values come out as [even | odd], hence the split layout.
  // Measured (B=1, L=8192, E=A=512, H=8, Intel Xeon with AVX-512): a step
  // from 0.43 to 0.40 ms on 2 threads, 0.79 to 0.75 ms on one. One lane
  // (SCALAR) has no pairs.
  static constexpr bool kPairs = HWY_TARGET != HWY_SCALAR;
  template <class D, typename T>
  static HWY_INLINE hn::Vec<D> Load(D d, const T* HWY_RESTRICT p) {
    return LoadAsBf16(d, p);
  }
#if HWY_TARGET != HWY_SCALAR
  // 2 * Lanes(d) values from p: the even-indexed ones in *even, the odd in
  // *odd, as bf16 values (floats rounded, bf16 widened).
  template <class D>
  static HWY_INLINE void LoadPairs(D d, const uint16_t* HWY_RESTRICT p, hn::Vec<D>* even,
                                   hn::Vec<D>* odd) {
    const hn::RebindToUnsigned<D> du;
    const hn::Repartition<uint16_t, D> d16;
    const auto words = hn::BitCast(du, hn::LoadU(d16, p));
    *even = hn::BitCast(d, hn::ShiftLeft<16>(words));
    *odd = hn::BitCast(d, hn::And(words, hn::Set(du, 0xFFFF0000u)));
  }
  template <class D>
  static HWY_INLINE void LoadPairs(D d, const float* HWY_RESTRICT p, hn::Vec<D>* even,
                                   hn::Vec<D>* odd) {
    const auto lo = RoundVecToBf16(d, hn::LoadU(d, p));
    const auto hi = RoundVecToBf16(d, hn::LoadU(d, p + hn::Lanes(d)));
    *even = hn::ConcatEven(d, hi, lo);
    *odd = hn::ConcatOdd(d, hi, lo);
  }
#endif
  template <typename T>
  static float Value(T x) {
    return AsBf16Value(x);
  }
  static float Round(float x) { return ::mhsa::RoundToBf16(x); }
};

// The split layout of a row read by pairs: each whole block of 2 * N values
// (N = Lanes) holds its even-indexed values, then its odd ones; the values
// past the last whole block stay in place. SplitPairs puts a row in it,
// JoinPairs takes it back.
inline void SplitPairs(float* HWY_RESTRICT row, size_t dim, size_t lanes) {
  float block[2 * kDecodeQPad];
  for (size_t b = 0; b + 2 * lanes <= dim; b += 2 * lanes) {
    std::copy(row + b, row + b + 2 * lanes, block);
    for (size_t l = 0; l < lanes; ++l) {
      row[b + l] = block[2 * l];
      row[b + lanes + l] = block[2 * l + 1];
    }
  }
}
inline void JoinPairs(float* HWY_RESTRICT row, size_t dim, size_t lanes) {
  float block[2 * kDecodeQPad];
  for (size_t b = 0; b + 2 * lanes <= dim; b += 2 * lanes) {
    std::copy(row + b, row + b + 2 * lanes, block);
    for (size_t l = 0; l < lanes; ++l) {
      row[b + 2 * l] = block[l];
      row[b + 2 * l + 1] = block[lanes + l];
    }
  }
}

// dst[d] = q[d] * scale for query row i of group head `head`, q given as
// float or as bf16 (widened): the value both paths round to bf16.
inline void ScaledQueryRow(const GroupTask& t, size_t head, size_t i, float* HWY_RESTRICT dst) {
  const ptrdiff_t at =
      static_cast<ptrdiff_t>(head) * t.q_head + static_cast<ptrdiff_t>(i) * t.q_pos;
  if (t.q_bf16 != nullptr) {
    const uint16_t* q = t.q_bf16 + at;
    for (size_t d = 0; d < t.head_dim; ++d) dst[d] = Bf16ToFloat(q[d]) * t.scale;
  } else {
    const float* q = t.q + at;
    for (size_t d = 0; d < t.head_dim; ++d) dst[d] = q[d] * t.scale;
  }
}

// q * scale (from ScaledQueryRow) rounded as Products rounds it, in the
// layout Dot4Rows and Dot1 read.
template <class Products>
inline void RoundQueryRow(float* HWY_RESTRICT q, size_t dim) {
  for (size_t d = 0; d < dim; ++d) q[d] = Products::Round(q[d]);
  if (Products::kPairs) SplitPairs(q, dim, hn::Lanes(DF()));
}

#if HWY_TARGET != HWY_SCALAR
// Adds the 128-bit blocks of v by halves and stores the 4 lanes of the sum.
template <class D>
HWY_INLINE void StoreBlockSums(D d, hn::Vec<D> v, float* HWY_RESTRICT out) {
  if constexpr (hn::MaxLanes(D()) > 4) {
    const hn::Half<D> dh;
    StoreBlockSums(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)), out);
  } else {
    hn::StoreU(v, d, out);
  }
}
#endif

// Stores the sums of the lanes of s0..s3 in out[0..3]. Per 128-bit block,
// two rounds of interleaving add the four vectors' lanes pairwise into one
// vector [sum0, sum1, sum2, sum3], then the blocks are added by halves:
// about 10 operations for four sums, where four SumOfLanes take about 9
// each (the per-key reduction was a quarter of a decode step).
template <class D>
HWY_INLINE void SumsOfLanes4(D d, hn::Vec<D> s0, hn::Vec<D> s1, hn::Vec<D> s2, hn::Vec<D> s3,
                             float* HWY_RESTRICT out) {
#if HWY_TARGET == HWY_SCALAR  // One lane: nothing to add.
  out[0] = hn::GetLane(s0);
  out[1] = hn::GetLane(s1);
  out[2] = hn::GetLane(s2);
  out[3] = hn::GetLane(s3);
  (void)d;
#else
  // [a0+a2, b0+b2, a1+a3, b1+b3] and the same of c, d, per block; then the
  // 64-bit halves of those interleaved and added: [a, b, c, d] per block.
  const auto t01 = hn::Add(hn::InterleaveLower(d, s0, s1), hn::InterleaveUpper(d, s0, s1));
  const auto t23 = hn::Add(hn::InterleaveLower(d, s2, s3), hn::InterleaveUpper(d, s2, s3));
  const hn::Repartition<uint64_t, D> d64;
  const auto w01 = hn::BitCast(d64, t01), w23 = hn::BitCast(d64, t23);
  const auto sums = hn::Add(hn::BitCast(d, hn::InterleaveLower(d64, w01, w23)),
                            hn::BitCast(d, hn::InterleaveUpper(d64, w01, w23)));
  StoreBlockSums(d, sums, out);
#endif
}

// Query rows that share one read of a key or value vector (the rows of a
// grouped-query head's group): each vector of k or v is loaded, and for
// bf16 widened, once for all of them. The register tile is kShareRows x 4
// accumulators plus the rows' q vectors: 26 of 32 registers at 4 rows, 14
// of 16 at 2.
inline constexpr size_t kShareRows = kVectorRegisters >= 32 ? 4 : kVectorRegisters >= 16 ? 2 : 1;

// out[r * out_stride + i] = sum_d a_r[d] * b_i[d] for R query rows
// a_r = a + r * a_stride and the four key rows b_i = b + i * stride, b's
// values as Products reads them (bf16: float rounded, bf16 widened; each
// product of two bf16 values is exact, so only the float sums round, as in
// the kernels); a is padded with zeros to whole vectors, b is not. Per row
// and key one vector of sums over d, its lanes added by SumsOfLanes4, then
// the tail: the same sums in the same order for any R, so that a score does
// not depend on how many rows shared the read.
template <size_t R, class Products, typename T>
inline void Dot4Rows(const float* HWY_RESTRICT a, size_t a_stride, const T* HWY_RESTRICT b,
                     ptrdiff_t stride, size_t dim, float* HWY_RESTRICT out, size_t out_stride) {
  static_assert(R >= 1 && R <= kDecodeRows, "a group's rows");
  const DF d;
  const size_t N = hn::Lanes(d);
  VF s[R][4];
  for (size_t r = 0; r < R; ++r) {
    for (size_t i = 0; i < 4; ++i) s[r][i] = hn::Zero(d);
  }
  size_t x = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (Products::kPairs) {  // a in the split layout
    for (; x + 2 * N <= dim; x += 2 * N) {
      VF qe[R], qo[R];
      for (size_t r = 0; r < R; ++r) {
        qe[r] = hn::Load(d, a + r * a_stride + x);
        qo[r] = hn::Load(d, a + r * a_stride + x + N);
      }
      for (size_t i = 0; i < 4; ++i) {
        VF e, o;
        Products::LoadPairs(d, b + static_cast<ptrdiff_t>(i) * stride + x, &e, &o);
        for (size_t r = 0; r < R; ++r)
          s[r][i] = hn::MulAdd(qo[r], o, hn::MulAdd(qe[r], e, s[r][i]));
      }
    }
  }
#endif
  for (; x + N <= dim; x += N) {
    VF q[R];
    for (size_t r = 0; r < R; ++r) q[r] = hn::Load(d, a + r * a_stride + x);
    for (size_t i = 0; i < 4; ++i) {
      const VF kv = Products::Load(d, b + static_cast<ptrdiff_t>(i) * stride + x);
      for (size_t r = 0; r < R; ++r) s[r][i] = hn::MulAdd(q[r], kv, s[r][i]);
    }
  }
  // Apart from the tails, whose loops would keep the accumulators from being
  // unrolled into registers (GCC then stores them every iteration).
  for (size_t r = 0; r < R; ++r) {
    SumsOfLanes4(d, s[r][0], s[r][1], s[r][2], s[r][3], out + r * out_stride);
  }
  for (size_t r = 0; r < R; ++r) {
    float* o = out + r * out_stride;
    const float* ar = a + r * a_stride;
    for (size_t t = x; t < dim; ++t) {
      for (size_t i = 0; i < 4; ++i) {
        o[i] += ar[t] *
                Products::Value(b[static_cast<ptrdiff_t>(i) * stride + static_cast<ptrdiff_t>(t)]);
      }
    }
  }
}

// The same for one key: the same sums in the same order as its lane of
// Dot4Rows (the other three lanes are zeros), so that a key's score does
// not depend on whether its neighbours were computed with it.
template <class Products, typename T>
inline float Dot1(const float* HWY_RESTRICT a, const T* HWY_RESTRICT b, size_t dim) {
  const DF d;
  const size_t N = hn::Lanes(d);
  VF s = hn::Zero(d);
  size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (Products::kPairs) {
    for (; i + 2 * N <= dim; i += 2 * N) {
      VF e, o;
      Products::LoadPairs(d, b + i, &e, &o);
      s = hn::MulAdd(hn::Load(d, a + i + N), o, hn::MulAdd(hn::Load(d, a + i), e, s));
    }
  }
#endif
  for (; i + N <= dim; i += N) s = hn::MulAdd(hn::Load(d, a + i), Products::Load(d, b + i), s);
  HWY_ALIGN float sums[4];
  const VF zero = hn::Zero(d);
  SumsOfLanes4(d, s, zero, zero, zero, sums);
  float sum = sums[0];
  for (; i < dim; ++i) sum += a[i] * Products::Value(b[i]);
  return sum;
}

// For R rows r (acc_r = acc + r * acc_stride, p_r = p + r * p_stride):
// acc_r[0, kVectors * N) += sum_j p_r[j] * v_j[0, kVectors * N) over
// j < count, v_j = v + j * v_pos, each v vector read once for all rows, the
// accumulators in registers while every key adds to them. kPaired: v read by
// pairs, acc in the split layout (kVectors even).
template <size_t kVectors, bool kPaired, size_t R, class Products, typename T>
HWY_INLINE void AccumulateSlice(float* HWY_RESTRICT acc, size_t acc_stride,
                                const float* HWY_RESTRICT p, size_t p_stride,
                                const T* HWY_RESTRICT v, ptrdiff_t v_pos, size_t count) {
  const DF d;
  const size_t N = hn::Lanes(d);
  VF a[R][kVectors];
  for (size_t r = 0; r < R; ++r) {
    for (size_t u = 0; u < kVectors; ++u) a[r][u] = hn::LoadU(d, acc + r * acc_stride + u * N);
  }
  for (size_t j = 0; j < count; ++j) {
    VF pj[R];
    for (size_t r = 0; r < R; ++r) pj[r] = hn::Set(d, p[r * p_stride + j]);
    const T* HWY_RESTRICT row = v + static_cast<ptrdiff_t>(j) * v_pos;
    if constexpr (kPaired) {
      for (size_t u = 0; u < kVectors; u += 2) {
        VF e, o;
        Products::LoadPairs(d, row + u * N, &e, &o);
        for (size_t r = 0; r < R; ++r) {
          a[r][u] = hn::MulAdd(pj[r], e, a[r][u]);
          a[r][u + 1] = hn::MulAdd(pj[r], o, a[r][u + 1]);
        }
      }
    } else {
      for (size_t u = 0; u < kVectors; ++u) {
        const VF x = Products::Load(d, row + u * N);
        for (size_t r = 0; r < R; ++r) a[r][u] = hn::MulAdd(pj[r], x, a[r][u]);
      }
    }
  }
  for (size_t r = 0; r < R; ++r) {
    for (size_t u = 0; u < kVectors; ++u) hn::StoreU(a[r][u], d, acc + r * acc_stride + u * N);
  }
}

// For R rows: acc_r[d] += sum_j p_r[j] * v_j[d] over j < count, in key
// order, with v_j = v + j * v_pos read as Products reads it. Each slice of 4
// vectors of acc stays in registers while every key adds to it: adding one
// key at a time to acc in memory chains each key's store to the next key's
// load (store forwarding plus FMA latency, about 10 cycles per key), which
// measured 33% of a decode step. The sums are the same, in the same order,
// for any R.
template <size_t R, class Products, typename T>
inline void Accumulate(float* HWY_RESTRICT acc, size_t acc_stride, const float* HWY_RESTRICT p,
                       size_t p_stride, const T* HWY_RESTRICT v, ptrdiff_t v_pos, size_t count,
                       size_t dim) {
  const size_t N = hn::Lanes(DF());
  size_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  if constexpr (Products::kPairs) {  // acc in the split layout
    for (; i + 4 * N <= dim; i += 4 * N) {
      AccumulateSlice<4, true, R, Products>(acc + i, acc_stride, p, p_stride, v + i, v_pos, count);
    }
    for (; i + 2 * N <= dim; i += 2 * N) {
      AccumulateSlice<2, true, R, Products>(acc + i, acc_stride, p, p_stride, v + i, v_pos, count);
    }
  }
#endif
  for (; i + 4 * N <= dim; i += 4 * N) {
    AccumulateSlice<4, false, R, Products>(acc + i, acc_stride, p, p_stride, v + i, v_pos, count);
  }
  for (; i + N <= dim; i += N) {
    AccumulateSlice<1, false, R, Products>(acc + i, acc_stride, p, p_stride, v + i, v_pos, count);
  }
  for (size_t r = 0; r < R; ++r) {
    for (size_t x = i; x < dim; ++x) {
      float a = acc[r * acc_stride + x];
      for (size_t j = 0; j < count; ++j) {
        a += p[r * p_stride + j] *
             Products::Value(v[static_cast<ptrdiff_t>(j) * v_pos + static_cast<ptrdiff_t>(x)]);
      }
      acc[r * acc_stride + x] = a;
    }
  }
}

// Rows [r, r + R) share reads when R fits the register tile and every one of
// them passes `ok`. Returns the largest such R of 4, 2, 1 (1 when row r
// alone passes, 0 when it does not).
template <class Ok>
inline size_t SharedRows(size_t r, size_t rows, const Ok& ok) {
  size_t n = 0;
  while (n < kShareRows && r + n < rows && ok(r + n)) ++n;
  return n >= 4 ? 4 : n >= 2 ? 2 : n;
}

// Calls f(std::integral_constant<size_t, R>()) with R = n, a count of 1 or
// more that SharedRows returned, so that the row count becomes a template
// argument (as WithTileRows does for the GEMM's tile heights); counts above
// kShareRows are never instantiated.
template <class F>
HWY_INLINE void WithSharedRows(size_t n, const F& f) {
  using std::integral_constant;
  if constexpr (kShareRows >= 4) {
    if (n == 4) return f(integral_constant<size_t, 4>());
  }
  if constexpr (kShareRows >= 2) {
    if (n == 2) return f(integral_constant<size_t, 2>());
  }
  f(integral_constant<size_t, 1>());
}

// The blocks of keys [key_begin, key_end) of one chunk for every row of the
// group, into the accumulators s.acc and running softmaxes `state`, row r
// seeing keys below limit[r]; blocks are prefetched one ahead while they are
// below prefetch_end.
template <class Products, typename T>
void DecodeBlocks(const GroupTask& t, const T* k, const T* v, const DecodeScratch& s,
                  size_t key_begin, size_t key_end, size_t prefetch_end, OnlineRow* state,
                  const size_t* limit) {
  const size_t dim = t.head_dim, rows = t.group * t.q_len;
  for (size_t j0 = key_begin; j0 < key_end; j0 += kDecodeBlock) {
    const size_t keys = std::min(kDecodeBlock, key_end - j0);
    // Each key row is read once and used by every query row that sees it,
    // four keys at a time (their lane sums share one reduction).
    for (size_t j = 0; j < keys; j += 4) {
      const T* key = k + static_cast<ptrdiff_t>(j0 + j) * t.k_pos;
      // The same four keys of the next block, k and v, requested now: spread
      // over the block's work (all at the block's start they stall on the
      // line fill buffers, and measured slower than none at L=8192). One
      // thread, E=A=512, H=8: a step at L=8192 from 0.87 to 0.80 ms, at
      // L=16384 from 3.2 to 1.75 ms, at L=32768 from 7.6 to 5.1 ms.
      for (size_t i = j0 + kDecodeBlock + j; i < std::min(prefetch_end, j0 + kDecodeBlock + j + 4);
           ++i) {
        const char* kr = reinterpret_cast<const char*>(k + static_cast<ptrdiff_t>(i) * t.k_pos);
        const char* vr = reinterpret_cast<const char*>(v + static_cast<ptrdiff_t>(i) * t.v_pos);
        for (size_t b = 0; b < dim * sizeof(T); b += 64) {
          __builtin_prefetch(kr + b);
          __builtin_prefetch(vr + b);
        }
      }
      // The rows that see all four keys share their reads; a row that sees
      // only some of them takes them one by one.
      for (size_t r = 0; r < rows;) {
        const size_t n =
            SharedRows(r, rows, [&](size_t x) { return j + 4 <= keys && j0 + j + 4 <= limit[x]; });
        float* scores = s.scores + r * kDecodeBlock + j;
        const float* q = s.q + r * s.q_stride;
        if (n == 0) {
          for (size_t i = 0; i < 4 && j + i < keys && j0 + j + i < limit[r]; ++i) {
            scores[i] = Dot1<Products>(q, key + static_cast<ptrdiff_t>(i) * t.k_pos, dim);
          }
        } else {
          WithSharedRows(n, [&](auto shared) {
            Dot4Rows<decltype(shared)::value, Products>(q, s.q_stride, key, t.k_pos, dim, scores,
                                                        kDecodeBlock);
          });
        }
        r += std::max<size_t>(n, 1);
      }
    }
    size_t visible[kDecodeRows];
    for (size_t r = 0; r < rows; ++r) {
      visible[r] = limit[r] <= j0 ? 0 : std::min(keys, limit[r] - j0);
      float* p = s.scores + r * kDecodeBlock;
      const float correction = OnlineSoftmaxUpdate(p, visible[r], keys, &state[r]);
      if (correction != 1.0f) ScaleRow(s.acc + r * dim, dim, correction);
      // Only visible keys: a NaN in a later value row cannot leak back.
      for (size_t j = 0; j < visible[r]; ++j) p[j] = Products::Round(p[j]);
    }
    // Rows that see the same keys share the reads of v.
    const T* vb = v + static_cast<ptrdiff_t>(j0) * t.v_pos;
    for (size_t r = 0; r < rows;) {
      if (state[r].bad) {
        ++r;
        continue;
      }
      const size_t n =
          SharedRows(r, rows, [&](size_t x) { return !state[x].bad && visible[x] == visible[r]; });
      float* acc = s.acc + r * dim;
      const float* p = s.scores + r * kDecodeBlock;
      WithSharedRows(n, [&](auto shared) {
        Accumulate<decltype(shared)::value, Products>(acc, dim, p, kDecodeBlock, vb, t.v_pos,
                                                      visible[r], dim);
      });
      r += n;
    }
  }
}

// The decode path for keys [key_begin, key_end) and the group's rows (query
// head r / q_len, position r % q_len), by chunks of kDecodeChunk keys
// (key_begin is a multiple of it): each chunk's unnormalised partial
// results (see PartialStride) at partial + c * kDecodeRows *
// PartialStride(head_dim) for the task's chunk c, or, when partial is null
// (one chunk holds every key), the finished rows (EndDecodeChunk). A task of
// several chunks prepares q once and prefetches across the chunks' borders;
// each chunk's sums are those of a task of its own. k and v are T, read as Products reads them; q *
// scale and p are rounded as Products rounds them (bf16 products: as the flash path's packing
// rounds them, so both paths round the same intermediates).
template <class Products, typename T>
void DecodeRows(const GroupTask& t, const T* k, const T* v, size_t key_begin, size_t key_end,
                float* partial, void* scratch) {
  const size_t dim = t.head_dim, rows = t.group * t.q_len;
  Bump bump(scratch);
  const DecodeScratch s(bump, dim, rows);
  OnlineRow state[kDecodeRows];
  size_t limit[kDecodeRows] = {};
  for (size_t r = 0; r < rows; ++r) {
    float* qs = s.q + r * s.q_stride;
    ScaledQueryRow(t, r / t.q_len, r % t.q_len, qs);
    RoundQueryRow<Products>(qs, dim);
    std::fill(qs + dim, qs + s.q_stride, 0.0f);
  }
  // Keys any row sees: the prefetches stop there.
  const size_t prefetch_end = std::min(key_end, t.Limit(t.q_len - 1));
  // At least one chunk: a sequence with no keys still gets its (zero) rows.
  size_t c0 = key_begin;
  do {
    const size_t c1 = std::min(key_end, c0 + kDecodeChunk);
    for (size_t r = 0; r < rows; ++r) {
      std::fill(s.acc + r * dim, s.acc + (r + 1) * dim, 0.0f);
      state[r] = OnlineRow();
      limit[r] = std::min(t.Limit(r % t.q_len), c1);
    }
    DecodeBlocks<Products>(t, k, v, s, c0, c1, prefetch_end, state, limit);
    if (Products::kPairs) {
      for (size_t r = 0; r < rows; ++r) JoinPairs(s.acc + r * dim, dim, hn::Lanes(DF()));
    }
    float* chunk_partial = partial == nullptr ? nullptr
                                              : partial + (c0 - key_begin) / kDecodeChunk *
                                                              kDecodeRows * PartialStride(dim);
    EndDecodeChunk(t, s.acc, state, limit, rows, chunk_partial);
    c0 = c1;
  } while (c0 < key_end);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#endif  // MHSA_SRC_DECODE_INL_H_
