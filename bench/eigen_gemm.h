// Eigen's GEMM, compiled apart in the mhsa_bench_eigen shared library with
// the vector flags Eigen needs to use AVX-512 (see bench/CMakeLists.txt).
// Only these functions are exported from it. Call them only on a CPU with
// those features (EigenCpuSupported).
#ifndef MHSA_BENCH_EIGEN_GEMM_H_
#define MHSA_BENCH_EIGEN_GEMM_H_

#include <cstddef>

#define MHSA_BENCH_EIGEN_API __attribute__((visibility("default")))

namespace mhsa::bench {

// C = A·Bᵀ: a [m][k] stride lda, b [n][k] stride ldb, c [m][n] stride ldc.
MHSA_BENCH_EIGEN_API void EigenGemmBt(const float* a, size_t lda, const float* b, size_t ldb,
                                      float* c, size_t ldc, size_t m, size_t n, size_t k);

// C = A·B: a [m][k] stride lda, b [k][n] stride ldb, c [m][n] stride ldc.
MHSA_BENCH_EIGEN_API void EigenGemmNn(const float* a, size_t lda, const float* b, size_t ldb,
                                      float* c, size_t ldc, size_t m, size_t n, size_t k);

// Threads Eigen's GEMM may use outside a parallel region.
MHSA_BENCH_EIGEN_API void EigenSetThreads(int threads);

// The instruction sets Eigen was compiled to use.
MHSA_BENCH_EIGEN_API const char* EigenSimd();

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_EIGEN_GEMM_H_
