// Packing for the bf16 GEMM (layouts in gemm_bf16.h), as plain loops over
// a float or bf16 source: the same code serves every kernel and target, and
// the values it writes do not depend on either.
#ifndef MHSA_SRC_BF16_PACK_H_
#define MHSA_SRC_BF16_PACK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "bf16.h"

namespace mhsa {

inline uint16_t ToBf16(float f) { return FloatToBf16(f); }
inline uint16_t ToBf16(uint16_t h) { return h; }

// A as k-pair panels for the bf16 dot-product kernels.
// dst: [ceil(m / kMR)][ceil(k / 2)][kMR][2]; padding rows and the odd step zero.
template <size_t kMR, typename T>
void PackAPairs(const T* a, size_t lda, size_t m, size_t k, uint16_t* dst) {
  const size_t pairs = (k + 1) / 2;
  for (size_t i0 = 0; i0 < m; i0 += kMR) {
    uint16_t* panel = dst + i0 * 2 * pairs;
    const size_t rows = std::min(kMR, m - i0);
    for (size_t r = 0; r < kMR; ++r) {
      uint16_t* out = panel + 2 * r;
      if (r < rows) {
        const T* src = a + (i0 + r) * lda;
        for (size_t p = 0; p < k; ++p) out[p / 2 * 2 * kMR + p % 2] = ToBf16(src[p]);
        if (k % 2) out[k / 2 * 2 * kMR + 1] = 0;
      } else {
        for (size_t q = 0; q < pairs; ++q) out[q * 2 * kMR] = out[q * 2 * kMR + 1] = 0;
      }
    }
  }
}

// A as float panels of bf16-rounded values for the widening fallback.
// dst: [ceil(m / kMR)][2 * ceil(k / 2)][kMR]; padding rows and the odd step zero.
template <size_t kMR, typename T>
void PackAWidened(const T* a, size_t lda, size_t m, size_t k, float* dst) {
  const size_t steps = (k + 1) / 2 * 2;
  for (size_t i0 = 0; i0 < m; i0 += kMR) {
    float* panel = dst + i0 * steps;
    const size_t rows = std::min(kMR, m - i0);
    for (size_t r = 0; r < kMR; ++r) {
      if (r < rows) {
        const T* src = a + (i0 + r) * lda;
        for (size_t p = 0; p < k; ++p) panel[p * kMR + r] = Bf16ToFloat(ToBf16(src[p]));
        if (k % 2) panel[k * kMR + r] = 0.0f;
      } else {
        for (size_t p = 0; p < steps; ++p) panel[p * kMR + r] = 0.0f;
      }
    }
  }
}

}  // namespace mhsa

#endif  // MHSA_SRC_BF16_PACK_H_
