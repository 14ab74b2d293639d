// Prefetching for writing, on every target.
#ifndef MHSA_SRC_PREFETCH_H_
#define MHSA_SRC_PREFETCH_H_

#include <cstddef>

namespace mhsa {

// Asks for the cache line at p in the state a store needs. kOwned: emit
// x86's PREFETCHW, which takes the line for this core alone; only for code
// that runs on CPUs that all list it (CPUID PRFCHW): the AVX-512 family and
// the AVX512_BF16 kernel (Intel from Skylake-SP, AMD from Zen 4). GCC
// compiles __builtin_prefetch(p, 1) to PREFETCHW only with -mprfchw, which
// the per-target attributes do not add, so the builtin, used otherwise, is
// a read prefetch there (PREFETCHT0), after which the store still has to
// ask for the line; on Arm it is PRFM PSTL1KEEP. p is never dereferenced
// (a prefetch does not fault), so it may point past the rows written.
// PREFETCHW against the read prefetch (Zen 5, gemm_bench, 2-3 rounds
// interleaved): the projections 1.01-1.02x faster on 1 thread and
// 1.00-1.02x on 2, q·kᵀ and p·v 1.01-1.02x.
template <bool kOwned>
inline void PrefetchForWrite(const void* p) {
#if defined(__x86_64__)
  if constexpr (kOwned) {
    asm volatile("prefetchw (%0)" : : "r"(p));
    return;
  }
#endif
  __builtin_prefetch(p, 1);
}

// PrefetchForWrite over every line of `rows` rows of `cols` floats, the
// rows `stride` floats apart from `first`: a tile's rows of C, a block's
// output rows.
template <bool kOwned>
inline void PrefetchRowsForWrite(const float* first, size_t rows, ptrdiff_t stride, size_t cols) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = first + static_cast<ptrdiff_t>(r) * stride;
    for (size_t j = 0; j < cols; j += 64 / sizeof(float)) PrefetchForWrite<kOwned>(row + j);
  }
}

}  // namespace mhsa

#endif  // MHSA_SRC_PREFETCH_H_
