#include "checks.h"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace mhsa {
void ThrowInvalid(const std::string& message) { throw std::invalid_argument("mhsa: " + message); }

uint64_t MaxFloatCount() {
  // Bytes must fit in ptrdiff_t so that pointer differences stay defined.
  return static_cast<uint64_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(float);
}

void CheckPositive(const char* name, long long value) {
  if (value <= 0)
    ThrowInvalid(std::string("expected ") + name + " > 0, got " + std::to_string(value));
}

void CheckNonNegative(const char* name, long long value) {
  if (value < 0)
    ThrowInvalid(std::string("expected ") + name + " >= 0, got " + std::to_string(value));
}

void CheckNotNull(const char* name, const void* pointer) {
  if (pointer == nullptr)
    ThrowInvalid(std::string("expected a non-null ") + name + " pointer, got nullptr");
}

void CheckLeadingDimension(const char* name, long long ld, long long cols) {
  const long long least = cols > 1 ? cols : 1;
  if (ld < least) {
    ThrowInvalid(std::string("expected ") + name + " >= " + std::to_string(least) + ", got " +
                 std::to_string(ld));
  }
}

size_t CheckedFloatCount(const char* what, std::initializer_list<long long> factors) {
  const uint64_t limit = MaxFloatCount();
  uint64_t count = 1;
  bool overflow = false;
  for (long long factor : factors) {
    const auto f = static_cast<uint64_t>(factor);
    if (f != 0 && count > limit / f) overflow = true;
    if (!overflow) count *= f;
  }
  if (overflow) {
    std::string shape;
    for (long long factor : factors) {
      shape += (shape.empty() ? "" : " x ") + std::to_string(factor);
    }
    ThrowInvalid(std::string("expected ") + what + " to hold at most " + std::to_string(limit) +
                 " floats, got " + shape + " (overflows)");
  }
  return static_cast<size_t>(count);
}

size_t CheckedMatrixCount(const char* what, long long rows, long long cols, long long ld) {
  if (rows <= 0 || cols <= 0) return 0;
  const uint64_t limit = MaxFloatCount();
  const auto r = static_cast<uint64_t>(rows - 1), c = static_cast<uint64_t>(cols),
             l = static_cast<uint64_t>(ld);
  // (rows - 1) * ld + cols, each step checked.
  if ((l != 0 && r > limit / l) || r * l > limit - c) {
    ThrowInvalid(std::string("expected ") + what + " to span at most " + std::to_string(limit) +
                 " floats, got " + std::to_string(rows) + " rows of stride " + std::to_string(ld) +
                 " (overflows)");
  }
  return static_cast<size_t>(r * l + c);
}

void CheckDisjoint(const char* a_name, const void* a, size_t a_count, const char* b_name,
                   const void* b, size_t b_count) {
  if (a_count == 0 || b_count == 0) return;
  const auto begin_a = reinterpret_cast<uintptr_t>(a), begin_b = reinterpret_cast<uintptr_t>(b);
  if (begin_a < begin_b + b_count * sizeof(float) && begin_b < begin_a + a_count * sizeof(float)) {
    ThrowInvalid(std::string("expected ") + a_name + " and " + b_name +
                 " to be separate arrays, got overlapping ones");
  }
}

}  // namespace mhsa
