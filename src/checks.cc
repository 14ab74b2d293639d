#include "checks.h"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace mhsa {

void CheckPositive(const char* name, long long value) {
  if (value <= 0) {
    throw std::invalid_argument(std::string("mhsa: expected ") + name + " > 0, got " +
                                std::to_string(value));
  }
}

void CheckNotNull(const char* name, const void* pointer) {
  if (pointer == nullptr) {
    throw std::invalid_argument(std::string("mhsa: expected a non-null ") + name +
                                " pointer, got nullptr");
  }
}

size_t CheckedFloatCount(const char* what, std::initializer_list<long long> factors) {
  // Bytes must fit in ptrdiff_t so that pointer differences stay defined.
  const uint64_t limit =
      static_cast<uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(float);
  uint64_t count = 1;
  std::string shape;
  bool overflow = false;
  for (long long factor : factors) {
    shape += (shape.empty() ? "" : " x ") + std::to_string(factor);
    const uint64_t f = static_cast<uint64_t>(factor);
    if (f != 0 && count > limit / f) overflow = true;
    if (!overflow) count *= f;
  }
  if (overflow) {
    throw std::invalid_argument(std::string("mhsa: expected ") + what + " to hold at most " +
                                std::to_string(limit) + " floats, got " + shape + " (overflows)");
  }
  return static_cast<size_t>(count);
}

}  // namespace mhsa
