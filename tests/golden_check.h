// The rule by which an output, rounded to 4 decimals, reproduces a golden case.
//
// Equality, element by element, with one principled exception. Where the
// exact value (the float64 reference) lies within float32 computation error
// of a rounding tie (a point ...x5 at the fifth decimal), PyTorch's digit was
// decided by the summation order of its BLAS, which no other float32
// implementation shares; there, the neighbouring 4-decimal value is accepted.
// "Within float32 error" is the project's one numerical rule: twice the plain
// float32 reference's own max error on that case, plus a floor of one float
// epsilon of the largest magnitude. Each such element is reported.
#ifndef MHSA_TESTS_GOLDEN_CHECK_H_
#define MHSA_TESTS_GOLDEN_CHECK_H_

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mhsa/mhsa.h"
#include "reference.h"
#include "torch_init.h"

namespace mhsa {
namespace test {

struct GoldenVerdict {
  size_t exact = 0;
  std::vector<std::string> ties;      // Accepted: within float error of a tie.
  std::vector<std::string> failures;  // Anything else that differs.
};

// x: [batch][context][embedding_dim]; want and rounded: [batch][context][attention_dim].
inline GoldenVerdict CheckGolden(int embedding_dim, int attention_dim, int num_heads,
                                 const std::vector<float>& x, int batch, int context,
                                 const std::vector<float>& want,
                                 const std::vector<float>& rounded) {
  const auto e = static_cast<size_t>(embedding_dim), a = static_cast<size_t>(attention_dim),
             h = static_cast<size_t>(num_heads), b = static_cast<size_t>(batch),
             t = static_cast<size_t>(context);
  std::vector<float> weights(3 * a * e);
  ProblemInitWeights(e, a / h, h, weights.data());
  std::vector<double> truth(want.size());
  std::vector<float> single(want.size());
  ref::Forward<double>(x.data(), b, t, e, weights.data(), h, a / h, truth.data());
  ref::Forward<float>(x.data(), b, t, e, weights.data(), h, a / h, single.data());
  double max_error = 0, max_magnitude = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    max_error = std::max(max_error, std::fabs(single[i] - truth[i]));
    max_magnitude = std::max(max_magnitude, std::fabs(truth[i]));
  }
  const double slack = 2 * max_error + std::numeric_limits<float>::epsilon() * max_magnitude;

  GoldenVerdict verdict;
  for (size_t i = 0; i < want.size(); ++i) {
    if (rounded[i] == want[i]) {
      ++verdict.exact;
      continue;
    }
    const double lo = std::min<double>(rounded[i], want[i]);
    const double hi = std::max<double>(rounded[i], want[i]);
    const bool neighbours = std::nearbyint(hi * 1e4) - std::nearbyint(lo * 1e4) == 1;
    const double tie = (std::nearbyint(lo * 1e4) + 0.5) / 1e4;
    std::ostringstream what;
    what.precision(10);
    what << "element " << i << ": got " << rounded[i] << ", golden " << want[i] << ", exact value "
         << truth[i] << ", tie " << tie << ", float32 error bound " << slack;
    (neighbours && std::fabs(truth[i] - tie) <= slack ? verdict.ties : verdict.failures)
        .push_back(what.str());
  }
  return verdict;
}

// The verdict as test results: each failure fails the test, each accepted
// tie is printed (so every run shows which elements relied on the rule), and
// every element is either exact or an accepted tie.
inline void ExpectGolden(const GoldenVerdict& verdict, size_t elements) {
  for (const auto& failure : verdict.failures) ADD_FAILURE() << failure;
  for (const auto& tie : verdict.ties) std::printf("accepted at a rounding tie: %s\n", tie.c_str());
  EXPECT_EQ(verdict.exact + verdict.ties.size(), elements);
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_GOLDEN_CHECK_H_
