// Strided attention tensors for tests: the layouts the public Attention
// must handle, in buffers whose every element outside the view is NaN, so a
// kernel that reads outside the view poisons its output and one that
// writes outside it is caught (Untouched).
#ifndef MHSA_TESTS_ATTENTION_TENSOR_H_
#define MHSA_TESTS_ATTENTION_TENSOR_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "mhsa/attention.h"
#include "test_data.h"

namespace mhsa {
namespace test {

enum class Layout {
  kBTHD,         // (B, T, H, D), dense
  kBHTD,         // (B, H, T, D), dense
  kInterleaved,  // the layer's q/k/v rows: [B][T][3][H][D], one third of it
  kPadded,       // every stride padded, head_dim not a multiple of anything
  kReversed,     // positions stored last to first (negative position stride)
};

inline const char* Name(Layout layout) {
  switch (layout) {
    case Layout::kBTHD:
      return "BTHD";
    case Layout::kBHTD:
      return "BHTD";
    case Layout::kInterleaved:
      return "interleaved";
    case Layout::kPadded:
      return "padded";
    case Layout::kReversed:
      return "reversed";
  }
  return "?";
}

// A [batch][len][heads][dim] view into a buffer whose every other element is
// NaN: a kernel that reads outside the view poisons its output, one that
// writes outside it is caught by Untouched().
struct Tensor {
  std::vector<float> buffer;
  ptrdiff_t origin = 0;
  Strides strides{};
  size_t batch, len, heads, dim;

  Tensor(Layout layout, size_t b, size_t t, size_t h, size_t d)
      : batch(b), len(t), heads(h), dim(d) {
    const auto B = static_cast<int64_t>(b), T = static_cast<int64_t>(t),
               H = static_cast<int64_t>(h), D = static_cast<int64_t>(d);
    size_t size = 0;
    switch (layout) {
      case Layout::kBTHD:
        strides = {T * H * D, H * D, D};
        size = b * t * h * d;
        break;
      case Layout::kBHTD:
        strides = {H * T * D, D, T * D};
        size = b * t * h * d;
        break;
      case Layout::kInterleaved:
        strides = {T * 3 * H * D, 3 * H * D, D};
        origin = H * D;  // The k third, say.
        size = b * t * 3 * h * d;
        break;
      case Layout::kPadded:
        strides = {(T + 1) * (H * (D + 3) + 5), H * (D + 3) + 5, D + 3};
        origin = 7;
        size = static_cast<size_t>(origin + B * strides.batch);
        break;
      case Layout::kReversed:
        strides = {T * H * D, -H * D, D};
        origin = (T - 1) * H * D;
        size = b * t * h * d;
        break;
    }
    buffer.assign(std::max<size_t>(size, 1) + 8, std::numeric_limits<float>::quiet_NaN());
  }

  float* data() { return buffer.data() + origin; }
  const float* data() const { return buffer.data() + origin; }
  size_t Index(size_t b, size_t i, size_t h) const {
    return static_cast<size_t>(origin + static_cast<int64_t>(b) * strides.batch +
                               static_cast<int64_t>(i) * strides.position +
                               static_cast<int64_t>(h) * strides.head);
  }
  void FillRandom(uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    const std::vector<float> values = test::Random(batch * len * heads * dim, seed, lo, hi);
    size_t n = 0;
    for (size_t b = 0; b < batch; ++b) {
      for (size_t i = 0; i < len; ++i) {
        for (size_t h = 0; h < heads; ++h) {
          for (size_t d = 0; d < dim; ++d) buffer[Index(b, i, h) + d] = values[n++];
        }
      }
    }
  }
  // The view's rows [b][i][h] for i < lengths[b] as a dense vector.
  std::vector<float> Dense(const std::vector<int>& lengths) const {
    std::vector<float> out;
    for (size_t b = 0; b < batch; ++b) {
      for (size_t i = 0; i < static_cast<size_t>(lengths[b]); ++i) {
        for (size_t h = 0; h < heads; ++h) {
          for (size_t d = 0; d < dim; ++d) out.push_back(buffer[Index(b, i, h) + d]);
        }
      }
    }
    return out;
  }
  // Every element outside rows i < lengths[b] is still NaN.
  ::testing::AssertionResult Untouched(const std::vector<int>& lengths) const {
    std::vector<bool> inside(buffer.size(), false);
    for (size_t b = 0; b < batch; ++b) {
      for (size_t i = 0; i < static_cast<size_t>(lengths[b]); ++i) {
        for (size_t h = 0; h < heads; ++h) {
          for (size_t d = 0; d < dim; ++d) inside[Index(b, i, h) + d] = true;
        }
      }
    }
    for (size_t n = 0; n < buffer.size(); ++n) {
      if (!inside[n] && !std::isnan(buffer[n])) {
        return ::testing::AssertionFailure() << "wrote element " << n << " outside the rows";
      }
    }
    return ::testing::AssertionSuccess();
  }
};

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_ATTENTION_TENSOR_H_
