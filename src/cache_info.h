// The L1 data and L2 cache sizes of the CPU this process runs on, as the
// operating system reports them, for block sizes that fit the machine at
// hand rather than the one the code was tuned on.
#ifndef MHSA_SRC_CACHE_INFO_H_
#define MHSA_SRC_CACHE_INFO_H_

#include <cstddef>

namespace mhsa {

struct CacheSizes {
  size_t l1d;  // bytes of level-1 data cache per core
  size_t l2;   // bytes of level-2 cache per core
};

// Read once, from /sys/devices/system/cpu/cpu0/cache (Linux, x86 and Arm
// alike); where that is missing, 32 KiB and 1 MiB, the smallest of the CPUs
// mhsa targets, so that blocks err towards fitting.
const CacheSizes& Caches();

// The GEMM's k-block: the packed A block of kMC rows and this many steps
// takes at most a quarter of L2, so that it stays there while B streams past
// it, and at most kKC = 512 steps. Long blocks cover the layer's k (the
// embedding dim) whole, and C is then written once instead of read back and
// written again for each block; the B panel (64 KiB) streams from L2 with
// the A tile. Measured on an Intel Xeon with a 2 MiB L2 (gemm_bench, 1
// thread), against 256 steps (a B panel sized to L1): the 2048x1536x512
// projection 6% faster, 2048^3 11%, 1024x64x1024 the same; 1024 steps made
// 1024x64x1024 25% slower. A multiple of 64 in [64, kKC].
size_t GemmKBlock();

// The largest k-block of a product whose tasks all read A in place (no
// packed A block to size): the tile's 12 rows of A take at most three
// quarters of L1, leaving the rest to the B panel's lines streaming through
// (768 steps for 48 KiB). Measured on a Zen 5 (48 KiB L1), 1 and 2
// threads, interleaved, against the 512 of GemmKBlock(): the 4096x2304x768
// projection, whose k it then covers whole (C written once, not written,
// read back and written again), 1.02-1.03x faster; 1024 steps (all of L1)
// made 2048^3 1.015-1.035x slower. A multiple of 64 in [64, kInPlaceKC].
size_t InPlaceKBlock();

}  // namespace mhsa

#endif  // MHSA_SRC_CACHE_INFO_H_
