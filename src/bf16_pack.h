// Packing of A for the widening bf16 kernels (layout in gemm_bf16.h), as
// plain loops over a float or bf16 source: the same code serves every
// target, and the values it writes do not depend on it. (The dot-product
// kernels' k-pair panels and packed B: PackPairRows, bf16-inl.h.)
#ifndef MHSA_SRC_BF16_PACK_H_
#define MHSA_SRC_BF16_PACK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "bf16.h"

namespace mhsa {

// count values of a row as bf16 patterns into dst: floats rounded by the
// vectorized bulk conversion (bitwise the scalar one), bf16 copied.
inline void RowToBf16(const float* src, uint16_t* dst, size_t count) {
  FloatToBf16(src, dst, count);
}
inline void RowToBf16(const uint16_t* src, uint16_t* dst, size_t count) {
  std::copy(src, src + count, dst);
}

// Steps of a row per pass through the packers' bf16 buffer (even).
inline constexpr size_t kPackChunk = 256;

// A as float panels of bf16-rounded values for the widening fallback.
// dst: [ceil(m / kMR)][2 * ceil(k / 2)][kMR]; padding rows and the odd step zero.
// Rounded in vectors through a buffer.
template <size_t kMR, typename T>
void PackAWidened(const T* a, size_t lda, size_t m, size_t k, float* dst) {
  const size_t steps = (k + 1) / 2 * 2;
  uint16_t buffer[kPackChunk];
  for (size_t i0 = 0; i0 < m; i0 += kMR) {
    float* panel = dst + i0 * steps;
    const size_t rows = std::min(kMR, m - i0);
    for (size_t r = 0; r < kMR; ++r) {
      if (r < rows) {
        const T* src = a + (i0 + r) * lda;
        for (size_t p0 = 0; p0 < k; p0 += kPackChunk) {
          const size_t count = std::min(kPackChunk, k - p0);
          RowToBf16(src + p0, buffer, count);
          for (size_t p = 0; p < count; ++p) panel[(p0 + p) * kMR + r] = Bf16ToFloat(buffer[p]);
        }
        if (k % 2) panel[k * kMR + r] = 0.0f;
      } else {
        for (size_t p = 0; p < steps; ++p) panel[p * kMR + r] = 0.0f;
      }
    }
  }
}

}  // namespace mhsa

#endif  // MHSA_SRC_BF16_PACK_H_
