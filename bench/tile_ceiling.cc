// The float32 kernels with their operands in cache: the GEMM's own register
// tile, and the flash attention's score block (q·kᵀ tiles with their
// softmax in registers). Their ceilings on this CPU split the FMA peak's
// shortfall of the GEMM and the layer into the kernels' own (loads,
// broadcasts and loop beside the FMAs; exp) and the rest (caches, packing,
// threads). Compiled once per SIMD target through foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tile_ceiling.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "flash_tile-inl.h"
#include "gemm-inl.h"
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa::bench {
namespace HWY_NAMESPACE {

using ::mhsa::HWY_NAMESPACE::kMR;
using ::mhsa::HWY_NAMESPACE::MicroKernel;

size_t TileRowsOf() { return kMR; }

// `rounds` tiles of kMR x kPanel over k steps, from one packed A panel and
// one packed B panel (at k = 512: 24 KiB and 64 KiB for AVX-512, which the
// L1 and L2 hold), each stored to the same C tile: the microkernel with
// nothing to wait for but itself. Returns a value of C to keep.
float RunTileRounds(const float* a, const float* b, float* c, size_t k, uint64_t rounds) {
  const ptrdiff_t no_mask = static_cast<ptrdiff_t>(2 * k + kMR);
  for (uint64_t r = 0; r < rounds; ++r) {
    MicroKernel<kMR, 1, kMR>(a, b, k, c, kPanel, kMR, kPanel, 0.0f, no_mask, 0);
  }
  return c[0];
}

// `rounds` calls of the flash attention's ScoreProduct on one block of
// kQueryBlock queries and kKeyBlock keys at head_dim `dim` (q 48 x 64 and k
// 256 x 64 floats, 12 and 64 KiB, p 48 KiB), every key visible, each row's
// reference already set (the common case of a block after a row's first):
// the scores, their exp, the row sums and p as the layer computes them.
float RunScoreRounds(size_t dim, uint64_t rounds) {
  using ::mhsa::HWY_NAMESPACE::LazyRows;
  using ::mhsa::HWY_NAMESPACE::OnlineRow;
  using ::mhsa::HWY_NAMESPACE::ScoreProduct;
  constexpr size_t kLanes = ::mhsa::HWY_NAMESPACE::kLanes;
  auto q = hwy::AllocateAligned<float>(kQueryBlock * dim);
  auto k = hwy::AllocateAligned<float>(kKeyBlock * dim);
  auto p = hwy::AllocateAligned<float>(kQueryBlock * kKeyBlock);
  auto sums = hwy::AllocateAligned<float>(kQueryBlock * kLanes);
  // Scores about 0.75, below the reference 1: no raise.
  for (size_t i = 0; i < kQueryBlock * dim; ++i) q[i] = 1.0f / static_cast<float>(dim + i % 3);
  for (size_t i = 0; i < kKeyBlock * dim; ++i) k[i] = 1.0f - static_cast<float>(i % 5) / 8;
  for (size_t i = 0; i < kQueryBlock * kLanes; ++i) sums[i] = 0.0f;
  OnlineRow state[kQueryBlock];
  float correction[kQueryBlock];
  size_t visible[kQueryBlock];
  for (size_t r = 0; r < kQueryBlock; ++r) {
    state[r].max = 1.0f;
    correction[r] = 1.0f;
    visible[r] = kKeyBlock;
  }
  const LazyRows rows{state, sums.get(), correction};
  for (uint64_t r = 0; r < rounds; ++r) {
    ScoreProduct(q.get(), kQueryBlock, k.get(), dim, kKeyBlock, visible, /*first_block=*/false,
                 p.get(), rows);
  }
  return p[0] + sums[0];
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>

#include "machine_limits.h"
#include "tile_ceiling.h"

namespace mhsa::bench {

HWY_EXPORT(TileRowsOf);
HWY_EXPORT(RunTileRounds);
HWY_EXPORT(RunScoreRounds);

uint64_t TileFlops(int64_t target, size_t k) {
  return 2 * MHSA_BENCH_ENTRY(TileRowsOf, target)() * kPanel * k;
}

float RunTiles(int64_t target, int threads, size_t k, uint64_t rounds) {
  const size_t rows = MHSA_BENCH_ENTRY(TileRowsOf, target)();
  const auto run = &MHSA_BENCH_ENTRY(RunTileRounds, target);
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    // Each thread's own operands, first touched by it. Values near 1/k keep
    // the sums small and normal.
    auto a = hwy::AllocateAligned<float>(rows * k);
    // 64 steps past the panel: the kernel asks for B's lines ahead, which
    // in the GEMM fall in the next panel, here in memory of the buffer.
    auto b = hwy::AllocateAligned<float>((k + 64) * kPanel);
    auto c = hwy::AllocateAligned<float>(rows * kPanel);
    for (size_t i = 0; i < rows * k; ++i) a[i] = 1.0f / static_cast<float>(k + i % 7);
    for (size_t i = 0; i < (k + 64) * kPanel; ++i) b[i] = 1.0f / static_cast<float>(k + i % 5);
    total += run(a.get(), b.get(), c.get(), k, rounds);
  }
  return total;
}

uint64_t ScoreFlops(size_t dim) { return uint64_t{2} * kQueryBlock * kKeyBlock * dim; }

float RunScores(int64_t target, int threads, size_t dim, uint64_t rounds) {
  const auto run = &MHSA_BENCH_ENTRY(RunScoreRounds, target);
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  total += run(dim, rounds);
  return total;
}

}  // namespace mhsa::bench
#endif  // HWY_ONCE
