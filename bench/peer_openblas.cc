// OpenBLAS through CBLAS, with the kernel it picked for this CPU reported.
#include <cblas.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "peers.h"

namespace mhsa::bench {
namespace {

void GemmBt(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda),
              b, static_cast<blasint>(ldb), 0.0f, c, static_cast<blasint>(ldc));
}

void GemmNn(const float* a, size_t lda, const float* b, size_t ldb, float* c, size_t ldc, size_t m,
            size_t n, size_t k) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(m),
              static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda),
              b, static_cast<blasint>(ldb), 0.0f, c, static_cast<blasint>(ldc));
}

void SetThreads(int threads) { openblas_set_num_threads(threads); }

// The file that the process's cblas_sgemm comes from. BLIS, linked into the
// same binary, defines one too; the link order puts OpenBLAS first, and this
// checks it rather than trusting it.
std::string CblasSgemmFile() {
  void* symbol = dlsym(RTLD_DEFAULT, "cblas_sgemm");
  Dl_info info{};
  if (symbol == nullptr || dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) {
    return "unknown";
  }
  return info.dli_fname;
}

}  // namespace

Peer OpenBlasPeer() {
  Peer peer;
  peer.name = "openblas";
  peer.gemm_bt = GemmBt;
  peer.gemm_nn = GemmNn;
  peer.set_threads = SetThreads;
  const std::string file = CblasSgemmFile();
  if (file.find("openblas") == std::string::npos) {
    peer.unusable = "cblas_sgemm resolves to " + file + ", not OpenBLAS";
  }
  peer.context = {{"corename", openblas_get_corename()},
                  {"config", openblas_get_config()},
                  {"cblas_sgemm_from", file}};
  // run.sh unsets these so that OpenBLAS picks its kernel itself; a run
  // outside it says here what OpenBLAS was told.
  for (const char* name : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}) {
    if (const char* value = std::getenv(name)) peer.context.emplace_back(name, value);
  }
  return peer;
}

}  // namespace mhsa::bench
