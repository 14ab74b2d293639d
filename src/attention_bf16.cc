// Attention with bf16 products (Precision::kBFloat16) for each SIMD target,
// and the public Attention on bf16 tensors. The two paths of attention.cc,
// with its task split and driver (RunAttention picks these functions for a
// bf16 problem), its key blocks and its online softmax in float32; what
// differs is what is rounded to bf16 before a product:
//   q * scale (the scale folded in first, as the float path does), k, v,
//   and p = exp(s - m) before p·v. The running sum l adds p before rounding.
//  - Flash (prefill): q·kᵀ and p·v run on the call's Bf16Kernel (AMX tiles,
//    vdpbf16ps, BFDOT, or the target's widening-FMA kernel), q and p packed
//    (rounded) into its A layout, k and v packed once per task into the
//    shared B layout. Diagonal tiles stop each row at its own last key, as
//    the kernels' `diag` promises, so a NaN in a future value cannot leak.
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

#include "attention.h"
#include "bf16-inl.h"
#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Writes what a finished query row gives, as FinishRow in attention.cc
// does for float32 (a copy while the float path's tuning owns that file;
// one home for both once it lands): out = acc / l, NaN for a row that saw
// a NaN or +inf score or only -inf ones, zeros for a row that sees no key.
inline void FinishBf16Row(const float* HWY_RESTRICT acc, const OnlineRow& state, bool sees_keys,
                          size_t dim, float* HWY_RESTRICT dst, float* lse) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  if (!sees_keys) {
    FillRow(dst, dim, 0.0f);
    if (lse != nullptr) *lse = -kInf;
    return;
  }
  if (state.bad || state.max == -kInf) {
    FillRow(dst, dim, kNaN);
    if (lse != nullptr) *lse = state.bad ? kNaN : -kInf;
    return;
  }
  const float inverse = 1.0f / state.sum;
  for (size_t d = 0; d < dim; ++d) dst[d] = acc[d] * inverse;
  if (lse != nullptr) *lse = LogSumExp(state.max, state.sum);
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

// ------------------------------------------------------------------- flash

// One block of `rows` query rows (first row i0) of query head `head` in the
// group, against keys packed in s.k_pack / s.v_pack (keys_packed of them).
// The steps of FlashBlock (attention.cc), on the bf16 kernel.
void FlashBlockBf16(const GroupTask& t, size_t head, size_t i0, size_t rows, size_t keys_packed,
                    const FlashBf16Scratch& s) {
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
    FinishBf16Row(s.acc + r * dim, state[r], limit[r] > 0, dim,
                  out + static_cast<ptrdiff_t>(i0 + r) * t.out_pos, t.Lse(head, i0 + r));
  }
}

// The flash path of one group task: query blocks [block_begin, block_end)
// and, unless it is kNoBlock, block `mirror` (blocks of kBf16QueryBlock),
// of every query head in the group; k and v are packed once for all.
void FlashGroupBf16(const GroupTask& t, size_t block_begin, size_t block_end, size_t mirror,
                    void* scratch) {
  const auto keys_for = [&](size_t block) {
    return t.Limit(std::min(t.q_len, (block + 1) * kBf16QueryBlock) - 1);
  };
  size_t keys = block_end > block_begin ? keys_for(block_end - 1) : 0;
  if (mirror != kNoBlock) keys = std::max(keys, keys_for(mirror));
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
  for (size_t head = 0; head < t.group; ++head) {
    const auto run = [&](size_t block) {
      const size_t i0 = block * kBf16QueryBlock;
      FlashBlockBf16(t, head, i0, std::min(kBf16QueryBlock, t.q_len - i0), keys, s);
    };
    for (size_t block = block_begin; block < block_end; ++block) run(block);
    if (mirror != kNoBlock) run(mirror);
  }
}

// ------------------------------------------------------------------ decode

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

// out[i] = sum_d a[d] * bf16(b_i[d]) for the four rows b_i = b + i * stride;
// a holds bf16 values as floats, padded with zeros to whole vectors; b (float,
// rounded here, or bf16) is not padded. Each product is exact, so only the
// float sums round, as in the kernels: per key one vector of sums over d,
// its lanes added by SumsOfLanes4, then the tail.
template <typename T>
inline void Dot4Bf16(const float* HWY_RESTRICT a, const T* HWY_RESTRICT b, ptrdiff_t stride,
                     size_t dim, float* HWY_RESTRICT out) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const T* HWY_RESTRICT b1 = b + stride;
  const T* HWY_RESTRICT b2 = b + 2 * stride;
  const T* HWY_RESTRICT b3 = b + 3 * stride;
  VF s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= dim; i += N) {
    const VF q = hn::Load(d, a + i);
    s0 = hn::MulAdd(q, LoadAsBf16(d, b + i), s0);
    s1 = hn::MulAdd(q, LoadAsBf16(d, b1 + i), s1);
    s2 = hn::MulAdd(q, LoadAsBf16(d, b2 + i), s2);
    s3 = hn::MulAdd(q, LoadAsBf16(d, b3 + i), s3);
  }
  SumsOfLanes4(d, s0, s1, s2, s3, out);
  for (; i < dim; ++i) {
    out[0] += a[i] * AsBf16Value(b[i]);
    out[1] += a[i] * AsBf16Value(b1[i]);
    out[2] += a[i] * AsBf16Value(b2[i]);
    out[3] += a[i] * AsBf16Value(b3[i]);
  }
}

// The same for one row: the same sums in the same order as its lane of
// Dot4Bf16 (the other three lanes are zeros), so that a key's score does
// not depend on whether its neighbours were computed with it.
template <typename T>
inline float DotBf16(const float* HWY_RESTRICT a, const T* HWY_RESTRICT b, size_t dim) {
  const DF d;
  const size_t N = hn::Lanes(d);
  VF s = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= dim; i += N) s = hn::MulAdd(hn::Load(d, a + i), LoadAsBf16(d, b + i), s);
  HWY_ALIGN float sums[4];
  const VF zero = hn::Zero(d);
  SumsOfLanes4(d, s, zero, zero, zero, sums);
  float sum = sums[0];
  for (; i < dim; ++i) sum += a[i] * AsBf16Value(b[i]);
  return sum;
}

// acc[d] += sum_j p[j] * bf16(v_j[d]) over j < count, in key order, with
// v_j = v + j * v_pos and p[j] bf16 values. Each slice of 4 vectors of acc
// stays in registers while every key adds to it: adding one key at a time
// to acc in memory chains each key's store to the next key's load (store
// forwarding plus FMA latency, about 10 cycles per key), which measured
// 33% of a decode step. The sums are the same, in the same order.
template <typename T>
inline void AccumulateBf16(float* HWY_RESTRICT acc, const float* HWY_RESTRICT p,
                           const T* HWY_RESTRICT v, ptrdiff_t v_pos, size_t count, size_t dim) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + 4 * N <= dim; i += 4 * N) {
    VF a0 = hn::LoadU(d, acc + i), a1 = hn::LoadU(d, acc + i + N),
       a2 = hn::LoadU(d, acc + i + 2 * N), a3 = hn::LoadU(d, acc + i + 3 * N);
    for (size_t j = 0; j < count; ++j) {
      const VF pj = hn::Set(d, p[j]);
      const T* HWY_RESTRICT row = v + static_cast<ptrdiff_t>(j) * v_pos + i;
      a0 = hn::MulAdd(pj, LoadAsBf16(d, row), a0);
      a1 = hn::MulAdd(pj, LoadAsBf16(d, row + N), a1);
      a2 = hn::MulAdd(pj, LoadAsBf16(d, row + 2 * N), a2);
      a3 = hn::MulAdd(pj, LoadAsBf16(d, row + 3 * N), a3);
    }
    hn::StoreU(a0, d, acc + i);
    hn::StoreU(a1, d, acc + i + N);
    hn::StoreU(a2, d, acc + i + 2 * N);
    hn::StoreU(a3, d, acc + i + 3 * N);
  }
  for (; i + N <= dim; i += N) {
    VF a = hn::LoadU(d, acc + i);
    for (size_t j = 0; j < count; ++j) {
      a = hn::MulAdd(hn::Set(d, p[j]), LoadAsBf16(d, v + static_cast<ptrdiff_t>(j) * v_pos + i), a);
    }
    hn::StoreU(a, d, acc + i);
  }
  for (; i < dim; ++i) {
    float a = acc[i];
    for (size_t j = 0; j < count; ++j) {
      a += p[j] * AsBf16Value(v[static_cast<ptrdiff_t>(j) * v_pos + static_cast<ptrdiff_t>(i)]);
    }
    acc[i] = a;
  }
}

// DecodeChunk (attention.cc) with bf16 products: keys [key_begin, key_end)
// for the group's rows (query head r / q_len, position r % q_len) as
// unnormalised partial results (see PartialStride). k and v are T.
template <typename T>
void DecodeChunkBf16Impl(const GroupTask& t, const T* k, const T* v, size_t key_begin,
                         size_t key_end, float* partial, void* scratch) {
  const size_t dim = t.head_dim, rows = t.group * t.q_len;
  Bump bump(scratch);
  const DecodeScratch s(bump, dim, rows);
  OnlineRow state[kDecodeRows];
  size_t limit[kDecodeRows];
  for (size_t r = 0; r < rows; ++r) {
    float* qs = s.q + r * s.q_stride;
    ScaledQueryRow(t, r / t.q_len, r % t.q_len, qs);
    for (size_t d = 0; d < dim; ++d) qs[d] = RoundToBf16(qs[d]);
    std::fill(qs + dim, qs + s.q_stride, 0.0f);
    std::fill(s.acc + r * dim, s.acc + (r + 1) * dim, 0.0f);
    state[r] = OnlineRow();
    limit[r] = std::min(t.Limit(r % t.q_len), key_end);
  }
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
      for (size_t i = j0 + kDecodeBlock + j; i < std::min(key_end, j0 + kDecodeBlock + j + 4);
           ++i) {
        const char* kr = reinterpret_cast<const char*>(k + static_cast<ptrdiff_t>(i) * t.k_pos);
        const char* vr = reinterpret_cast<const char*>(v + static_cast<ptrdiff_t>(i) * t.v_pos);
        for (size_t b = 0; b < dim * sizeof(T); b += 64) {
          __builtin_prefetch(kr + b);
          __builtin_prefetch(vr + b);
        }
      }
      for (size_t r = 0; r < rows; ++r) {
        float* scores = s.scores + r * kDecodeBlock + j;
        if (j + 4 <= keys && j0 + j + 4 <= limit[r]) {
          Dot4Bf16(s.q + r * s.q_stride, key, t.k_pos, dim, scores);
          continue;
        }
        for (size_t i = 0; i < 4 && j + i < keys && j0 + j + i < limit[r]; ++i) {
          scores[i] = DotBf16(s.q + r * s.q_stride, key + static_cast<ptrdiff_t>(i) * t.k_pos, dim);
        }
      }
    }
    for (size_t r = 0; r < rows; ++r) {
      const size_t visible = limit[r] <= j0 ? 0 : std::min(keys, limit[r] - j0);
      float* p = s.scores + r * kDecodeBlock;
      const float correction = OnlineSoftmaxUpdate(p, visible, keys, &state[r]);
      float* acc = s.acc + r * dim;
      if (correction != 1.0f) ScaleRow(acc, dim, correction);
      if (state[r].bad) continue;
      // Only visible keys: a NaN in a later value row cannot leak back. p is
      // rounded here as the flash path's packing rounds it.
      for (size_t j = 0; j < visible; ++j) p[j] = RoundToBf16(p[j]);
      AccumulateBf16(acc, p, v + static_cast<ptrdiff_t>(j0) * t.v_pos, t.v_pos, visible, dim);
    }
  }
  const size_t stride = PartialStride(dim);
  for (size_t r = 0; r < rows; ++r) {
    float* dst = partial + r * stride;
    std::copy(s.acc + r * dim, s.acc + (r + 1) * dim, dst);
    dst[dim] = state[r].bad ? std::numeric_limits<float>::quiet_NaN() : state[r].max;
    dst[dim + 1] = state[r].sum;
  }
}

void DecodeChunkBf16(const GroupTask& t, size_t key_begin, size_t key_end, float* partial,
                     void* scratch) {
  if (t.k_bf16 != nullptr) {
    DecodeChunkBf16Impl(t, t.k_bf16, t.v_bf16, key_begin, key_end, partial, scratch);
  } else {
    DecodeChunkBf16Impl(t, t.k, t.v, key_begin, key_end, partial, scratch);
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
    for (size_t d = 0; d < dim; ++d) qs[d] = RoundToBf16(qs[d]);
    float* row = probabilities + i * kv_len_padded;
    const size_t limit = t.Limit(i);
    for (size_t j = 0; j < limit; ++j) {
      row[j] = DotBf16(qs, k + static_cast<ptrdiff_t>(j) * t.k_pos, dim);
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
  return AttentionPath{&MHSA_DISPATCH(FlashGroupBf16), &MHSA_DISPATCH(DecodeChunkBf16),
                       &MHSA_DISPATCH(ProbabilityRowsBf16), kBf16QueryBlock, ChosenBf16Kernel()};
}

static_assert(sizeof(bf16) == sizeof(uint16_t) && alignof(bf16) == alignof(uint16_t),
              "mhsa::bf16 is its bit pattern");

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
