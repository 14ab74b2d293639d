// Byte counts in 64-bit arithmetic that saturates instead of wrapping: a
// count past 2^64 - 1 stays at 2^64 - 1, larger than any memory, so a check
// against a machine's memory refuses it rather than seeing a small number.
#ifndef MHSA_SRC_CLI_SATURATING_H_
#define MHSA_SRC_CLI_SATURATING_H_

#include <cstdint>
#include <limits>

namespace mhsa {
namespace cli {

inline constexpr uint64_t kSaturated = std::numeric_limits<uint64_t>::max();

inline constexpr uint64_t SatAdd(uint64_t a, uint64_t b) {
  return a > kSaturated - b ? kSaturated : a + b;
}

inline constexpr uint64_t SatMul(uint64_t a, uint64_t b) {
  return (a != 0 && b > kSaturated / a) ? kSaturated : a * b;
}

// The product of every factor, saturated.
template <typename... Rest>
constexpr uint64_t SatMul(uint64_t a, uint64_t b, Rest... rest) {
  return SatMul(SatMul(a, b), static_cast<uint64_t>(rest)...);
}

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_SATURATING_H_
