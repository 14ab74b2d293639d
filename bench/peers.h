// The libraries mhsa is measured against, behind one small interface so that
// gemm_bench and the composed attention layer treat them alike. Each peer
// lives in its own peer_<name>.cc, compiled only when CMake found it.
#ifndef MHSA_BENCH_PEERS_H_
#define MHSA_BENCH_PEERS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace mhsa::bench {

// Row-major, strides in elements; C is overwritten (beta = 0).
using GemmFunction = void (*)(const float* a, size_t lda, const float* b, size_t ldb, float* c,
                              size_t ldc, size_t m, size_t n, size_t k);

struct Peer {
  std::string name;  // "openblas", "blis", "onednn", "eigen".
  // C = A·Bᵀ: a [m][k], b [n][k], c [m][n] (x·Wᵀ, q·kᵀ).
  GemmFunction gemm_bt = nullptr;
  // C = A·B: a [m][k], b [k][n], c [m][n] (p·v).
  GemmFunction gemm_nn = nullptr;
  // Threads the library's next calls may use when made outside a parallel
  // region. Calls from inside one must stay on their thread: oneDNN and
  // Eigen see omp_in_parallel() themselves; OpenBLAS (its own pthreads) and
  // BLIS have to be told 1 through this.
  void (*set_threads)(int threads) = nullptr;
  // Why the peer cannot run in this process, or empty.
  std::string unusable;
  // Version, chosen kernel and the like, for the benchmark context.
  std::vector<std::pair<std::string, std::string>> context;
};

// The peers this binary was built with, in a fixed order.
const std::vector<Peer>& CompiledPeers();

// Each defined in its peer_<name>.cc.
Peer OpenBlasPeer();
Peer BlisPeer();
Peer OneDnnPeer();
Peer EigenPeer();

// Adds every compiled peer's context, and the reason for each one that
// cannot run, to the benchmark context.
void AddPeersContext();

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_PEERS_H_
