// Argument checks for the API boundary. Each throws std::invalid_argument with
// a message that names what was expected and what was given. Never called in
// hot loops: the kernels trust what passed here.
#ifndef MHSA_SRC_CHECKS_H_
#define MHSA_SRC_CHECKS_H_

#include <cstddef>
#include <initializer_list>

namespace mhsa {

// `name` must be > 0.
void CheckPositive(const char* name, long long value);

// `pointer` must not be null.
void CheckNotNull(const char* name, const void* pointer);

// The product of `factors` (each already checked positive) as a count of
// floats; throws if the count, or its size in bytes, does not fit in size_t
// and ptrdiff_t. `what` names the array, e.g. "embedded".
size_t CheckedFloatCount(const char* what, std::initializer_list<long long> factors);

}  // namespace mhsa

#endif  // MHSA_SRC_CHECKS_H_
