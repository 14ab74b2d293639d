// bfloat16: the upper 16 bits of a float32 (sign, 8 exponent bits, 7
// mantissa bits). Values travel as uint16_t bit patterns; the public API's
// `struct bf16 { uint16_t bits; }` has the same layout.
//
// Float -> bf16 rounds to nearest, ties to even, as IEEE 754 does for any
// narrower format: overflow goes to infinity, float subnormals become bf16
// subnormals (or zero) by the same rounding, infinities stay infinities, and
// a NaN stays a NaN of the same sign, made quiet (its top 7 payload bits are
// kept, the quiet bit is set, so truncation can never turn it into an
// infinity). bf16 -> float is exact.
#ifndef MHSA_SRC_BF16_H_
#define MHSA_SRC_BF16_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mhsa {

inline uint16_t FloatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: keep sign and payload top, set quiet bit.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  // Adding 0x7FFF rounds half-way cases down, 0x8000 rounds them up: the
  // kept part's lowest bit picks, which is ties to even. A carry out of the
  // mantissa bumps the exponent, and out of the largest finite exponent it
  // lands exactly on infinity (0x7F80).
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float Bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// The float nearest to f among the bf16 values: Bf16ToFloat(FloatToBf16(f)).
inline float RoundToBf16(float f) { return Bf16ToFloat(FloatToBf16(f)); }

// Bulk conversions, vectorized for the chosen SIMD target; bitwise equal to
// the scalar functions above. src and dst may not overlap.
void FloatToBf16(const float* src, uint16_t* dst, size_t count);
void Bf16ToFloat(const uint16_t* src, float* dst, size_t count);

}  // namespace mhsa

#endif  // MHSA_SRC_BF16_H_
