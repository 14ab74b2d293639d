// oneDNN's dnnl_sgemm: row-major, with 'N'/'T' flags like BLAS. Its threads
// are OpenMP's (Debian builds it with the OMP runtime), so
// omp_set_num_threads governs it, and inside a parallel region it runs on
// the calling thread.
#include <dnnl.h>
#include <omp.h>

#include <cstdio>
#include <string>

#include "peers.h"

namespace mhsa::bench {
namespace {

void Gemm(char trans_b, const float* a, size_t lda, const float* b, size_t ldb, float* c,
          size_t ldc, size_t m, size_t n, size_t k) {
  dnnl_sgemm('N', trans_b, static_cast<dnnl_dim_t>(m), static_cast<dnnl_dim_t>(n),
             static_cast<dnnl_dim_t>(k), 1.0f, a, static_cast<dnnl_dim_t>(lda), b,
             static_cast<dnnl_dim_t>(ldb), 0.0f, c, static_cast<dnnl_dim_t>(ldc));
}

void GemmBt(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  Gemm('T', a, lda, b, ldb, c, ldc, m, n, k);
}

void GemmNn(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  Gemm('N', a, lda, b, ldb, c, ldc, m, n, k);
}

void SetThreads(int threads) { omp_set_num_threads(threads); }

std::string IsaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_sse41:
      return "sse41";
    default: {
      char text[32];
      std::snprintf(text, sizeof(text), "isa 0x%x", static_cast<unsigned>(isa));
      return text;
    }
  }
}

}  // namespace

Peer OneDnnPeer() {
  Peer peer;
  peer.name = "onednn";
  peer.gemm_bt = GemmBt;
  peer.gemm_nn = GemmNn;
  peer.set_threads = SetThreads;
  const dnnl_version_t* version = dnnl_version();
  peer.context = {
      {"version", std::to_string(version->major) + "." + std::to_string(version->minor) + "." +
                      std::to_string(version->patch)},
      {"max_isa", IsaName(dnnl_get_effective_cpu_isa())}};
  return peer;
}

}  // namespace mhsa::bench
