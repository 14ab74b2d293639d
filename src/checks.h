// Argument checks for the API boundary. Each throws std::invalid_argument with
// a message that names what was expected and what was given; messages are
// built only when a check fails, so a passing call allocates nothing. Never
// called in hot loops: the kernels trust what passed here.
#ifndef MHSA_SRC_CHECKS_H_
#define MHSA_SRC_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace mhsa {

// Throws std::invalid_argument("mhsa: " + message).
[[noreturn]] void ThrowInvalid(const std::string& message);

// `name` must be > 0.
void CheckPositive(const char* name, long long value);

// `name` must be >= 0.
void CheckNonNegative(const char* name, long long value);

// `pointer` must not be null.
void CheckNotNull(const char* name, const void* pointer);

// A leading dimension (row stride) must be at least max(1, cols).
void CheckLeadingDimension(const char* name, long long ld, long long cols);

// The product of `factors` (each already checked non-negative) as a count
// of floats; throws if the count, or its size in bytes, does not fit in
// size_t and ptrdiff_t. `what` names the array, e.g. "embedded".
size_t CheckedFloatCount(const char* what, std::initializer_list<long long> factors);

// Floats spanned by a rows x cols matrix with row stride ld (0 when empty),
// overflow-checked as above.
size_t CheckedMatrixCount(const char* what, long long rows, long long cols, long long ld);

// The byte ranges [a, a + a_count floats) and [b, b + b_count floats) must
// not overlap.
void CheckDisjoint(const char* a_name, const void* a, size_t a_count, const char* b_name,
                   const void* b, size_t b_count);

// Largest float count whose byte size fits in ptrdiff_t.
uint64_t MaxFloatCount();

}  // namespace mhsa

#endif  // MHSA_SRC_CHECKS_H_
