// Packing for the bf16 GEMM (layouts in gemm_bf16.h), as plain loops over
// a float or bf16 source: the same code serves every kernel and target, and
// the values it writes do not depend on either.
#ifndef MHSA_SRC_BF16_PACK_H_
#define MHSA_SRC_BF16_PACK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

// A as k-pair panels for the bf16 dot-product kernels.
// dst: [ceil(m / kMR)][ceil(k / 2)][kMR][2]; padding rows and the odd step zero.
// Each row is rounded in vectors into a buffer, then its pairs are stored
// 2 * kMR values apart, one 32-bit word each: rounding element by element
// took 15% of the layer's time on AVX3_BF16 (the p block of every key block).
// dst is untyped so that &PackAPairs<kMR, T> is a Bf16Kernel packer as it is.
template <size_t kMR, typename T>
void PackAPairs(const T* a, size_t lda, size_t m, size_t k, void* dst_bytes) {
  auto* dst = static_cast<uint16_t*>(dst_bytes);
  const size_t pairs = (k + 1) / 2;
  uint16_t buffer[kPackChunk + 1];
  for (size_t i0 = 0; i0 < m; i0 += kMR) {
    uint16_t* panel = dst + i0 * 2 * pairs;
    const size_t rows = std::min(kMR, m - i0);
    for (size_t r = 0; r < kMR; ++r) {
      uint16_t* out = panel + 2 * r;
      if (r < rows) {
        const T* src = a + (i0 + r) * lda;
        for (size_t p0 = 0; p0 < k; p0 += kPackChunk) {
          const size_t count = std::min(kPackChunk, k - p0);
          RowToBf16(src + p0, buffer, count);
          buffer[count] = 0;  // The odd step's pad, when count is odd.
          for (size_t q = 0; q < (count + 1) / 2; ++q) {
            std::memcpy(out + (p0 / 2 + q) * 2 * kMR, buffer + 2 * q, 4);
          }
        }
      } else {
        for (size_t q = 0; q < pairs; ++q) out[q * 2 * kMR] = out[q * 2 * kMR + 1] = 0;
      }
    }
  }
}

// A as float panels of bf16-rounded values for the widening fallback.
// dst: [ceil(m / kMR)][2 * ceil(k / 2)][kMR]; padding rows and the odd step zero.
// Rounded in vectors through a buffer, as PackAPairs.
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
