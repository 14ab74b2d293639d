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
// takes a quarter of L2, so that it stays there while B streams past it.
// Blocks that long cover the layer's k (the embedding dim) whole, and C is
// then written once instead of read back and written again for each block:
// measured 5% on the 2048x1536x512 projection (1 thread, Intel Xeon with a
// 2 MiB L2, against a k-block sized to L1: 256). The B panel is then longer
// than L1 and streams from L2 with the A tile; 1024 on a 2 MiB L2, 640 on
// 1 MiB. A multiple of 64 in [64, kKC].
size_t GemmKBlock();

}  // namespace mhsa

#endif  // MHSA_SRC_CACHE_INFO_H_
