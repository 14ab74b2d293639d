// The project's one numerical rule. A fast float32 result and the plain
// float32 reference are both compared with the float64 reference (double
// sums: src/reference.h says why no wider); the fast result's max error must
// be at most twice the plain reference's own max error, plus a floor of one
// float epsilon of the largest magnitude (so that a reference that happens to
// be exact does not demand exactness of a different but equally valid
// summation order).
#ifndef MHSA_TESTS_ERROR_RULE_H_
#define MHSA_TESTS_ERROR_RULE_H_

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mhsa {
namespace test {

inline ::testing::AssertionResult WithinRule(const std::vector<float>& fast,
                                             const std::vector<float>& plain,
                                             const std::vector<double>& truth) {
  double fast_error = 0, plain_error = 0, magnitude = 0;
  size_t worst = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (std::isnan(truth[i])) {
      if (!std::isnan(fast[i])) {
        return ::testing::AssertionFailure()
               << "element " << i << ": expected NaN, got " << fast[i];
      }
      continue;
    }
    const double e = std::fabs(fast[i] - truth[i]);
    if (!(e <= fast_error)) {  // Also catches a NaN where truth is a number.
      fast_error = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
      worst = i;
    }
    plain_error = std::max(plain_error, std::fabs(plain[i] - truth[i]));
    magnitude = std::max(magnitude, std::fabs(truth[i]));
  }
  const double bound = 2 * plain_error + std::numeric_limits<float>::epsilon() * magnitude;
  if (fast_error <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max error " << fast_error << " at element " << worst << " (got " << fast[worst]
         << ", exact " << truth[worst] << ") exceeds 2 x " << plain_error << " + eps x "
         << magnitude << " = " << bound;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_ERROR_RULE_H_
