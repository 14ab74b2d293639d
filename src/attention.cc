// Attention for each SIMD target, and its OpenMP driver.
//
// Two paths, chosen per sequence from its shape alone:
//  - Flash (prefill): a block of kQueryBlock query rows walks the key blocks
//    it can see, keeping each row's running softmax and its unnormalised
//    output; q·kᵀ runs on the GEMM's k loop with the softmax of each tile
//    done in registers (flash_tile-inl.h), p·v on the GEMM's microkernel,
//    k and v packed once per task. Blocks wholly above
//    the causal diagonal are never visited, and diagonal tiles stop each row
//    at its own last key instead of multiplying later values by zero.
//  - Decode: when a K/V head's group has at most kDecodeRows query rows,
//    each key and value row is read once, in place, and used by every row
//    of the group (matrix-vector products); keys are split into fixed
//    chunks whose partial softmaxes are merged through their log-sum-exp.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cmath>
#include <limits>

#include "attention-inl.h"
#include "attention.h"
#include "bf16-inl.h"
#include "decode-inl.h"
#include "flash_tile-inl.h"
#include "gemm-inl.h"
#include "hwy/highway.h"
#include "prefetch.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// Whether the n values at x are all finite (no NaN, no inf). x - x is +0
// for every finite x and NaN for inf and NaN, so the OR of its bits is zero
// exactly when all are finite. Four ORs in flight: with one, each vector
// waited for the last (GCC 12 adds a register move to the chain), and the
// check took a sixth of the packing of k and v at T=128 (Zen 5).
inline bool AllFinite(const float* HWY_RESTRICT x, size_t n) {
  const DF d;
  const hn::RebindToUnsigned<DF> du;
  const size_t N = hn::Lanes(d);
  using VU = hn::Vec<decltype(du)>;
  const auto bits = [&](size_t i) {
    const VF v = hn::LoadU(d, x + i);
    return hn::BitCast(du, hn::Sub(v, v));
  };
  VU b0 = hn::Zero(du), b1 = b0, b2 = b0, b3 = b0;
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    b0 = hn::Or(b0, bits(i));
    b1 = hn::Or(b1, bits(i + N));
    b2 = hn::Or(b2, bits(i + 2 * N));
    b3 = hn::Or(b3, bits(i + 3 * N));
  }
  for (; i + N <= n; i += N) b0 = hn::Or(b0, bits(i));
  const VU all_bits = hn::Or(hn::Or(b0, b1), hn::Or(b2, b3));
  bool all = hn::AllTrue(du, hn::Eq(all_bits, hn::Zero(du)));
  for (; i < n; ++i) all = all && std::isfinite(x[i]);
  return all;
}

// One block of `rows` query rows (first row i0) of query head `head` in the
// group, against keys packed in s.k_pack / s.v_pack (keys_packed of them).
// kBf16: the bf16 path's numbers on the float kernels (FlashGroupBf16Values
// below): q * scale and p rounded to bf16, k and v packed as bf16 values.
// v_finite: every packed value is finite, so that p·v may run each tile to
// its last row's keys unmasked (TileProduct's tile_limit): the p of a key
// a row does not see is 0 in every panel the tile's last row sees.
template <bool kBf16>
void FlashBlock(const GroupTask& t, size_t head, size_t i0, size_t rows, size_t keys_packed,
                bool v_finite, const FlashScratch& s) {
  if (rows == 0) return;  // Never asked for; the limits below need a row.
  const size_t dim = t.head_dim;
  if (kBf16 && t.q_bf16 != nullptr) {
    // q * scale staged in acc before it is cleared, then packed and rounded.
    for (size_t r = 0; r < rows; ++r) ScaledQueryRow(t, head, i0 + r, s.acc + r * dim);
    PackA(s.acc, static_cast<ptrdiff_t>(dim), 1, rows, dim, 1.0f, s.q_pack);
  } else {
    const float* q = t.q + static_cast<ptrdiff_t>(head) * t.q_head;
    // The scale is folded into q once here, sparing a pass over every score.
    PackA(q + static_cast<ptrdiff_t>(i0) * t.q_pos, t.q_pos, 1, rows, dim, t.scale, s.q_pack);
  }
  if constexpr (kBf16) {
    // q * scale rounded, as the bf16 kernels' packing rounds it: PackA's
    // whole tiles, then the last rows' tile (padding rows are zero).
    const size_t full = rows / kMR * kMR;
    RoundToBf16InPlace(s.q_pack, (full + (rows > full ? TileRows(rows - full) : 0)) * dim);
  }
  std::fill(s.acc, s.acc + rows * dim, 0.0f);
  // Per row of the block, padded with rows that see nothing to whole tiles.
  OnlineRow state[kQueryBlock];
  size_t limit[kQueryBlock], visible[kQueryBlock];
  HWY_ALIGN float sums[kQueryBlock * kLanes] = {};
  float correction[kQueryBlock];
  const LazyRows lazy{state, sums, correction};
  for (size_t r = 0; r < kQueryBlock; ++r) limit[r] = r < rows ? t.Limit(i0 + r) : 0;
  const size_t key_end = limit[rows - 1];  // Limits grow with the row.
  float* out = t.out + static_cast<ptrdiff_t>(head) * t.out_head;
  for (size_t j0 = 0; j0 < key_end; j0 += kKeyBlock) {
    const size_t keys = std::min(kKeyBlock, key_end - j0);
    // The output rows are asked for (for writing) before the last key block,
    // so that their misses overlap its products instead of stalling
    // FinishRow's stores: B=32 T=64 1.05x, B=8 T=128 E=768 1.04x, B=2
    // T=1024 1.02x (2 threads, Xeon).
    if (j0 + kKeyBlock >= key_end) {
      PrefetchRowsForWrite<kFamily == Family::kAvx512>(out + static_cast<ptrdiff_t>(i0) * t.out_pos,
                                                       rows, t.out_pos, dim);
    }
    for (size_t r = 0; r < kQueryBlock; ++r) {
      visible[r] = limit[r] <= j0 ? 0 : std::min(keys, limit[r] - j0);
      correction[r] = 1.0f;
    }
    // p = softmax numerators of q_block · k_blockᵀ: [rows][keys], row
    // stride kKeyBlock. Key panels are kPanel wide and j0 a multiple of kPanel.
    ScoreProduct<kBf16>(s.q_pack, rows, s.k_pack + j0 * dim, dim, keys, visible, j0 == 0, s.scores,
                        lazy);
    for (size_t r = 0; r < rows; ++r) {
      if (correction[r] != 1.0f) ScaleRow(s.acc + r * dim, dim, correction[r]);
    }
    // acc += p · v_block, each row stopping at its own last key (PvDiag).
    // p is read in place, row-major with the constant stride kKeyBlock;
    // rows past `rows` are read, never stored.
    TileProduct<kKeyBlock>(s.scores, rows, s.v_pack + j0 * kPanel, keys_packed, dim, keys, s.acc,
                           dim, 1.0f, t.PvDiag(i0, j0), 0, v_finite);
  }
  for (size_t r = 0; r < rows; ++r) {
    state[r].sum = lazy.RowSum(r);
    FinishRow(s.acc + r * dim, state[r], limit[r] > 0, dim,
              out + static_cast<ptrdiff_t>(i0 + r) * t.out_pos, t.Lse(head, i0 + r));
  }
}

// The flash path of one group task: query blocks [block_begin, block_end)
// and, unless it is kNoBlock, block `mirror`, of every query head in the
// group; k and v are packed once for all of them.

template <bool kBf16>
void FlashGroupImpl(const GroupTask& t, size_t block_begin, size_t block_end, size_t mirror,
                    void* scratch) {
  const FlashBlocks blocks{kQueryBlock, block_begin, block_end, mirror};
  const size_t keys = blocks.Keys(t);
  Bump bump(scratch);
  const FlashScratch s(bump, t.head_dim, keys);
  // One pass over the packed v: a NaN or inf anywhere keeps p·v's per-row
  // limits, so that it cannot reach a row that does not see its key.
  bool v_finite = true;
  const size_t v_count = RoundUp(t.head_dim, kPanel) * keys;
  if (keys > 0) {
    if (kBf16 && t.k_bf16 != nullptr) {
      // k a panel of keys at a time, widened into q_pack (free until the
      // first block; kQueryBlock >= kPanel rows), then packed as floats.
      static_assert(kQueryBlock >= kPanel, "q_pack holds a panel of keys");
      for (size_t j0 = 0; j0 < keys; j0 += kPanel) {
        const size_t n = std::min(kPanel, keys - j0);
        WidenRows(t.k_bf16 + static_cast<ptrdiff_t>(j0) * t.k_pos, t.k_pos, n, t.head_dim,
                  s.q_pack);
        PackPanels<kPanel>(s.q_pack, static_cast<ptrdiff_t>(t.head_dim), 1, n, t.head_dim, 1.0f,
                           s.k_pack + j0 * t.head_dim);
      }
      WidenColsToPanels<kPanel>(t.v_bf16, t.v_pos, t.head_dim, keys, s.v_pack);
      v_finite = AllFinite(s.v_pack, v_count);
    } else {
      // v first, checked while it is in L1 (packed after k, it was half in
      // L2 by the check); then k, which the first score tiles read.
      PackPanels<kPanel>(t.v, 1, t.v_pos, t.head_dim, keys, 1.0f, s.v_pack);
      if (kBf16) RoundToBf16InPlace(s.v_pack, v_count);
      v_finite = AllFinite(s.v_pack, v_count);
      PackPanels<kPanel>(t.k, t.k_pos, 1, keys, t.head_dim, 1.0f, s.k_pack);
      if (kBf16) RoundToBf16InPlace(s.k_pack, RoundUp(keys, kPanel) * t.head_dim);
    }
  }
  blocks.ForEach(t, [&](size_t head, size_t i0, size_t rows) {
    FlashBlock<kBf16>(t, head, i0, rows, keys, v_finite, s);
  });
}

void FlashGroup(const GroupTask& t, size_t block_begin, size_t block_end, size_t mirror,
                void* scratch) {
  FlashGroupImpl<false>(t, block_begin, block_end, mirror, scratch);
}

// The bf16 path's flash (prefill) on the float kernels, for targets whose
// bf16 kernel widens (no bf16 instructions): there a bf16 product is a float
// FMA of widened values anyway, and the float path's tile, with its softmax
// in registers, is faster than the bf16 path's passes over the score block.
// It rounds what the bf16 path rounds (q * scale, k, v, and p before p·v;
// the sums add p unrounded), so each product is exact in float as there;
// only the order of the sums differs.
void FlashGroupBf16Values(const GroupTask& t, size_t block_begin, size_t block_end, size_t mirror,
                          void* scratch) {
  FlashGroupImpl<true>(t, block_begin, block_end, mirror, scratch);
}

// The decode path with float32 products (decode-inl.h).
void DecodeChunk(const GroupTask& t, size_t key_begin, size_t key_end, float* partial,
                 void* scratch) {
  DecodeRows<ExactProducts>(t, t.k, t.v, key_begin, key_end, partial, scratch);
}

// Rows [row_begin, row_end) of query head `head` in the group: each row's
// scores recomputed and softmaxed on their own, as the standalone softmax
// does (so that p is as accurate as a plain softmax of the same scores),
// 0 at masked keys up to kv_len_padded. `probabilities` is that head's row 0.
void ProbabilityRows(const GroupTask& t, size_t head, size_t row_begin, size_t row_end,
                     float* probabilities, size_t kv_len_padded, void* scratch) {
  const size_t dim = t.head_dim;
  float* qs = static_cast<float*>(scratch);
  const size_t q_stride = RoundUp(dim, kDecodeQPad);
  std::fill(qs, qs + q_stride, 0.0f);
  for (size_t i = row_begin; i < row_end; ++i) {
    const float* q =
        t.q + static_cast<ptrdiff_t>(head) * t.q_head + static_cast<ptrdiff_t>(i) * t.q_pos;
    for (size_t e = 0; e < dim; ++e) qs[e] = q[e] * t.scale;
    float* row = probabilities + i * kv_len_padded;
    const size_t limit = t.Limit(i);
    for (size_t j = 0; j < limit; ++j) {
      row[j] = Dot1<ExactProducts>(qs, t.k + static_cast<ptrdiff_t>(j) * t.k_pos, dim);
    }
    CausalSoftmaxRow(row, limit, kv_len_padded, 1.0f);
  }
}

int64_t AttentionTargetId() { return HWY_TARGET; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <stdexcept>
#include <string>

#include "checks.h"
#include "dispatch.h"
#include "parallel.h"

namespace mhsa {

HWY_EXPORT(FlashGroup);
HWY_EXPORT(FlashGroupBf16Values);
HWY_EXPORT(DecodeChunk);
HWY_EXPORT(ProbabilityRows);
HWY_EXPORT(AttentionTargetId);

FlashGroupFn Bf16ValuesFlashGroup() { return &MHSA_DISPATCH(FlashGroupBf16Values); }

int64_t AttentionCompiledTarget() { return MHSA_DISPATCH(AttentionTargetId)(); }

namespace {

// The extent, in elements relative to the base pointer, that a
// [batch][len][heads][head_dim] view touches: [low, high].
struct Span {
  int64_t low = 0, high = 0;
  bool empty = true;
};

Span CheckedSpan(const char* what, const Strides& s, size_t batch, size_t len, size_t heads,
                 size_t head_dim) {
  Span span;
  if (batch == 0 || len == 0 || heads == 0 || head_dim == 0) return span;
  const auto limit = static_cast<int64_t>(MaxFloatCount());
  const int64_t strides[3] = {s.batch, s.position, s.head};
  const size_t sizes[3] = {batch, len, heads};
  int64_t low = 0, high = static_cast<int64_t>(head_dim) - 1;
  for (int i = 0; i < 3; ++i) {
    int64_t reach = 0;
    if (sizes[i] > 1 &&
        (__builtin_mul_overflow(strides[i], static_cast<int64_t>(sizes[i] - 1), &reach) ||
         (reach < 0 ? __builtin_add_overflow(low, reach, &low)
                    : __builtin_add_overflow(high, reach, &high)) ||
         high - low >= limit)) {
      ThrowInvalid(std::string("expected ") + what + " to span at most " + std::to_string(limit) +
                   " floats, got strides (" + std::to_string(s.batch) + ", " +
                   std::to_string(s.position) + ", " + std::to_string(s.head) + ") that overflow");
    }
  }
  span.low = low;
  span.high = high;
  span.empty = false;
  return span;
}

// An output view must write each element once: sorted by |stride|, every
// dimension must step past everything the smaller ones cover.
void CheckNoSelfOverlap(const char* what, const Strides& s, size_t batch, size_t len, size_t heads,
                        size_t head_dim) {
  struct Dim {
    uint64_t stride;
    uint64_t size;
  };
  Dim dims[3] = {{static_cast<uint64_t>(s.batch < 0 ? -s.batch : s.batch), batch},
                 {static_cast<uint64_t>(s.position < 0 ? -s.position : s.position), len},
                 {static_cast<uint64_t>(s.head < 0 ? -s.head : s.head), heads}};
  std::sort(dims, dims + 3, [](const Dim& a, const Dim& b) { return a.stride < b.stride; });
  uint64_t covered = head_dim;  // Elements [0, covered) of one step are used.
  for (const Dim& dim : dims) {
    if (dim.size <= 1) continue;
    if (dim.stride < covered) {
      ThrowInvalid(std::string("expected ") + what +
                   " to have strides that do not overlap (each at least the extent of the smaller "
                   "ones), got (" +
                   std::to_string(s.batch) + ", " + std::to_string(s.position) + ", " +
                   std::to_string(s.head) + ") with head_dim " + std::to_string(head_dim));
    }
    covered = dim.stride * (dim.size - 1) + covered;  // Fits: the span was checked.
  }
}

// a and b hold elements of a_bytes and b_bytes each (float or bf16).
bool SpansOverlap(const void* a, const Span& sa, int64_t a_bytes, const void* b, const Span& sb,
                  int64_t b_bytes) {
  if (sa.empty || sb.empty) return false;
  const auto a0 = reinterpret_cast<intptr_t>(a) + sa.low * a_bytes,
             a1 = reinterpret_cast<intptr_t>(a) + (sa.high + 1) * a_bytes;
  const auto b0 = reinterpret_cast<intptr_t>(b) + sb.low * b_bytes,
             b1 = reinterpret_cast<intptr_t>(b) + (sb.high + 1) * b_bytes;
  return a0 < b1 && b0 < a1;
}

void CheckLengths(const char* what, const int* lengths, size_t batch, size_t padded) {
  if (lengths == nullptr) return;
  for (size_t b = 0; b < batch; ++b) {
    if (lengths[b] < 0 || static_cast<size_t>(lengths[b]) > padded) {
      ThrowInvalid(std::string("expected ") + what + "[" + std::to_string(b) + "] in [0, " +
                   std::to_string(padded) + "], got " + std::to_string(lengths[b]));
    }
  }
}

size_t QLength(const AttentionProblem& p, size_t b) {
  return p.q_lengths == nullptr ? p.q_len : static_cast<size_t>(p.q_lengths[b]);
}
size_t KvLength(const AttentionProblem& p, size_t b) {
  return p.kv_lengths == nullptr ? p.kv_len : static_cast<size_t>(p.kv_lengths[b]);
}
size_t Group(const AttentionProblem& p) { return p.num_heads / p.num_kv_heads; }

// Whether sequence b takes the decode path: decided by the shape alone.
bool Decodes(const AttentionProblem& p, size_t q_len) { return q_len * Group(p) <= kDecodeRows; }
bool AnyDecodes(const AttentionProblem& p) { return Decodes(p, 1); }
bool AnyFlashes(const AttentionProblem& p) { return !Decodes(p, p.q_len); }

size_t DecodeChunks(const AttentionProblem& p) {
  return std::max<size_t>(1, (p.kv_len + kDecodeChunk - 1) / kDecodeChunk);
}

// Consecutive chunks per decode task: as many as leave every thread about 4
// tasks (dynamic scheduling evens out ragged lengths). A task prepares its
// rows once and prefetches across its chunks' borders; with one chunk per
// task, a step at B=1, L=8192, E=A=512, H=8 took 7% longer in bf16 (2
// threads, Intel Xeon). Chunks, not tasks, set the sums: the task size
// changes no bit.
size_t ChunksPerDecodeTask(size_t pairs, size_t chunks, int threads) {
  constexpr size_t kTasksPerThread = 4;
  return std::max<size_t>(1, pairs * chunks / (kTasksPerThread * static_cast<size_t>(threads)));
}

// Partial results of the decode path: [batch][kv_heads][chunks][rows][stride].
size_t PartialFloats(const AttentionProblem& p) {
  return p.batch * p.num_kv_heads * DecodeChunks(p) * kDecodeRows * PartialStride(p.head_dim);
}

struct SharedScratch {
  float* partials;  // decode partials, or nullptr
};

SharedScratch CarveShared(Bump& bump, const AttentionProblem& p) {
  SharedScratch s{nullptr};
  if (AnyDecodes(p) && DecodeChunks(p) > 1) s.partials = bump.Take<float>(PartialFloats(p));
  return s;
}

// bf16_kernel: the bf16 path's, or nullptr.
GroupTask MakeTask(const AttentionProblem& p, size_t b, size_t g, const Bf16Kernel* bf16_kernel) {
  const size_t group = Group(p);
  const auto ib = static_cast<ptrdiff_t>(b), ih = static_cast<ptrdiff_t>(g * group),
             ig = static_cast<ptrdiff_t>(g);
  const ptrdiff_t q_at = ib * p.q_strides.batch + ih * p.q_strides.head,
                  k_at = ib * p.k_strides.batch + ig * p.k_strides.head,
                  v_at = ib * p.v_strides.batch + ig * p.v_strides.head;
  GroupTask t;
  t.q = p.q == nullptr ? nullptr : p.q + q_at;
  t.q_pos = p.q_strides.position;
  t.q_head = p.q_strides.head;
  t.k = p.k == nullptr ? nullptr : p.k + k_at;
  t.k_pos = p.k_strides.position;
  t.v = p.v == nullptr ? nullptr : p.v + v_at;
  t.v_pos = p.v_strides.position;
  t.q_bf16 = p.q_bf16 == nullptr ? nullptr : p.q_bf16 + q_at;
  t.k_bf16 = p.k_bf16 == nullptr ? nullptr : p.k_bf16 + k_at;
  t.v_bf16 = p.v_bf16 == nullptr ? nullptr : p.v_bf16 + v_at;
  t.bf16_kernel = bf16_kernel;
  t.out = p.out + ib * p.out_strides.batch + ih * p.out_strides.head;
  t.out_pos = p.out_strides.position;
  t.out_head = p.out_strides.head;
  const size_t first_row = (b * p.num_heads + g * group) * p.q_len;
  t.lse = p.lse == nullptr ? nullptr : p.lse + first_row;
  t.rows_head = p.q_len;
  t.group = group;
  t.head_dim = p.head_dim;
  t.q_len = QLength(p, b);
  t.kv_len = KvLength(p, b);
  t.causal = p.causal;
  t.scale = p.scale;
  return t;
}

// Merges the decode chunks of one group task into its output rows and lse.
void MergeChunks(const GroupTask& t, const float* partials) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const size_t dim = t.head_dim, stride = PartialStride(dim), rows = t.group * t.q_len;
  for (size_t r = 0; r < rows; ++r) {
    const size_t head = r / t.q_len, i = r % t.q_len;
    float* dst =
        t.out + static_cast<ptrdiff_t>(head) * t.out_head + static_cast<ptrdiff_t>(i) * t.out_pos;
    float* lse = t.Lse(head, i);
    const size_t limit = t.Limit(i);
    if (limit == 0) {
      std::fill(dst, dst + dim, 0.0f);
      if (lse != nullptr) *lse = -kInf;
      continue;
    }
    const size_t used = (limit + kDecodeChunk - 1) / kDecodeChunk;
    bool bad = false;
    float max = -kInf;
    for (size_t c = 0; c < used; ++c) {
      const float m = partials[(c * kDecodeRows + r) * stride + dim];
      if (std::isnan(m)) bad = true;
      max = std::max(max, m);
    }
    if (bad || max == -kInf) {
      std::fill(dst, dst + dim, std::numeric_limits<float>::quiet_NaN());
      if (lse != nullptr) *lse = bad ? std::numeric_limits<float>::quiet_NaN() : -kInf;
      continue;
    }
    // Chunks in key order, each weighted by exp(m_c - m): a fixed order.
    float sum = 0.0f;
    std::fill(dst, dst + dim, 0.0f);
    for (size_t c = 0; c < used; ++c) {
      const float* part = partials + (c * kDecodeRows + r) * stride;
      if (part[dim] == -kInf) continue;  // No finite score in this chunk.
      const float weight = std::exp(part[dim] - max);
      sum += part[dim + 1] * weight;
      for (size_t d = 0; d < dim; ++d) dst[d] += part[d] * weight;
    }
    const float inverse = 1.0f / sum;
    for (size_t d = 0; d < dim; ++d) dst[d] *= inverse;
    if (lse != nullptr) {
      *lse = LogSumExp(max, sum);
    }
  }
}

}  // namespace

AttentionProblem CheckAttentionShape(const AttentionShape& shape, const AttentionOptions& options) {
  CheckPositive("batch", shape.batch);
  CheckPositive("num_heads", shape.num_heads);
  CheckPositive("head_dim", shape.head_dim);
  CheckNonNegative("q_len", shape.q_len);
  CheckNonNegative("kv_len", shape.kv_len);
  CheckNonNegative("num_kv_heads", shape.num_kv_heads);
  const int kv_heads = shape.num_kv_heads == 0 ? shape.num_heads : shape.num_kv_heads;
  if (shape.num_heads % kv_heads != 0) {
    ThrowInvalid("expected num_kv_heads to divide num_heads, got num_kv_heads " +
                 std::to_string(kv_heads) + " and num_heads " + std::to_string(shape.num_heads));
  }
  if (options.run.num_threads < 0) {
    ThrowInvalid("expected num_threads >= 0, got " + std::to_string(options.run.num_threads));
  }
  if (options.precision != Precision::kFloat32 && options.precision != Precision::kBFloat16) {
    ThrowInvalid("expected precision kFloat32 or kBFloat16, got the value " +
                 std::to_string(static_cast<int>(options.precision)));
  }
  if (!std::isfinite(options.scale)) {
    ThrowInvalid("expected a finite scale (0 for 1/sqrt(head_dim)), got " +
                 std::to_string(options.scale));
  }
  // The dense outputs asked for, [batch][num_heads][q_len] and [...][kv_len].
  if (options.lse != nullptr) CheckedFloatCount("lse", {shape.batch, shape.num_heads, shape.q_len});
  if (options.probabilities != nullptr) {
    CheckedFloatCount("probabilities", {shape.batch, shape.num_heads, shape.q_len, shape.kv_len});
  }
  AttentionProblem p;
  p.batch = static_cast<size_t>(shape.batch);
  p.num_heads = static_cast<size_t>(shape.num_heads);
  p.num_kv_heads = static_cast<size_t>(kv_heads);
  p.head_dim = static_cast<size_t>(shape.head_dim);
  p.q_len = static_cast<size_t>(shape.q_len);
  p.kv_len = static_cast<size_t>(shape.kv_len);
  p.q_lengths = options.q_lengths;
  p.kv_lengths = options.kv_lengths;
  p.causal = options.causal;
  p.scale =
      options.scale != 0.0f ? options.scale : 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  p.lse = options.lse;
  p.probabilities = options.probabilities;
  p.precision = options.precision;
  return p;
}

namespace {

// The checks of both CheckAttention overloads; T: float or uint16_t (bf16).
template <typename T>
AttentionProblem CheckAttentionTensors(const AttentionShape& shape, const T* q, Strides q_strides,
                                       const T* k, Strides k_strides, const T* v, Strides v_strides,
                                       float* out, Strides out_strides,
                                       const AttentionOptions& options) {
  AttentionProblem p = CheckAttentionShape(shape, options);
  if constexpr (sizeof(T) == sizeof(float)) {
    p.q = q;
    p.k = k;
    p.v = v;
  } else {
    p.q_bf16 = q;
    p.k_bf16 = k;
    p.v_bf16 = v;
    p.precision = Precision::kBFloat16;
  }
  p.out = out;
  p.q_strides = q_strides;
  p.k_strides = k_strides;
  p.v_strides = v_strides;
  p.out_strides = out_strides;
  const Span q_span = CheckedSpan("q", q_strides, p.batch, p.q_len, p.num_heads, p.head_dim);
  const Span out_span = CheckedSpan("out", out_strides, p.batch, p.q_len, p.num_heads, p.head_dim);
  const Span k_span = CheckedSpan("k", k_strides, p.batch, p.kv_len, p.num_kv_heads, p.head_dim);
  const Span v_span = CheckedSpan("v", v_strides, p.batch, p.kv_len, p.num_kv_heads, p.head_dim);
  const size_t rows = p.batch * p.num_heads * p.q_len, probs = rows * p.kv_len;
  Span lse_span, probs_span;
  if (rows > 0) lse_span = {0, static_cast<int64_t>(rows) - 1, false};
  if (probs > 0) probs_span = {0, static_cast<int64_t>(probs) - 1, false};
  if (p.q_len > 0) {
    CheckNotNull("q", q);
    CheckNotNull("out", out);
    if (p.kv_len > 0) {
      CheckNotNull("k", k);
      CheckNotNull("v", v);
    }
  }
  CheckNoSelfOverlap("out", out_strides, p.batch, p.q_len, p.num_heads, p.head_dim);
  CheckLengths("q_lengths", p.q_lengths, p.batch, p.q_len);
  CheckLengths("kv_lengths", p.kv_lengths, p.batch, p.kv_len);
  struct Named {
    const char* name;
    const void* base;
    Span span;
  };
  constexpr auto kInputBytes = static_cast<int64_t>(sizeof(T)), kFloatBytes = int64_t{4};
  const Named inputs[] = {{"q", q, q_span},
                          {"k", k, p.kv_len > 0 ? k_span : Span()},
                          {"v", v, p.kv_len > 0 ? v_span : Span()}};
  const Named outputs[] = {
      {"out", out, out_span},
      {"lse", p.lse, p.lse != nullptr ? lse_span : Span()},
      {"probabilities", p.probabilities, p.probabilities != nullptr ? probs_span : Span()}};
  for (size_t i = 0; i < 3; ++i) {
    for (const Named& input : inputs) {
      if (SpansOverlap(outputs[i].base, outputs[i].span, kFloatBytes, input.base, input.span,
                       kInputBytes)) {
        ThrowInvalid(std::string("expected ") + outputs[i].name + " not to overlap " + input.name +
                     ", got overlapping arrays");
      }
    }
    for (size_t j = i + 1; j < 3; ++j) {
      if (SpansOverlap(outputs[i].base, outputs[i].span, kFloatBytes, outputs[j].base,
                       outputs[j].span, kFloatBytes)) {
        ThrowInvalid(std::string("expected ") + outputs[i].name + " not to overlap " +
                     outputs[j].name + ", got overlapping arrays");
      }
    }
  }
  return p;
}

}  // namespace

AttentionProblem CheckAttention(const AttentionShape& shape, const float* q, Strides q_strides,
                                const float* k, Strides k_strides, const float* v,
                                Strides v_strides, float* out, Strides out_strides,
                                const AttentionOptions& options) {
  return CheckAttentionTensors(shape, q, q_strides, k, k_strides, v, v_strides, out, out_strides,
                               options);
}

AttentionProblem CheckAttention(const AttentionShape& shape, const uint16_t* q, Strides q_strides,
                                const uint16_t* k, Strides k_strides, const uint16_t* v,
                                Strides v_strides, float* out, Strides out_strides,
                                const AttentionOptions& options) {
  return CheckAttentionTensors(shape, q, q_strides, k, k_strides, v, v_strides, out, out_strides,
                               options);
}

ScratchNeeds AttentionNeeds(const AttentionProblem& p, int threads) {
  (void)threads;
  ScratchNeeds needs;
  Bump shared;
  CarveShared(shared, p);
  needs.shared = shared.used();
  Bump flash, decode, probs;
  if (AnyFlashes(p)) {
    // bf16: either flash, whichever kernel serves the call (Bf16AttentionPath).
    if (p.precision == Precision::kBFloat16) {
      Bump float_flash;
      FlashScratch(float_flash, p.head_dim, p.kv_len);
      FlashBf16Scratch(flash, p.head_dim, p.kv_len);
      if (float_flash.used() > flash.used()) flash = float_flash;
    } else {
      FlashScratch(flash, p.head_dim, p.kv_len);
    }
  }
  if (AnyDecodes(p)) {
    DecodeScratch(decode, p.head_dim, std::min(kDecodeRows, Group(p) * p.q_len));
  }
  if (p.probabilities != nullptr) probs.Take<float>(RoundUp(p.head_dim, kDecodeQPad));
  needs.per_thread = std::max({flash.used(), decode.used(), probs.used()});
  return needs;
}

void RunAttention(const AttentionProblem& p, int threads, const CallScratch& scratch,
                  const PairFill& fill) {
  if (p.q_len == 0) return;
  // The work: q·kᵀ and p·v of every row, as if no key were masked.
  threads = ThreadsForWork(2.0 * static_cast<double>(p.batch * p.num_heads) *
                               static_cast<double>(p.q_len) * static_cast<double>(p.kv_len) *
                               static_cast<double>(p.head_dim),
                           threads);
  Bump shared_bump(scratch.shared());
  const SharedScratch shared = CarveShared(shared_bump, p);

  // The float32 or the bf16 path's per-target functions, once per call.
  const AttentionPath path =
      p.precision == Precision::kBFloat16
          ? Bf16AttentionPath()
          : AttentionPath{&MHSA_DISPATCH(FlashGroup), &MHSA_DISPATCH(DecodeChunk),
                          &MHSA_DISPATCH(ProbabilityRows), kQueryBlock, Bf16Kernel{}};
  const Bf16Kernel* bf16_kernel = p.precision == Precision::kBFloat16 ? &path.bf16_kernel : nullptr;
  const size_t query_block = path.query_block;
  const size_t pairs = p.batch * p.num_kv_heads;
  const size_t blocks = (p.q_len + query_block - 1) / query_block;
  // Flash tasks: a whole (sequence, K/V head) pair, or, with fewer pairs than
  // threads, the query blocks i and n-1-i of one (later blocks see more keys,
  // so every task costs about the same). Decode tasks: one chunk of keys.
  const size_t flash_chunks =
      !AnyFlashes(p) ? 0 : (pairs >= static_cast<size_t>(threads) ? 1 : (blocks + 1) / 2);
  const size_t decode_chunks = AnyDecodes(p) ? DecodeChunks(p) : 0;
  const size_t span = ChunksPerDecodeTask(pairs, decode_chunks, threads);
  const size_t decode_tasks = (decode_chunks + span - 1) / span;
  const size_t chunks = std::max(flash_chunks, decode_tasks);
  const FlashGroupFn flash = path.flash;
  const DecodeChunkFn decode = path.decode;
  // A pair's fill runs in the pair's own task when one task has the whole
  // pair: the copies are shared among the threads and overlap the other
  // threads' FMAs, and the task packs the pair's k and v while they are
  // still in cache. The layer's prefill into its KV cache, which copied on
  // the calling thread before the attention, is 1.04x faster at B=8 and
  // B=1, T=1024 (Zen 5, 2 threads). Otherwise every fill runs first.
  const bool fill_in_task = fill && chunks == 1;
  if (fill && !fill_in_task) {
    const double copied = 2.0 * static_cast<double>(pairs * p.q_len * p.head_dim);
    ParallelFor(ThreadsForWork(copied, threads), pairs,
                [&](size_t pair, int) { fill(pair / p.num_kv_heads, pair % p.num_kv_heads); });
  }
  ParallelFor(threads, pairs * chunks, [&](size_t task, int thread) {
    const size_t pair = task / chunks, chunk = task % chunks;
    const size_t b = pair / p.num_kv_heads, g = pair % p.num_kv_heads;
    if (fill_in_task) fill(b, g);
    const GroupTask t = MakeTask(p, b, g, bf16_kernel);
    if (t.q_len == 0) return;
    void* own = scratch.thread(thread);
    if (Decodes(p, t.q_len)) {
      const size_t first = chunk * span, begin = first * kDecodeChunk;
      if (begin >= t.kv_len && chunk > 0) return;
      // With one chunk for the whole call the task finishes its rows itself.
      float* partial = decode_chunks == 1
                           ? nullptr
                           : shared.partials + (pair * decode_chunks + first) * kDecodeRows *
                                                   PartialStride(p.head_dim);
      decode(t, begin, std::min(t.kv_len, begin + span * kDecodeChunk), partial, own);
      return;
    }
    const size_t n = (t.q_len + query_block - 1) / query_block;
    if (flash_chunks == 1) {
      if (chunk == 0) flash(t, 0, n, kNoBlock, own);
      return;
    }
    if (chunk >= (n + 1) / 2) return;
    const size_t mirror = n - 1 - chunk;
    flash(t, chunk, chunk + 1, mirror == chunk ? kNoBlock : mirror, own);
  });

  if (decode_chunks > 1) {
    ParallelFor(threads, pairs, [&](size_t pair, int) {
      const size_t b = pair / p.num_kv_heads, g = pair % p.num_kv_heads;
      const GroupTask t = MakeTask(p, b, g, bf16_kernel);
      if (t.q_len == 0 || !Decodes(p, t.q_len)) return;
      MergeChunks(t,
                  shared.partials + pair * decode_chunks * kDecodeRows * PartialStride(p.head_dim));
    });
  }

  if (p.probabilities != nullptr) {
    const ProbabilityRowsFn rows = path.probability_rows;
    const size_t head_pairs = p.batch * p.num_heads;
    ParallelFor(threads, head_pairs * blocks, [&](size_t task, int thread) {
      const size_t pair = task / blocks, block = task % blocks;
      const size_t b = pair / p.num_heads, h = pair % p.num_heads;
      const size_t group = Group(p);
      const GroupTask t = MakeTask(p, b, h / group, bf16_kernel);
      const size_t begin = block * query_block;
      if (begin >= t.q_len) return;
      const size_t head = h % group;
      rows(t, head, begin, std::min(t.q_len, begin + query_block),
           p.probabilities + (b * p.num_heads + h) * p.q_len * p.kv_len, p.kv_len,
           scratch.thread(thread));
    });
  }
}

size_t AttentionWorkspaceBytes(const AttentionShape& shape, const AttentionOptions& options) {
  const AttentionProblem p = CheckAttentionShape(shape, options);
  const int threads = ThreadsForCall(options.run);
  return WorkspaceBytesFor(AttentionNeeds(p, threads), threads);
}

void Attention(const AttentionShape& shape, const float* q, Strides q_strides, const float* k,
               Strides k_strides, const float* v, Strides v_strides, float* out,
               Strides out_strides, const AttentionOptions& options) {
  const AttentionProblem p =
      CheckAttention(shape, q, q_strides, k, k_strides, v, v_strides, out, out_strides, options);
  const int threads = ThreadsForCall(options.run);
  const CallScratch scratch(options.run, AttentionNeeds(p, threads), threads);
  RunAttention(p, threads, scratch);
}

}  // namespace mhsa
#endif  // HWY_ONCE
