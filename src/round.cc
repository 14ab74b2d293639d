#include <cmath>
#include <stdexcept>
#include <string>

#include "checks.h"
#include "mhsa/mhsa.h"

namespace mhsa {

void RoundToDecimals(float* data, size_t count, int decimals) {
  if (decimals < -38 || decimals > 38) {
    throw std::invalid_argument("mhsa: expected decimals in [-38, 38], got " +
                                std::to_string(decimals));
  }
  if (count == 0) return;
  CheckNotNull("data", data);
  // torch.round(x, decimals) computes in the tensor's own type (float here):
  // the power of ten is rounded to float once, then one multiply (or divide),
  // nearbyint in the current rounding mode (ties to even), and the inverse.
  const bool negative = decimals < 0;
  const float ten_pow = static_cast<float>(std::pow(10.0, negative ? -decimals : decimals));
  for (size_t i = 0; i < count; ++i) {
    data[i] = negative ? std::nearbyint(data[i] / ten_pow) * ten_pow
                       : std::nearbyint(data[i] * ten_pow) / ten_pow;
  }
}

}  // namespace mhsa
