// Flash attention per (batch, head) for each SIMD target, and its OpenMP
// driver. For a block of queries it walks the key blocks up to the diagonal,
// keeping for each query row the running max m, the running sum l of
// exp(s - m) and the unnormalised output o. In scalar form, per key block:
//   s_j   = (q * scale) · k_j                     for visible keys j
//   m'    = max(m, max_j s_j)
//   c     = exp(m - m')                           (0 when m = -inf)
//   p_j   = exp(s_j - m');  l' = l * c + sum_j p_j
//   o'    = o * c + sum_j p_j v_j
// and at the end out = o / l. Blocks above the diagonal are never visited.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cmath>
#include <limits>
#include <vector>

#include "aligned.h"
#include "gemm-inl.h"
#include "hwy/highway.h"
#include "softmax-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// Causal attention of one (batch, head) for query blocks [block_begin,
// block_end) of kQueryBlock rows.
// q, k, v: [context][head_dim], row stride ld; out: [context][head_dim], row
// stride ld_out.
void AttentionBlocks(const float* q, const float* k, const float* v, size_t ld, size_t context,
                     size_t head_dim, size_t block_begin, size_t block_end, float* out,
                     size_t ld_out) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const size_t dim = head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  // Per-task scratch, independent of context: packed q block, packed k and v
  // blocks, the score block (reused for p), the output accumulators.
  // k and v for every key these blocks see are packed once per task, not
  // once per query block: O(context * head_dim) floats, read by every block.
  const size_t keys_seen = std::min(context, block_end * kQueryBlock);
  const size_t q_pack_size = RoundUp(kQueryBlock, kMR) * dim;
  float* q_pack = ThreadScratch(kScratchQPack, q_pack_size);
  float* k_pack = ThreadScratch(kScratchKPack, RoundUp(keys_seen, kPanel) * dim);
  float* v_pack = ThreadScratch(kScratchVPack, RoundUp(dim, kPanel) * keys_seen);
  PackBFromRows(k, ld, keys_seen, dim, k_pack);
  PackBFromCols(v, ld, dim, keys_seen, v_pack);
  // The score block, then p in place. Rows past the last query of a block
  // are read by the p·v kernel but never stored, so whatever an earlier
  // call left there cannot reach the output.
  float* scores = ThreadScratch(kScratchScores, RoundUp(kQueryBlock, kMR) * kKeyBlock);
  float* acc = ThreadScratch(kScratchAcc, kQueryBlock * dim);
  float row_max[kQueryBlock], row_sum[kQueryBlock];
  bool bad[kQueryBlock];
  const ptrdiff_t kNoMask = std::numeric_limits<ptrdiff_t>::max() / 2;

  for (size_t block = block_begin; block < block_end; ++block) {
    const size_t i0 = block * kQueryBlock;
    const size_t rows = std::min(kQueryBlock, context - i0);
    PackA(q + i0 * ld, ld, rows, dim, q_pack);
    // Scaling q once here spares a pass over every score row.
    ScaleRow(q_pack, q_pack_size, scale);
    std::fill(acc, acc + kQueryBlock * dim, 0.0f);
    std::fill(row_max, row_max + rows, -kInf);
    std::fill(row_sum, row_sum + rows, 0.0f);
    std::fill(bad, bad + rows, false);

    const size_t key_end = i0 + rows;  // The last query sees keys < key_end.
    for (size_t j0 = 0; j0 < key_end; j0 += kKeyBlock) {
      const size_t keys = std::min(kKeyBlock, key_end - j0);
      // scores = q_block · k_blockᵀ: [rows][keys], stride kKeyBlock.
      // Key panels are kPanel wide and j0 a multiple of kPanel.
      TileProduct(q_pack, rows, k_pack + j0 * dim, dim, keys, dim, scores, kKeyBlock, false,
                  kNoMask);

      for (size_t r = 0; r < rows; ++r) {
        float* row = scores + r * kKeyBlock;
        const size_t query = i0 + r;
        const size_t visible = query < j0 ? 0 : std::min(keys, query - j0 + 1);
        if (visible == 0 || bad[r]) {
          FillRow(row, keys, 0.0f);
          continue;
        }
        const float block_max = MaxAndCheck(row, visible, &bad[r]);
        const float new_max = std::max(row_max[r], block_max);
        if (bad[r] || new_max == -kInf) {  // NaN/+inf, or only -inf so far.
          FillRow(row, keys, 0.0f);
          continue;
        }
        const float correction = row_max[r] == -kInf ? 0.0f : std::exp(row_max[r] - new_max);
        const float sum = ExpAndSum(row, visible, new_max);
        FillRow(row + visible, keys - visible, 0.0f);
        row_sum[r] = row_sum[r] * correction + sum;
        if (correction != 1.0f) ScaleRow(acc + r * dim, dim, correction);
        row_max[r] = new_max;
      }

      // acc += p · v_block, each query row stopping at its own last key.
      // p is read in place, row-major with the constant stride kKeyBlock.
      const ptrdiff_t diag = static_cast<ptrdiff_t>(i0) - static_cast<ptrdiff_t>(j0) + 1;
      TileProduct<kKeyBlock>(scores, rows, v_pack + j0 * kPanel, keys_seen, dim, keys, acc, dim,
                             true, diag);
    }

    for (size_t r = 0; r < rows; ++r) {
      float* dst = out + (i0 + r) * ld_out;
      if (bad[r] || row_max[r] == -kInf) {
        FillRow(dst, dim, std::numeric_limits<float>::quiet_NaN());
        continue;
      }
      std::copy(acc + r * dim, acc + (r + 1) * dim, dst);
      ScaleRow(dst, dim, 1.0f / row_sum[r]);
    }
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "attention.h"
#include "dispatch.h"
#include "parallel.h"

namespace mhsa {

HWY_EXPORT(AttentionBlocks);

void CausalAttention(const float* qkv, size_t ld, size_t batch, size_t context, size_t num_heads,
                     size_t head_dim, float* out, size_t ld_out) {
  const auto attention = &MHSA_DISPATCH(AttentionBlocks);  // Once per call.
  const int threads = ThreadsForCall();
  const size_t pairs = batch * num_heads;
  const size_t blocks = (context + kQueryBlock - 1) / kQueryBlock;
  // With fewer (batch, head) pairs than threads, split each pair's queries.
  // Later query blocks see more keys, so block i goes with block n-1-i and
  // every task costs about the same.
  const size_t chunks = pairs >= static_cast<size_t>(threads) ? 1 : (blocks + 1) / 2;
  const size_t attention_dim = num_heads * head_dim;
  const auto tasks = static_cast<long>(pairs * chunks);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (long t = 0; t < tasks; ++t) {
    const size_t pair = static_cast<size_t>(t) / chunks;
    const size_t chunk = static_cast<size_t>(t) % chunks;
    const size_t b = pair / num_heads, h = pair % num_heads;
    const float* rows = qkv + b * context * ld;
    const float* q = rows + h * head_dim;
    const float* k = q + attention_dim;
    const float* v = k + attention_dim;
    float* o = out + b * context * ld_out + h * head_dim;
    if (chunks == 1) {
      attention(q, k, v, ld, context, head_dim, 0, blocks, o, ld_out);
      continue;
    }
    attention(q, k, v, ld, context, head_dim, chunk, chunk + 1, o, ld_out);
    const size_t mirror = blocks - 1 - chunk;
    if (mirror != chunk) {
      attention(q, k, v, ld, context, head_dim, mirror, mirror + 1, o, ld_out);
    }
  }
}

}  // namespace mhsa
#endif  // HWY_ONCE
