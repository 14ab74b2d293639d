// The problem's exact numbers: PyTorch's initial weights bit for bit, and the
// golden cases' outputs after rounding to 4 decimals.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "golden_check.h"
#include "mhsa/mhsa.h"
#include "test_data.h"

namespace mhsa {
namespace {

TEST(GoldenInitWeights, BitExactWithTorch) {
  const auto doc = test::LoadJson("golden_init_weights.json");
  ASSERT_FALSE(doc["cases"].empty());
  for (const auto& c : doc["cases"]) {
    const int e = c["embedding_dim"].get<int>();
    const int d = c["head_dim"].get<int>();
    SCOPED_TRACE("embedding_dim=" + std::to_string(e) + " head_dim=" + std::to_string(d));
    // Two heads: the second must start from the same seed, so the same weights.
    MultiHeadedSelfAttention layer(e, 2 * d, 2);
    const size_t n = static_cast<size_t>(d) * static_cast<size_t>(e);
    for (int head = 0; head < 2; ++head) {
      std::vector<float> q(n), k(n), v(n);
      layer.GetHeadWeights(head, q.data(), k.data(), v.data());
      const std::vector<float> want_q = test::Flat(c["query_gen"]);
      const std::vector<float> want_k = test::Flat(c["key_gen"]);
      const std::vector<float> want_v = test::Flat(c["value_gen"]);
      ASSERT_EQ(want_q.size(), n);
      for (size_t i = 0; i < n; ++i) {
        // Bitwise: the JSON holds each float32 printed with full precision.
        EXPECT_EQ(q[i], want_q[i]) << "query " << i;
        EXPECT_EQ(k[i], want_k[i]) << "key " << i;
        EXPECT_EQ(v[i], want_v[i]) << "value " << i;
      }
    }
  }
}

TEST(GoldenCases, ReproducedAfterRounding) {
  const auto doc = test::LoadJson("golden_seed_cases.json");
  ASSERT_EQ(doc["cases"].size(), 28u);
  int index = 0;
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE("case " + std::to_string(index++));
    const int e = c["embedding_dim"].get<int>();
    const int a = c["attention_dim"].get<int>();
    const int h = c["num_heads"].get<int>();
    const int batch = static_cast<int>(c["embedded"].size());
    const int context = static_cast<int>(c["embedded"][0].size());
    const std::vector<float> x = test::Flat(c["embedded"]);
    const std::vector<float> want = test::Flat(c["expected"]);
    ASSERT_EQ(want.size(), static_cast<size_t>(batch * context * a));
    MultiHeadedSelfAttention layer(e, a, h);
    std::vector<float> out(want.size());
    layer.Forward(x.data(), batch, context, out.data());
    RoundToDecimals(out.data(), out.size(), 4);
    test::ExpectGolden(test::CheckGolden(e, a, h, x, batch, context, want, out), want.size());
  }
}

TEST(RoundToDecimals, MatchesTorchRound) {
  // Expectations worked out by hand from the definition. 2.5 and 3.5 show
  // ties to even. 0.12345f is 0.1234500035..., but its product with 1e4 in
  // float is exactly 1234.5 (the tail is lost), so it rounds to even: 0.1234,
  // as torch gives.
  std::vector<float> data = {2.5f, 3.5f, -2.5f, 0.12345f, -0.00004f, 1234.5678f};
  RoundToDecimals(data.data(), 3, 0);
  EXPECT_EQ(data[0], 2.0f);
  EXPECT_EQ(data[1], 4.0f);
  EXPECT_EQ(data[2], -2.0f);
  RoundToDecimals(data.data() + 3, 2, 4);
  EXPECT_EQ(data[3], 1234.0f / 10000.0f);
  EXPECT_EQ(data[4], -0.0f);
  EXPECT_TRUE(std::signbit(data[4]));
  RoundToDecimals(data.data() + 5, 1, -2);  // nearbyint(12.345678) * 100
  EXPECT_EQ(data[5], 1200.0f);
  EXPECT_THROW(RoundToDecimals(data.data(), 1, 39), std::invalid_argument);
  EXPECT_THROW(RoundToDecimals(nullptr, 1, 4), std::invalid_argument);
  RoundToDecimals(nullptr, 0, 4);  // Nothing to do, nothing to check.
}

}  // namespace
}  // namespace mhsa
