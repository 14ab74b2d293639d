// The public API's contract: argument checking, weight round-trips, causality,
// head independence, copies, and concurrent Forward calls.
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "helpers.h"
#include "mhsa/mhsa.h"
#include "test_data.h"

namespace mhsa {
namespace {

using test::Random;

using test::Count;
using test::ExpectInvalid;

TEST(Constructor, RejectsBadSizes) {
  ExpectInvalid([] { MultiHeadedSelfAttention(0, 4, 2); }, {"embedding_dim", "0"});
  ExpectInvalid([] { MultiHeadedSelfAttention(4, -3, 1); }, {"attention_dim", "-3"});
  ExpectInvalid([] { MultiHeadedSelfAttention(4, 4, 0); }, {"num_heads", "0"});
  ExpectInvalid([] { MultiHeadedSelfAttention(4, 6, 4); },
                {"multiple", "attention_dim 6", "num_heads 4"});
  // 3 * INT_MAX * INT_MAX floats cannot be addressed.
  ExpectInvalid([] { MultiHeadedSelfAttention(INT_MAX, INT_MAX, 1); }, {"weights", "overflows"});
}

TEST(Constructor, ReportsSizes) {
  const MultiHeadedSelfAttention layer(5, 12, 3);
  EXPECT_EQ(layer.embedding_dim(), 5);
  EXPECT_EQ(layer.attention_dim(), 12);
  EXPECT_EQ(layer.num_heads(), 3);
  EXPECT_EQ(layer.head_dim(), 4);
}

TEST(Weights, SetGetRoundTripPerHead) {
  MultiHeadedSelfAttention layer(5, 6, 3);
  const size_t n = 2 * 5;
  for (int h = 0; h < 3; ++h) {
    const auto seed = static_cast<uint32_t>(10 * h);
    const auto q = Random(n, seed), k = Random(n, seed + 1), v = Random(n, seed + 2);
    layer.SetHeadWeights(h, q.data(), k.data(), v.data());
  }
  for (int h = 0; h < 3; ++h) {
    const auto seed = static_cast<uint32_t>(10 * h);
    std::vector<float> q(n), k(n), v(n);
    layer.GetHeadWeights(h, q.data(), k.data(), v.data());
    EXPECT_EQ(q, Random(n, seed));
    EXPECT_EQ(k, Random(n, seed + 1));
    EXPECT_EQ(v, Random(n, seed + 2));
  }
}

TEST(Weights, RejectsBadHeadAndNulls) {
  MultiHeadedSelfAttention layer(4, 4, 2);
  std::vector<float> w(8);
  ExpectInvalid([&] { layer.SetHeadWeights(2, w.data(), w.data(), w.data()); },
                {"head in [0, 2)", "2"});
  ExpectInvalid([&] { layer.GetHeadWeights(-1, w.data(), w.data(), w.data()); },
                {"head in [0, 2)", "-1"});
  ExpectInvalid([&] { layer.SetHeadWeights(0, nullptr, w.data(), w.data()); },
                {"query", "nullptr"});
  ExpectInvalid([&] { layer.SetHeadWeights(0, w.data(), nullptr, w.data()); }, {"key", "nullptr"});
  ExpectInvalid([&] { layer.GetHeadWeights(0, w.data(), w.data(), nullptr); },
                {"value", "nullptr"});
}

TEST(Forward, RejectsBadArguments) {
  const MultiHeadedSelfAttention layer(4, 4, 2);
  std::vector<float> x(16), out(16);
  ExpectInvalid([&] { layer.Forward(nullptr, 1, 4, out.data()); }, {"embedded", "nullptr"});
  ExpectInvalid([&] { layer.Forward(x.data(), 1, 4, nullptr); }, {"out", "nullptr"});
  ExpectInvalid([&] { layer.Forward(x.data(), 0, 4, out.data()); }, {"batch > 0", "0"});
  ExpectInvalid([&] { layer.Forward(x.data(), 1, -7, out.data()); }, {"context > 0", "-7"});
  ExpectInvalid([&] { layer.Forward(x.data(), 1, 4, x.data() + 2); }, {"overlapping"});
  // INT_MAX * INT_MAX * 4 floats cannot be addressed.
  ExpectInvalid([&] { layer.Forward(x.data(), INT_MAX, INT_MAX, out.data()); },
                {"embedded", "overflows"});
}

TEST(Forward, MovedFromLayerIsRefused) {
  MultiHeadedSelfAttention layer(4, 4, 2);
  MultiHeadedSelfAttention taken(std::move(layer));
  std::vector<float> x(4), out(4);
  // The moved-from object is valid but empty; using it is an argument error.
  ExpectInvalid(
      [&] { layer.Forward(x.data(), 1, 1, out.data()); },  // NOLINT(bugprone-use-after-move)
      {"moved from"});
  taken.Forward(x.data(), 1, 1, out.data());
}

TEST(Forward, CopyKeepsWeightsIndependently) {
  MultiHeadedSelfAttention layer(3, 4, 2);
  const auto w = Random(6, 5);
  layer.SetHeadWeights(1, w.data(), w.data(), w.data());
  MultiHeadedSelfAttention copy = layer;
  const auto other = Random(6, 6);
  layer.SetHeadWeights(1, other.data(), other.data(), other.data());
  std::vector<float> q(6), k(6), v(6);
  copy.GetHeadWeights(1, q.data(), k.data(), v.data());
  EXPECT_EQ(q, w);
  layer.GetHeadWeights(1, q.data(), k.data(), v.data());
  EXPECT_EQ(q, other);
}

// Poisoning every position after t with NaN leaves outputs 0..t bitwise
// unchanged: no query reads a later key or value.
TEST(Forward, IsCausal) {
  const int e = 7, a = 12, h = 3, batch = 2, context = 37;
  const MultiHeadedSelfAttention layer(e, a, h);
  const auto x = Random(Count(batch, context, e), 1);
  std::vector<float> clean(Count(batch, context, a));
  layer.Forward(x.data(), batch, context, clean.data());
  for (int t : {0, 1, 16, 35}) {
    std::vector<float> poisoned = x;
    for (int b = 0; b < batch; ++b) {
      for (int p = t + 1; p < context; ++p) {
        for (int i = 0; i < e; ++i) {
          poisoned[Count(b, context, e) + Count(p, e, 1) + static_cast<size_t>(i)] = NAN;
        }
      }
    }
    std::vector<float> out(clean.size());
    layer.Forward(poisoned.data(), batch, context, out.data());
    for (int b = 0; b < batch; ++b) {
      for (int p = 0; p < context; ++p) {
        for (int i = 0; i < a; ++i) {
          const size_t at = Count(b, context, a) + Count(p, a, 1) + static_cast<size_t>(i);
          if (p <= t) {
            ASSERT_EQ(std::memcmp(&out[at], &clean[at], sizeof(float)), 0)
                << "t=" << t << " b=" << b << " p=" << p << " i=" << i;
          } else {
            // The poison reaches exactly the positions that read it.
            ASSERT_TRUE(std::isnan(out[at])) << "t=" << t << " p=" << p;
          }
        }
      }
    }
  }
}

// Head h's slice of the output equals a one-head layer holding h's weights.
TEST(Forward, HeadsAreIndependent) {
  const int e = 9, d = 5, h = 3, batch = 2, context = 11;
  MultiHeadedSelfAttention layer(e, d * h, h);
  const size_t n = static_cast<size_t>(d * e);
  std::vector<std::vector<float>> weights;
  for (int head = 0; head < h; ++head) {
    weights.push_back(Random(3 * n, static_cast<uint32_t>(100 + head)));
    const float* w = weights.back().data();
    layer.SetHeadWeights(head, w, w + n, w + 2 * n);
  }
  const auto x = Random(Count(batch, context, e), 2);
  std::vector<float> out(Count(batch, context, d * h));
  layer.Forward(x.data(), batch, context, out.data());
  for (int head = 0; head < h; ++head) {
    MultiHeadedSelfAttention single(e, d, 1);
    const float* w = weights[static_cast<size_t>(head)].data();
    single.SetHeadWeights(0, w, w + n, w + 2 * n);
    std::vector<float> one(Count(batch, context, d));
    single.Forward(x.data(), batch, context, one.data());
    for (size_t row = 0; row < static_cast<size_t>(batch * context); ++row) {
      for (size_t i = 0; i < static_cast<size_t>(d); ++i) {
        ASSERT_EQ(out[row * static_cast<size_t>(d * h) + static_cast<size_t>(head * d) + i],
                  one[row * static_cast<size_t>(d) + i])
            << "head " << head << " row " << row << " i " << i;
      }
    }
  }
}

// Forward is const and may run on one object from several threads at once.
TEST(Forward, ConcurrentCallsAgree) {
  const int e = 16, a = 16, batch = 2, context = 64;
  const MultiHeadedSelfAttention layer(e, a, 4);
  const auto x = Random(Count(batch, context, e), 3);
  std::vector<float> want(Count(batch, context, a));
  layer.Forward(x.data(), batch, context, want.data());
  std::vector<std::vector<float>> got(4, std::vector<float>(want.size()));
  std::vector<std::thread> threads;
  for (auto& out : got) {
    threads.emplace_back([&] { layer.Forward(x.data(), batch, context, out.data()); });
  }
  for (auto& t : threads) t.join();
  for (const auto& out : got) EXPECT_EQ(out, want);
}

}  // namespace
}  // namespace mhsa
