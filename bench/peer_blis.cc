// BLIS through its typed API: bli_sgemm takes row and column strides, so
// row-major operands need no transposition tricks, and the name cannot
// collide with OpenBLAS's CBLAS in the same binary.
#include <blis.h>

#include "peers.h"

namespace mhsa::bench {
namespace {

// BLIS takes its operands and scalars through non-const pointers but only
// reads them.
void Gemm(trans_t trans_b, const float* a, size_t lda, const float* b, size_t ldb, float* c,
          size_t ldc, size_t m, size_t n, size_t k) {
  float one = 1.0f, zero = 0.0f;
  bli_sgemm(BLIS_NO_TRANSPOSE, trans_b, static_cast<dim_t>(m), static_cast<dim_t>(n),
            static_cast<dim_t>(k), &one, const_cast<float*>(a), static_cast<inc_t>(lda), 1,
            const_cast<float*>(b), static_cast<inc_t>(ldb), 1, &zero, c, static_cast<inc_t>(ldc),
            1);
}

// b is stored [n][k]; BLIS transposes the stored matrix.
void GemmBt(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  Gemm(BLIS_TRANSPOSE, a, lda, b, ldb, c, ldc, m, n, k);
}

void GemmNn(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  Gemm(BLIS_NO_TRANSPOSE, a, lda, b, ldb, c, ldc, m, n, k);
}

void SetThreads(int threads) { bli_thread_set_num_threads(threads); }

}  // namespace

Peer BlisPeer() {
  Peer peer;
  peer.name = "blis";
  peer.gemm_bt = GemmBt;
  peer.gemm_nn = GemmNn;
  peer.set_threads = SetThreads;
  peer.context = {{"version", bli_info_get_version_str()},
                  {"arch", bli_arch_string(bli_arch_query_id())}};
  return peer;
}

}  // namespace mhsa::bench
