#include "peers.h"

#include <benchmark/benchmark.h>

namespace mhsa::bench {

const std::vector<Peer>& CompiledPeers() {
  // Built once: each peer's constructor queries its library (versions, the
  // kernel OpenBLAS picked), which is worth doing only once per process.
  static const std::vector<Peer> peers = [] {
    std::vector<Peer> list;
#if defined(MHSA_BENCH_HAVE_OPENBLAS)
    list.push_back(OpenBlasPeer());
#endif
#if defined(MHSA_BENCH_HAVE_BLIS)
    list.push_back(BlisPeer());
#endif
#if defined(MHSA_BENCH_HAVE_ONEDNN)
    list.push_back(OneDnnPeer());
#endif
#if defined(MHSA_BENCH_HAVE_EIGEN)
    list.push_back(EigenPeer());
#endif
    return list;
  }();
  return peers;
}

void AddPeersContext() {
  std::string names;
  for (const Peer& peer : CompiledPeers()) {
    names += (names.empty() ? "" : ",") + peer.name;
    for (const auto& [key, value] : peer.context) {
      benchmark::AddCustomContext(peer.name + "_" + key, value);
    }
    if (!peer.unusable.empty()) {
      benchmark::AddCustomContext(peer.name + "_unusable", peer.unusable);
    }
  }
  benchmark::AddCustomContext("peers", names.empty() ? "none found" : names);
}

}  // namespace mhsa::bench
