// The L2 cache size of the CPU this process runs on, as the operating
// system reports it, for block sizes that fit the machine at hand rather
// than the one the code was tuned on.
#ifndef MHSA_SRC_CACHE_INFO_H_
#define MHSA_SRC_CACHE_INFO_H_

#include <cstddef>

namespace mhsa {

struct CacheSizes {
  size_t l2;  // bytes of level-2 cache per core
};

// Read once, from /sys/devices/system/cpu/cpu0/cache (Linux, x86 and Arm
// alike); where that is missing, 1 MiB, the smallest of the CPUs
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

}  // namespace mhsa

#endif  // MHSA_SRC_CACHE_INFO_H_
