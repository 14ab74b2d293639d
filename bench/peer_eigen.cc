// The Eigen peer: the GEMMs of the separately compiled mhsa_bench_eigen
// library, usable only where the CPU has the features it was compiled for.
#include <string>

#include "eigen_gemm.h"
#include "peers.h"

namespace mhsa::bench {

Peer EigenPeer() {
  Peer peer;
  peer.name = "eigen";
  peer.gemm_bt = EigenGemmBt;
  peer.gemm_nn = EigenGemmNn;
  peer.set_threads = EigenSetThreads;
#if defined(__x86_64__)
  // The features that bench/CMakeLists.txt's MHSA_BENCH_EIGEN_FLAGS enable.
  __builtin_cpu_init();
  const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("fma");
  if (!supported) {
    peer.unusable = "Eigen was compiled for AVX-512 and this CPU lacks it";
  }
#endif
  // The version comes from CMake rather than from the library: nothing
  // compiled for AVX-512 runs before the CPU check has passed.
  peer.context = {{"version", MHSA_BENCH_EIGEN_VERSION}};
  if (peer.unusable.empty()) peer.context.emplace_back("simd", EigenSimd());
  return peer;
}

}  // namespace mhsa::bench
