// The data cache sizes of the CPU this process runs on, as the operating
// system reports them, for block sizes that fit the machine at hand rather
// than the one the code was tuned on.
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

// The GEMM's k-block: a kPanel-wide B panel of this many steps takes about
// two thirds of L1d, leaving the rest to the A panel streaming past it:
// 256 on 48 KiB L1s (Ice Lake, Sapphire Rapids, Zen 5), 128 on 32 KiB ones
// (Zen 4, older cores). A multiple of 64 in [64, kKC].
size_t GemmKBlock();

}  // namespace mhsa

#endif  // MHSA_SRC_CACHE_INFO_H_
