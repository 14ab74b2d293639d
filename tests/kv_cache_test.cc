// The layer with a KV cache: a prefill, one-token steps and chunks of any
// length give, position by position, what one Forward over the whole
// sequence gives (by the project's error rule, against the float64
// reference of the whole sequence), on every target; and a cache refuses
// what would corrupt it, unchanged.
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "error_rule.h"
#include "helpers.h"
#include "mhsa/mhsa.h"
#include "reference.h"
#include "target_param.h"
#include "test_data.h"

namespace mhsa {
namespace {

using test::InPieces;
using test::LayerShape;
using test::RandomPieces;

using KVCacheTest = test::PerTarget;

TEST_P(KVCacheTest, PiecesMatchTheWholeSequence) {
  // The last shape has one (sequence, head) pair, fewer than the threads:
  // a piece of more than two query blocks (the whole 130) is shared by two
  // tasks, so its new keys are appended to the cache before the attention
  // starts (without that pass the piece of 130 fails), where elsewhere each
  // pair's own task appends them.
  const LayerShape shapes[] = {
      {2, 40, 24, 8, 4}, {1, 97, 7, 3, 2}, {1, 600, 16, 16, 2}, {1, 130, 9, 5, 1}};
  uint32_t seed = 1;
  for (const LayerShape& s : shapes) {
    const MultiHeadedSelfAttention layer =
        test::RandomLayer(s.embedding_dim, s.head_dim * s.num_heads, s.num_heads, seed);
    const std::vector<float> weights = test::AllWeights(layer);
    const auto x = test::Random(
        static_cast<size_t>(s.batch) * static_cast<size_t>(s.context * s.embedding_dim), seed + 50);
    const size_t n = static_cast<size_t>(s.batch * s.context * layer.attention_dim());
    std::vector<double> truth(n);
    std::vector<float> plain(n);
    const auto sz = [](int v) { return static_cast<size_t>(v); };
    ref::Forward(x.data(), sz(s.batch), sz(s.context), sz(s.embedding_dim), weights.data(),
                 sz(s.num_heads), sz(s.head_dim), truth.data());
    ref::Forward(x.data(), sz(s.batch), sz(s.context), sz(s.embedding_dim), weights.data(),
                 sz(s.num_heads), sz(s.head_dim), plain.data());
    std::vector<std::vector<int>> schedules = {
        {s.context}, std::vector<int>(static_cast<size_t>(s.context), 1), {1, s.context - 1}};
    for (uint32_t r = 0; r < 4; ++r) schedules.push_back(RandomPieces(s.context, seed * 10 + r));
    KVCache cache(layer, s.batch, s.context + 3);
    for (const auto& pieces : schedules) {
      cache.Clear();
      // A drafted piece that is rolled back first must leave no trace.
      std::vector<float> draft(static_cast<size_t>(s.batch * 2 * layer.attention_dim()));
      const auto junk = test::Random(static_cast<size_t>(s.batch * 2 * s.embedding_dim), 99);
      layer.Forward(junk.data(), s.batch, 2, draft.data(), cache);
      cache.Truncate(0);
      const std::vector<float> fast = InPieces(layer, x, s, pieces, &cache);
      std::string split;
      for (int p : pieces) split += std::to_string(p) + " ";
      ASSERT_TRUE(test::WithinRule(fast, plain, truth))
          << "T=" << s.context << " D=" << s.head_dim << " pieces " << split;
    }
    ++seed;
  }
}

// The cache holds k = x·Wkᵀ and v = x·Wvᵀ at [batch][head][position][dim].
TEST_P(KVCacheTest, StoresKeysAndValuesByHead) {
  const LayerShape s{2, 5, 6, 4, 3};
  const MultiHeadedSelfAttention layer = test::RandomLayer(6, 12, 3, 7);
  const std::vector<float> weights = test::AllWeights(layer);
  const auto x = test::Random(2 * 5 * 6, 8);
  KVCache cache(layer, 2, 9);  // Room for 9 positions: the layout's stride.
  std::vector<float> out(2 * 5 * 12);
  layer.Forward(x.data(), 2, 5, out.data(), cache);
  test::ForEachCachedValue(
      s, 9, x, weights, [](float value) { return value; },
      [&](size_t at, double k, double v, const std::string& where) {
        EXPECT_NEAR(cache.keys()[at], k, 1e-5) << where;
        EXPECT_NEAR(cache.values()[at], v, 1e-5) << where;
      });
}

MHSA_INSTANTIATE_PER_TARGET(KVCacheTest);

// Every refusal leaves the cache as it was: the next valid call continues
// the sequence exactly as if the refused one had not happened.
TEST(KVCacheContract, RefusesWhatWouldCorruptIt) {
  MultiHeadedSelfAttention layer = test::RandomLayer(8, 8, 2, 3);
  const auto x = test::Random(2 * 6 * 8, 4);
  std::vector<float> out(2 * 6 * 8), expected(2 * 6 * 8), got(2 * 6 * 8);
  KVCache cache(layer, 2, 6);
  KVCache reference_cache(layer, 2, 6);
  layer.Forward(x.data(), 2, 3, out.data(), cache);
  layer.Forward(x.data(), 2, 3, out.data(), reference_cache);
  const auto snapshot = [](const KVCache& c) {
    return std::vector<float>(c.keys(), c.keys() + 2 * 2 * 6 * 4);
  };
  const std::vector<float> keys_before = snapshot(cache);

  test::ExpectInvalid([&] { layer.Forward(x.data(), 2, 4, out.data(), cache); },
                      {"at most 3 new positions"});
  test::ExpectInvalid([&] { layer.Forward(x.data(), 1, 1, out.data(), cache); },
                      {"expected batch 2"});
  const MultiHeadedSelfAttention other_shape = test::RandomLayer(8, 8, 4, 5);
  test::ExpectInvalid([&] { other_shape.Forward(x.data(), 2, 1, out.data(), cache); },
                      {"made for a layer with 4 heads of 2"});
  const MultiHeadedSelfAttention other_weights = test::RandomLayer(8, 8, 2, 6);
  test::ExpectInvalid([&] { other_weights.Forward(x.data(), 2, 1, out.data(), cache); },
                      {"filled with other weights"});
  EXPECT_EQ(cache.size(), 3);
  EXPECT_EQ(snapshot(cache), keys_before);

  // A copy of the layer has the same weights: it may continue the cache.
  const MultiHeadedSelfAttention copy = layer;
  copy.Forward(x.data() + 3 * 8, 1 * 2, 1, got.data(), cache);
  layer.Forward(x.data() + 3 * 8, 2, 1, expected.data(), reference_cache);
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), 2 * 8 * sizeof(float)), 0);

  // New weights make the filled cache stale, until it is cleared.
  std::vector<float> w(3 * 4 * 8, 0.25f);
  layer.SetHeadWeights(1, w.data(), w.data() + 32, w.data() + 64);
  test::ExpectInvalid([&] { layer.Forward(x.data(), 2, 1, out.data(), cache); },
                      {"filled with other weights"});
  cache.Clear();
  EXPECT_EQ(cache.size(), 0);
  layer.Forward(x.data(), 2, 6, out.data(), cache);
  EXPECT_EQ(cache.size(), 6);

  // Truncating forgets the last positions; more than were cached is refused.
  cache.Truncate(4);
  EXPECT_EQ(cache.size(), 4);
  test::ExpectInvalid([&] { cache.Truncate(5); }, {"size in [0, 4]"});
  test::ExpectInvalid([&] { cache.Truncate(-1); }, {"size in [0, 4]"});

  KVCache moved = std::move(cache);
  test::ExpectInvalid([&] { layer.Forward(x.data(), 2, 1, out.data(), cache); }, {"moved from"});
  EXPECT_EQ(moved.size(), 4);
  EXPECT_EQ(moved.capacity(), 6);
  test::ExpectInvalid([&] { KVCache bad(layer, 0, 4); }, {"batch > 0"});
  test::ExpectInvalid([&] { KVCache bad(layer, 1, -4); }, {"max_context > 0"});
  test::ExpectInvalid([&] { KVCache bad(layer, 1 << 30, 1 << 30); }, {"overflows"});
}

// The queried workspace serves cached calls of any size the cache allows.
TEST(KVCacheContract, CallerWorkspace) {
  const MultiHeadedSelfAttention layer = test::RandomLayer(16, 16, 2, 9);
  const auto x = test::Random(700 * 16, 10);
  KVCache cache(layer, 1, 700), own(layer, 1, 700);
  RunOptions options;
  options.num_threads = 2;
  std::vector<char> workspace(layer.WorkspaceBytes(1, 200, cache, options));
  options.workspace = workspace.data();
  options.workspace_bytes = workspace.size();
  std::vector<float> a(200 * 16), b(200 * 16);
  for (int piece : {200, 1, 199, 200}) {
    const float* in = x.data() + cache.size() * 16;
    layer.Forward(in, 1, piece, a.data(), cache, options);
    layer.Forward(in, 1, piece, b.data(), own);
    ASSERT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(piece) * 16 * sizeof(float)), 0);
  }
}

}  // namespace
}  // namespace mhsa
