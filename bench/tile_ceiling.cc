// The GEMM's own register tile with everything in L1: the ceiling of the
// float32 kernels on this CPU, against which the FMA peak's shortfall of the
// GEMM and the layer can be split into the tile's own (its loads, broadcasts
// and loop beside the FMAs) and the rest (caches, packing, softmax,
// threads). Compiled once per SIMD target through foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tile_ceiling.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "gemm-inl.h"
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

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <omp.h>

#include "dispatch.h"
#include "hwy/aligned_allocator.h"
#include "tile_ceiling.h"

namespace mhsa::bench {

HWY_EXPORT(TileRowsOf);
HWY_EXPORT(RunTileRounds);

// As in machine_limits.cc: any compiled target, chosen per call.
#define MHSA_TILE_ENTRY(FUNC, target) (*HWY_DISPATCH_TABLE(FUNC)[::mhsa::DispatchIndex(target)])

uint64_t TileFlops(int64_t target, size_t k) {
  return 2 * MHSA_TILE_ENTRY(TileRowsOf, target)() * kPanel * k;
}

float RunTiles(int64_t target, int threads, size_t k, uint64_t rounds) {
  const size_t rows = MHSA_TILE_ENTRY(TileRowsOf, target)();
  const auto run = &MHSA_TILE_ENTRY(RunTileRounds, target);
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

}  // namespace mhsa::bench
#endif  // HWY_ONCE
