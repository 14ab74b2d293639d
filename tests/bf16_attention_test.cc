// bf16 (Precision::kBFloat16) on every target and with the bf16
// instructions on and off (the pseudo-targets AVX3_AMX and AVX3_BF16 and
// each SIMD target's widening kernel): the layer, its KV cache and the
// kernel-level Attention, against the float64 reference of the unrounded
// inputs under the project's rule (error_rule.h) with the plain bf16
// reference (ref::ForwardBf16, ref::AttentionBf16: plain float loops that
// round exactly what the kernels round) as the plain side: the fast max
// error may be at most twice the plain one, plus the floor. Then what holds
// exactly: causality, thread counts, the cache's storage, refusals.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "attention_cases.h"
#include "attention_tensor.h"
#include "bf16.h"
#include "error_rule.h"
#include "helpers.h"
#include "mhsa/mhsa.h"
#include "reference.h"
#include "target_param.h"
#include "test_data.h"

namespace mhsa {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The rule compares max errors, and the max error of a few values is
// mostly luck: a small case is run on several inputs until at least
// kMinRows output rows (positions x heads) are compared at once, as in
// attention_test.cc.
constexpr size_t kMinRows = 128, kMaxRepeats = 32;

size_t Repeats(size_t rows) {
  return rows == 0 ? 1 : std::min(kMaxRepeats, (kMinRows + rows - 1) / rows);
}

struct Compared {
  std::vector<float> fast, plain;
  std::vector<double> truth;
  void Append(const std::vector<float>& f, const std::vector<float>& p,
              const std::vector<double>& t) {
    fast.insert(fast.end(), f.begin(), f.end());
    plain.insert(plain.end(), p.begin(), p.end());
    truth.insert(truth.end(), t.begin(), t.end());
  }
};

// ------------------------------------------------------------------ layer

using test::LayerShape;

size_t Sz(int v) { return static_cast<size_t>(v); }

// A bf16 layer with random weights (uniform in [-0.5, 0.5), not bf16
// values: SetHeadWeights must round them); the float weights are returned
// in ref::Forward's layout through *weights.
MultiHeadedSelfAttention Bf16Layer(const LayerShape& s, uint32_t seed,
                                   std::vector<float>* weights) {
  MultiHeadedSelfAttention layer(s.embedding_dim, s.head_dim * s.num_heads, s.num_heads,
                                 Precision::kBFloat16);
  const size_t n = Sz(s.head_dim) * Sz(s.embedding_dim);
  weights->clear();
  for (int h = 0; h < s.num_heads; ++h) {
    const auto w = test::Random(3 * n, seed + static_cast<uint32_t>(h), -0.5f, 0.5f);
    layer.SetHeadWeights(h, w.data(), w.data() + n, w.data() + 2 * n);
    weights->insert(weights->end(), w.begin(), w.end());
  }
  return layer;
}

// The references of the rule for x through the layer's float weights:
// float64 of the unrounded values, and the plain bf16 computation.
void LayerReferences(const std::vector<float>& x, const LayerShape& s,
                     const std::vector<float>& weights, std::vector<double>* truth,
                     std::vector<float>* plain) {
  const size_t n = Sz(s.batch) * Sz(s.context) * Sz(s.head_dim * s.num_heads);
  truth->assign(n, 0.0);
  plain->assign(n, 0.0f);
  ref::Forward(x.data(), Sz(s.batch), Sz(s.context), Sz(s.embedding_dim), weights.data(),
               Sz(s.num_heads), Sz(s.head_dim), truth->data());
  ref::ForwardBf16(x.data(), Sz(s.batch), Sz(s.context), Sz(s.embedding_dim), weights.data(),
                   Sz(s.num_heads), Sz(s.head_dim), plain->data());
}

::testing::AssertionResult CheckLayer(const LayerShape& s, float input_scale, uint32_t seed) {
  std::vector<float> weights;
  const MultiHeadedSelfAttention layer = Bf16Layer(s, seed, &weights);
  Compared all;
  const size_t repeats = Repeats(Sz(s.batch) * Sz(s.context) * Sz(s.num_heads));
  for (size_t rep = 0; rep < repeats; ++rep) {
    const auto x =
        test::Random(Sz(s.batch) * Sz(s.context) * Sz(s.embedding_dim),
                     seed + 99u + 13u * static_cast<uint32_t>(rep), -input_scale, input_scale);
    std::vector<float> fast(Sz(s.batch) * Sz(s.context) * Sz(s.head_dim * s.num_heads), kNaN),
        plain;
    std::vector<double> truth;
    layer.Forward(x.data(), s.batch, s.context, fast.data());
    LayerReferences(x, s, weights, &truth, &plain);
    all.Append(fast, plain, truth);
  }
  return test::WithinRule(all.fast, all.plain, all.truth);
}

using Bf16LayerTest = test::PerTarget;

// The awkward shapes of the float32 layer test: contexts 1, 7, 97, 1025
// (below, at and past the decode rows, the query and key blocks), head_dim
// 1, 3, 59, 64, odd embedding dims.
TEST_P(Bf16LayerTest, MatchesReferenceOnAwkwardShapes) {
  uint32_t seed = 10;
  for (const LayerShape& s : test::AwkwardLayerShapes()) {
    EXPECT_TRUE(CheckLayer(s, 1.0f, seed += 7)) << s.Describe();
  }
}

// Scores of order +-100 and beyond: only a softmax that subtracts the max
// survives, and q * scale rounded to bf16 moves each score by up to 2^-9 of
// itself, in the plain reference as in the kernels.
TEST_P(Bf16LayerTest, MatchesReferenceWithHugeLogits) {
  EXPECT_TRUE(CheckLayer({1, 130, 16, 16, 2}, 40.0f, 3));
}

double MaxDifference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return worst;
}

// The rule is one-sided: a float32 computation would meet it too. So the
// bf16 layer must also be the bf16 computation: at least 4 times nearer
// the plain bf16 layer than the float32 layer is (both paths).
TEST_P(Bf16LayerTest, RoundsWhatThePlainBf16LayerRounds) {
  for (const LayerShape& s : {LayerShape{1, 97, 33, 16, 2}, LayerShape{4, 1, 40, 8, 2}}) {
    std::vector<float> weights;
    const MultiHeadedSelfAttention layer = Bf16Layer(s, 21, &weights);
    const auto x = test::Random(Sz(s.batch) * Sz(s.context) * Sz(s.embedding_dim), 22);
    const size_t n = Sz(s.batch) * Sz(s.context) * Sz(s.head_dim * s.num_heads);
    std::vector<float> fast(n), bf16(n), f32(n);
    layer.Forward(x.data(), s.batch, s.context, fast.data());
    ref::ForwardBf16(x.data(), Sz(s.batch), Sz(s.context), Sz(s.embedding_dim), weights.data(),
                     Sz(s.num_heads), Sz(s.head_dim), bf16.data());
    ref::Forward(x.data(), Sz(s.batch), Sz(s.context), Sz(s.embedding_dim), weights.data(),
                 Sz(s.num_heads), Sz(s.head_dim), f32.data());
    EXPECT_LE(MaxDifference(fast, bf16), 0.25 * MaxDifference(f32, bf16)) << s.Describe();
  }
}

// The problem's initial weights, rounded: GetHeadWeights returns the stored
// bf16 values, which are the float32 layer's rounded to nearest even.
TEST_P(Bf16LayerTest, InitialWeightsAreTheFloatOnesRounded) {
  const MultiHeadedSelfAttention f32(24, 16, 2), b16(24, 16, 2, Precision::kBFloat16);
  EXPECT_EQ(f32.precision(), Precision::kFloat32);
  EXPECT_EQ(b16.precision(), Precision::kBFloat16);
  const size_t n = 8 * 24;
  std::vector<float> q(n), k(n), v(n), bq(n), bk(n), bv(n);
  for (int h = 0; h < 2; ++h) {
    f32.GetHeadWeights(h, q.data(), k.data(), v.data());
    b16.GetHeadWeights(h, bq.data(), bk.data(), bv.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(bq[i], RoundToBf16(q[i]));
      ASSERT_EQ(bk[i], RoundToBf16(k[i]));
      ASSERT_EQ(bv[i], RoundToBf16(v[i]));
    }
  }
}

// 1, 2 and 3 threads give the same bits, through both paths.
TEST_P(Bf16LayerTest, ThreadCountDoesNotChangeBits) {
  for (const LayerShape& s : {LayerShape{2, 300, 24, 8, 3}, LayerShape{3, 1, 40, 32, 2}}) {
    std::vector<float> weights;
    const MultiHeadedSelfAttention layer = Bf16Layer(s, 5, &weights);
    const auto x = test::Random(Sz(s.batch) * Sz(s.context) * Sz(s.embedding_dim), 6);
    const size_t n = Sz(s.batch) * Sz(s.context) * Sz(s.head_dim * s.num_heads);
    std::vector<float> one(n), many(n);
    RunOptions options;
    options.num_threads = 1;
    layer.Forward(x.data(), s.batch, s.context, one.data(), options);
    for (int threads : {2, 3}) {
      options.num_threads = threads;
      layer.Forward(x.data(), s.batch, s.context, many.data(), options);
      ASSERT_EQ(std::memcmp(one.data(), many.data(), n * sizeof(float)), 0)
          << threads << " threads, " << s.Describe();
    }
  }
}

// A NaN in the input at position p reaches every output row from p on and
// changes no bit before it: masked keys are skipped, never multiplied by a
// zero (also inside a bf16 k-pair, and on AMX diagonal tiles).
TEST_P(Bf16LayerTest, FuturePositionsCannotLeak) {
  const LayerShape s{1, 130, 16, 16, 2};
  std::vector<float> weights;
  const MultiHeadedSelfAttention layer = Bf16Layer(s, 8, &weights);
  const auto x = test::Random(Sz(s.context) * Sz(s.embedding_dim), 9);
  const size_t row = Sz(s.head_dim * s.num_heads), n = Sz(s.context) * row;
  std::vector<float> clean(n), poisoned(n);
  layer.Forward(x.data(), 1, s.context, clean.data());
  for (int p : {1, 2, 63, 64, 65, 100, 129}) {
    std::vector<float> bad = x;
    bad[Sz(p) * Sz(s.embedding_dim) + 3] = kNaN;
    layer.Forward(bad.data(), 1, s.context, poisoned.data());
    ASSERT_EQ(std::memcmp(clean.data(), poisoned.data(), Sz(p) * row * sizeof(float)), 0)
        << "rows before " << p << " changed";
    for (size_t i = Sz(p) * row; i < n; ++i) ASSERT_TRUE(std::isnan(poisoned[i])) << i;
  }
}

MHSA_INSTANTIATE_PER_TARGET_AND_BF16_KERNEL(Bf16LayerTest);

// --------------------------------------------------------------- KV cache

using Bf16KVCacheTest = test::PerTarget;

// A prefill, one-token steps and chunks give, position by position, what
// the plain bf16 layer gives over the whole sequence (by the rule): the
// cache holds k and v rounded, as the flash path rounds them when packing.
TEST_P(Bf16KVCacheTest, PiecesMatchTheWholeSequence) {
  const LayerShape shapes[] = {{2, 40, 24, 8, 4}, {1, 97, 7, 3, 2}, {1, 600, 16, 16, 2}};
  uint32_t seed = 1;
  for (const LayerShape& s : shapes) {
    std::vector<float> weights;
    const MultiHeadedSelfAttention layer = Bf16Layer(s, seed, &weights);
    KVCache cache(layer, s.batch, s.context);
    EXPECT_EQ(cache.precision(), Precision::kBFloat16);
    Compared all;
    const size_t repeats = Repeats(Sz(s.batch) * Sz(s.context) * Sz(s.num_heads));
    for (size_t rep = 0; rep < std::max<size_t>(repeats, 4); ++rep) {
      const auto x = test::Random(Sz(s.batch) * Sz(s.context) * Sz(s.embedding_dim),
                                  seed + 50 + static_cast<uint32_t>(rep));
      // Schedules: one prefill; all steps; a prefill then steps and chunks.
      std::vector<int> pieces;
      if (rep == 0) {
        pieces = {s.context};
      } else if (rep == 1) {
        pieces.assign(Sz(s.context), 1);
      } else {
        pieces = test::RandomPieces(s.context, seed * 10 + static_cast<uint32_t>(rep));
      }
      cache.Clear();
      const std::vector<float> fast = test::InPieces(layer, x, s, pieces, &cache);
      std::vector<double> truth;
      std::vector<float> plain;
      LayerReferences(x, s, weights, &truth, &plain);
      all.Append(fast, plain, truth);
    }
    EXPECT_TRUE(test::WithinRule(all.fast, all.plain, all.truth)) << s.Describe();
    ++seed;
  }
}

// The cache holds k = x·Wkᵀ and v = x·Wvᵀ, rounded to bf16, at
// [batch][head][position][dim]; its float accessors are null. Each value
// is within half a bf16 ulp of the float sum of the bf16 products (plus
// that sum's own float error, far smaller).
TEST_P(Bf16KVCacheTest, StoresRoundedKeysAndValuesByHead) {
  const LayerShape s{2, 5, 6, 4, 3};
  std::vector<float> weights;
  const MultiHeadedSelfAttention layer = Bf16Layer(s, 7, &weights);
  const auto x = test::Random(2 * 5 * 6, 8);
  KVCache cache(layer, 2, 9);
  std::vector<float> out(2 * 5 * 12);
  layer.Forward(x.data(), 2, 5, out.data(), cache);
  ASSERT_EQ(cache.keys(), nullptr);
  ASSERT_EQ(cache.values(), nullptr);
  ASSERT_NE(cache.keys_bf16(), nullptr);
  test::ForEachCachedValue(
      s, 9, x, weights, [](float value) { return RoundToBf16(value); },
      [&](size_t at, double k, double v, const std::string& where) {
        const float got_k = Bf16ToFloat(cache.keys_bf16()[at].bits);
        const float got_v = Bf16ToFloat(cache.values_bf16()[at].bits);
        EXPECT_LE(std::fabs(got_k - k), std::fabs(k) * 0x1p-8 + 1e-6) << where;
        EXPECT_LE(std::fabs(got_v - v), std::fabs(v) * 0x1p-8 + 1e-6) << where;
        EXPECT_EQ(got_k, RoundToBf16(got_k)) << where;
      });
}

MHSA_INSTANTIATE_PER_TARGET_AND_BF16_KERNEL(Bf16KVCacheTest);

// A cache serves layers of its own precision only, and says so; a float32
// cache has no bf16 view.
TEST(Bf16Contract, CacheAndLayerPrecisionsMustMatch) {
  const MultiHeadedSelfAttention f32 = test::RandomLayer(8, 8, 2, 3);
  const MultiHeadedSelfAttention b16(8, 8, 2, Precision::kBFloat16);
  KVCache float_cache(f32, 1, 4), bf16_cache(b16, 1, 4);
  EXPECT_EQ(float_cache.precision(), Precision::kFloat32);
  EXPECT_EQ(float_cache.keys_bf16(), nullptr);
  EXPECT_EQ(float_cache.values_bf16(), nullptr);
  EXPECT_NE(float_cache.keys(), nullptr);
  const auto x = test::Random(8, 1);
  std::vector<float> out(8);
  test::ExpectInvalid(
      [&] { b16.Forward(x.data(), 1, 1, out.data(), float_cache); },
      {"expected a KVCache made for a bfloat16 layer, got one for a float32 layer"});
  test::ExpectInvalid(
      [&] { f32.Forward(x.data(), 1, 1, out.data(), bf16_cache); },
      {"expected a KVCache made for a float32 layer, got one for a bfloat16 layer"});
  EXPECT_EQ(bf16_cache.size(), 0);
  test::ExpectInvalid([&] { MultiHeadedSelfAttention bad(8, 8, 2, static_cast<Precision>(7)); },
                      {"expected precision kFloat32 or kBFloat16, got the value 7"});
}

// Workspace queries of a bf16 layer cover its calls: a caller's workspace
// of exactly that size serves them, on every kernel (the query does not
// depend on the one chosen), and gives the default scratch's bits.
TEST(Bf16Contract, CallerWorkspaceOfTheQueriedSize) {
  std::vector<float> weights;
  const LayerShape s{2, 100, 32, 16, 2};
  const MultiHeadedSelfAttention layer = Bf16Layer(s, 3, &weights);
  const auto x = test::Random(2 * 100 * 32, 4);
  RunOptions options;
  options.num_threads = 2;
  const size_t bytes = layer.WorkspaceBytes(2, 100, options);
  EXPECT_EQ(bytes, MultiHeadedSelfAttention::WorkspaceBytes(32, 32, 2, Precision::kBFloat16, 2, 100,
                                                            options));
  std::vector<char> workspace(bytes);
  for (const std::string& target : AvailableTargets()) {
    SetTarget(target);
    std::vector<float> expected(2 * 100 * 32), got(expected.size());
    layer.Forward(x.data(), 2, 100, expected.data(), options);
    RunOptions own = options;
    own.workspace = workspace.data();
    own.workspace_bytes = workspace.size();
    layer.Forward(x.data(), 2, 100, got.data(), own);
    EXPECT_EQ(std::memcmp(expected.data(), got.data(), got.size() * sizeof(float)), 0) << target;
  }
  SetTarget("");
}

// -------------------------------------------------------- kernel level

// The bf16 patterns of a float tensor's whole buffer (NaN padding stays
// NaN), viewed like it.
struct Bf16Tensor {
  std::vector<uint16_t> buffer;
  ptrdiff_t origin;
  explicit Bf16Tensor(const test::Tensor& t) : buffer(t.buffer.size()), origin(t.origin) {
    FloatToBf16(t.buffer.data(), buffer.data(), buffer.size());
  }
  const bf16* data() const { return reinterpret_cast<const bf16*>(buffer.data() + origin); }
};

// The same values as floats: what the references take for a bf16 tensor.
test::Tensor Widened(const test::Tensor& t) {
  test::Tensor w = t;
  for (float& x : w.buffer) x = RoundToBf16(x);
  return w;
}

// q, k and v of one sequence rounded to bf16: as float tensors (what the
// references take) and as bf16 tensors (what Attention takes); their shape.
struct Bf16Inputs {
  test::Tensor q, k, v;
  Bf16Tensor qb, kb, vb;
  AttentionShape shape;
  Bf16Inputs(const test::Tensor& q_in, const test::Tensor& k_in, const test::Tensor& v_in)
      : q(Widened(q_in)), k(Widened(k_in)), v(Widened(v_in)), qb(q), kb(k), vb(v) {
    shape.num_heads = static_cast<int>(q.heads);
    shape.num_kv_heads = static_cast<int>(k.heads);
    shape.head_dim = static_cast<int>(q.dim);
    shape.q_len = static_cast<int>(q.len);
    shape.kv_len = static_cast<int>(k.len);
  }
};

// One attention problem computed with bf16 products, from bf16 tensors or
// from float tensors with AttentionOptions::precision = kBFloat16.
struct Case : test::AttentionCase {
  bool bf16_tensors = true;  // or float tensors computed in kBFloat16

  std::string Describe() const {
    return AttentionCase::Describe() + (bf16_tensors ? " bf16 tensors" : " float tensors");
  }

  ::testing::AssertionResult Check() const {
    size_t rows = 0;
    for (int b = 0; b < batch; ++b) {
      rows += Sz(q_lengths.empty() ? q_len : q_lengths[Sz(b)]);
    }
    Compared out, lse, probs;
    for (size_t rep = 0; rep < Repeats(rows * Sz(heads)); ++rep) {
      if (auto r = RunOnce(seed + 3 * static_cast<uint32_t>(rep), &out, &lse, &probs); !r) {
        return r;
      }
    }
    if (auto r = test::WithinRule(out.fast, out.plain, out.truth); !r) return r << " (out)";
    if (auto r = test::WithinRule(lse.fast, lse.plain, lse.truth); !r) return r << " (lse)";
    if (auto r = test::WithinRule(probs.fast, probs.plain, probs.truth); !r) {
      return r << " (probabilities)";
    }
    return ::testing::AssertionSuccess();
  }

  ::testing::AssertionResult RunOnce(uint32_t inputs, Compared* all_out, Compared* all_lse,
                                     Compared* all_probs) const {
    const size_t B = Sz(batch), H = Sz(heads), D = Sz(dim), TQ = Sz(q_len), TKV = Sz(kv_len);
    const test::AttentionInputs in = MakeInputs(inputs);
    const test::Tensor &q = in.q, &k = in.k, &v = in.v;
    const AttentionShape& shape = in.shape;
    test::Tensor out(out_layout, B, TQ, H, D);
    AttentionOptions options;
    options.causal = causal;
    options.q_lengths = q_lengths.empty() ? nullptr : q_lengths.data();
    options.kv_lengths = kv_lengths.empty() ? nullptr : kv_lengths.data();
    const size_t rows = B * H * TQ;
    std::vector<float> lse(rows, kNaN), p(with_probabilities ? rows * TKV : 0, kNaN);
    options.lse = lse.data();
    if (with_probabilities) options.probabilities = p.data();
    // The values the computation sees: a bf16 tensor's, or the floats.
    const test::Tensor qv = bf16_tensors ? Widened(q) : q, kv = bf16_tensors ? Widened(k) : k,
                       vv = bf16_tensors ? Widened(v) : v;
    if (bf16_tensors) {
      const Bf16Tensor qb(q), kb(k), vb(v);
      Attention(shape, qb.data(), q.strides, kb.data(), k.strides, vb.data(), v.strides, out.data(),
                out.strides, options);
    } else {
      options.precision = Precision::kBFloat16;
      Attention(shape, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides, out.data(),
                out.strides, options);
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
    const Strides dense = StridesBTHD(q_len, heads, dim);
    std::vector<double> truth(B * TQ * H * D, 0.0), truth_lse(rows, 0.0), truth_p(p.size(), 0.0);
    std::vector<float> plain(truth.size(), 0.0f), plain_lse(rows, 0.0f), plain_p(p.size(), 0.0f);
    ref::Attention<double>(shape, qv.data(), q.strides, kv.data(), k.strides, vv.data(), v.strides,
                           truth.data(), dense, causal, static_cast<double>(scale),
                           options.q_lengths, options.kv_lengths, truth_lse.data(),
                           with_probabilities ? truth_p.data() : nullptr);
    ref::AttentionBf16(shape, qv.data(), q.strides, kv.data(), k.strides, vv.data(), v.strides,
                       plain.data(), dense, causal, scale, options.q_lengths, options.kv_lengths,
                       plain_lse.data(), with_probabilities ? plain_p.data() : nullptr);
    std::vector<int> q_rows = q_lengths;
    if (q_rows.empty()) q_rows.assign(B, q_len);
    for (size_t b = 0; b < B; ++b) {
      const size_t n = Sz(q_rows[b]) * H * D, first = b * TQ * H * D;
      all_out->truth.insert(all_out->truth.end(), &truth[first], &truth[first] + n);
      all_out->plain.insert(all_out->plain.end(), &plain[first], &plain[first] + n);
      for (size_t h = 0; h < H; ++h) {
        for (size_t i = 0; i < Sz(q_rows[b]); ++i) {
          const size_t row = (b * H + h) * TQ + i;
          if (std::isinf(truth_lse[row])) {  // No key: exactly -inf.
            if (lse[row] != truth_lse[row]) {
              return ::testing::AssertionFailure() << "lse of row " << row << ": " << lse[row];
            }
          } else {
            all_lse->Append({lse[row]}, {plain_lse[row]}, {truth_lse[row]});
          }
          for (size_t j = 0; j < (with_probabilities ? TKV : 0); ++j) {
            all_probs->Append({p[row * TKV + j]}, {plain_p[row * TKV + j]},
                              {truth_p[row * TKV + j]});
          }
        }
      }
    }
    if (auto r = out.Untouched(q_rows); !r) return r;
    const std::vector<float> got = out.Dense(q_rows);
    all_out->fast.insert(all_out->fast.end(), got.begin(), got.end());
    return ::testing::AssertionSuccess();
  }
};

using Bf16AttentionTest = test::PerTarget;

// Each case of attention_cases.h, with bf16 tensors, float tensors, or
// (`alternate`) the two in turn.
enum class Tensors { kBf16, kBoth, kAlternate };
void CheckAll(const std::vector<test::AttentionCase>& cases, Tensors tensors) {
  bool bf16 = true;
  for (const test::AttentionCase& shape : cases) {
    for (bool tensors_bf16 : {true, false}) {
      if (tensors != Tensors::kBoth && !tensors_bf16) continue;
      Case c{shape};
      c.bf16_tensors = tensors == Tensors::kAlternate ? bf16 : tensors_bf16;
      bf16 = !bf16;
      ASSERT_TRUE(c.Check()) << c.Describe();
    }
  }
}

TEST_P(Bf16AttentionTest, EveryLayout) { CheckAll(test::EveryLayoutCases(), Tensors::kBoth); }
TEST_P(Bf16AttentionTest, GroupedQueryHeads) {
  CheckAll(test::GroupedQueryCases(), Tensors::kBf16);
}
TEST_P(Bf16AttentionTest, QueryAndKeyLengthsDiffer) {
  CheckAll(test::LengthsDifferCases(), Tensors::kAlternate);
}
TEST_P(Bf16AttentionTest, PerSequenceLengths) {
  CheckAll(test::PerSequenceLengthCases(), Tensors::kBf16);
}
TEST_P(Bf16AttentionTest, AwkwardSizes) { CheckAll(test::AwkwardSizeCases(), Tensors::kBf16); }
TEST_P(Bf16AttentionTest, ScoresRisingPastTheHeadroom) {
  CheckAll(test::RisingScoreCases(), Tensors::kAlternate);
}

// Float tensors holding bf16 values, computed with precision kBFloat16,
// give bitwise what the same values as bf16 tensors give: the float path
// rounds exactly what the bf16 path reads as it is.
TEST_P(Bf16AttentionTest, FloatTensorsOfBf16ValuesEqualBf16Tensors) {
  for (int q_len : {2, 70}) {
    const int heads = 4, kv_heads = 2, dim = 24, kv_len = 300;
    test::Tensor q(test::Layout::kBTHD, 1, Sz(q_len), heads, dim),
        k(test::Layout::kBHTD, 1, kv_len, kv_heads, dim),
        v(test::Layout::kBHTD, 1, kv_len, kv_heads, dim);
    q.FillRandom(1, -2, 2);
    k.FillRandom(2, -2, 2);
    v.FillRandom(3);
    const Bf16Inputs in(q, k, v);
    const size_t n = Sz(q_len) * heads * dim;
    std::vector<float> from_float(n), from_bf16(n);
    const Strides dense = StridesBTHD(q_len, heads, dim);
    AttentionOptions options;
    Attention(in.shape, in.qb.data(), in.q.strides, in.kb.data(), in.k.strides, in.vb.data(),
              in.v.strides, from_bf16.data(), dense, options);
    options.precision = Precision::kBFloat16;
    Attention(in.shape, in.q.data(), in.q.strides, in.k.data(), in.k.strides, in.v.data(),
              in.v.strides, from_float.data(), dense, options);
    ASSERT_EQ(std::memcmp(from_float.data(), from_bf16.data(), n * sizeof(float)), 0) << q_len;
  }
}

// p is rounded to bf16 before p·v, on both paths: with bf16 tensors and a
// scale of 1 nothing else is rounded (q * 1 is q), so the float32
// reference of the same values differs from the plain bf16 one by p's
// rounding alone, and the kernels must be at least 4 times nearer the
// latter. The kernels round p = exp(s - m) with m the online softmax's
// running max, the reference with the row's max: the same values when the
// first key holds the max, which it does here (q > 0, key 0 all ones,
// the other keys below 1/2).
TEST_P(Bf16AttentionTest, RoundsPBeforePV) {
  for (int q_len : {3, 200}) {
    const int heads = 2, dim = 16, kv_len = 300;
    test::Tensor q(test::Layout::kBTHD, 1, Sz(q_len), heads, dim),
        k(test::Layout::kBTHD, 1, kv_len, heads, dim),
        v(test::Layout::kBTHD, 1, kv_len, heads, dim);
    q.FillRandom(31, 0.0f, 0.5f);
    k.FillRandom(32, -0.5f, 0.5f);
    v.FillRandom(33);
    for (size_t h = 0; h < Sz(heads); ++h) {
      for (size_t d = 0; d < Sz(dim); ++d) k.buffer[k.Index(0, 0, h) + d] = 1.0f;
    }
    const Bf16Inputs in(q, k, v);
    AttentionOptions options;
    options.scale = 1.0f;
    const Strides dense = StridesBTHD(q_len, heads, dim);
    const size_t n = Sz(q_len) * heads * dim;
    std::vector<float> fast(n), bf16(n), f32(n);
    Attention(in.shape, in.qb.data(), in.q.strides, in.kb.data(), in.k.strides, in.vb.data(),
              in.v.strides, fast.data(), dense, options);
    ref::AttentionBf16(in.shape, in.q.data(), in.q.strides, in.k.data(), in.k.strides, in.v.data(),
                       in.v.strides, bf16.data(), dense, true, 1.0f, nullptr, nullptr, nullptr,
                       nullptr);
    ref::Attention<float>(in.shape, in.q.data(), in.q.strides, in.k.data(), in.k.strides,
                          in.v.data(), in.v.strides, f32.data(), dense, true, 1.0f, nullptr,
                          nullptr, nullptr, nullptr);
    EXPECT_LE(MaxDifference(fast, bf16), 0.25 * MaxDifference(f32, bf16)) << "q_len " << q_len;
  }
}

// A NaN or inf in a key or value at position p changes no bit of the rows
// that cannot see p, on both paths; rows that see a NaN key are NaN.
TEST_P(Bf16AttentionTest, FutureKeysAndValuesCannotLeak) {
  for (int q_len : {2, 60, 130}) {
    const int kv_len = q_len + 20, heads = 4, dim = 16;
    test::Tensor q(test::Layout::kBTHD, 1, Sz(q_len), heads, dim),
        k(test::Layout::kBTHD, 1, Sz(kv_len), heads, dim),
        v(test::Layout::kBTHD, 1, Sz(kv_len), heads, dim);
    q.FillRandom(5);
    k.FillRandom(6);
    v.FillRandom(7);
    AttentionShape shape;
    shape.num_heads = heads;
    shape.head_dim = dim;
    shape.q_len = q_len;
    shape.kv_len = kv_len;
    const Strides dense = StridesBTHD(q_len, heads, dim);
    const size_t n = Sz(q_len) * heads * dim;
    std::vector<float> clean(n), poisoned(n);
    const Bf16Tensor qb(q), kb(k), vb(v);
    Attention(shape, qb.data(), q.strides, kb.data(), k.strides, vb.data(), v.strides, clean.data(),
              dense);
    for (int p : {kv_len - q_len / 2, kv_len - q_len + 1, kv_len - 1}) {
      for (float poison : {kNaN, std::numeric_limits<float>::infinity()}) {
        test::Tensor k2 = k, v2 = v;
        for (int h = 0; h < heads; ++h) {
          k2.buffer[k2.Index(0, Sz(p), Sz(h)) + 3] = poison;
          v2.buffer[v2.Index(0, Sz(p), Sz(h)) + 5] = poison;
        }
        const Bf16Tensor kb2(k2), vb2(v2);
        Attention(shape, qb.data(), q.strides, kb2.data(), k2.strides, vb2.data(), v2.strides,
                  poisoned.data(), dense);
        const int first_seeing = p - (kv_len - q_len);
        for (int i = 0; i < q_len; ++i) {
          for (size_t e = 0; e < Sz(heads) * dim; ++e) {
            const size_t at = Sz(i) * heads * dim + e;
            if (i < first_seeing) {
              ASSERT_EQ(std::memcmp(&clean[at], &poisoned[at], sizeof(float)), 0)
                  << "row " << i << " changed; q_len " << q_len << " p " << p;
            } else if (std::isnan(poison)) {
              ASSERT_TRUE(std::isnan(poisoned[at])) << "row " << i << " sees the poison";
            }
          }
        }
      }
    }
  }
}

TEST_P(Bf16AttentionTest, ThreadCountDoesNotChangeBits) {
  for (int q_len : {1, 70}) {
    const int kv_len = 1300, heads = 2, dim = 20;
    test::Tensor q(test::Layout::kBTHD, 2, Sz(q_len), heads, dim),
        k(test::Layout::kBTHD, 2, kv_len, heads, dim),
        v(test::Layout::kBTHD, 2, kv_len, heads, dim);
    q.FillRandom(8);
    k.FillRandom(9);
    v.FillRandom(10);
    const Bf16Tensor qb(q), kb(k), vb(v);
    AttentionShape shape;
    shape.batch = 2;
    shape.num_heads = heads;
    shape.head_dim = dim;
    shape.q_len = q_len;
    shape.kv_len = kv_len;
    const size_t n = 2 * Sz(q_len) * heads * dim;
    std::vector<float> one(n);
    AttentionOptions options;
    options.run.num_threads = 1;
    Attention(shape, qb.data(), q.strides, kb.data(), k.strides, vb.data(), v.strides, one.data(),
              StridesBTHD(q_len, heads, dim), options);
    for (int threads : {2, 3}) {
      std::vector<float> many(n);
      options.run.num_threads = threads;
      Attention(shape, qb.data(), q.strides, kb.data(), k.strides, vb.data(), v.strides,
                many.data(), StridesBTHD(q_len, heads, dim), options);
      ASSERT_EQ(std::memcmp(one.data(), many.data(), n * sizeof(float)), 0)
          << threads << " threads, q_len " << q_len;
    }
  }
}

MHSA_INSTANTIATE_PER_TARGET_AND_BF16_KERNEL(Bf16AttentionTest);

// The bf16 overload checks what the float one checks, with bf16 element
// sizes for overlaps; a caller's workspace of the queried size (precision
// kBFloat16) serves it.
TEST(Bf16Contract, AttentionRefusalsAndWorkspace) {
  AttentionShape shape;
  shape.num_heads = 2;
  shape.head_dim = 8;
  shape.q_len = shape.kv_len = 16;
  const Strides s = StridesBTHD(16, 2, 8);
  std::vector<uint16_t> tensor(16 * 2 * 8, 0x3F80);  // 1.0
  const auto* t = reinterpret_cast<const bf16*>(tensor.data());
  std::vector<float> out(16 * 2 * 8);
  test::ExpectInvalid(
      [&] { Attention(shape, static_cast<const bf16*>(nullptr), s, t, s, t, s, out.data(), s); },
      {"non-null q"});
  // out overlapping the bf16 q: 256 bf16 values are 512 bytes, 128 floats.
  auto* inside = reinterpret_cast<float*>(tensor.data() + 200);
  test::ExpectInvalid(
      [&] {
        Attention(shape, t, s, t, s, t, s, inside, Strides{512, 16, 8});
      },
      {"not to overlap q"});
  AttentionOptions bad;
  bad.precision = static_cast<Precision>(3);
  test::ExpectInvalid([&] { Attention(shape, t, s, t, s, t, s, out.data(), s, bad); },
                      {"expected precision kFloat32 or kBFloat16, got the value 3"});

  AttentionOptions options;
  options.precision = Precision::kBFloat16;
  options.run.num_threads = 2;
  const size_t bytes = AttentionWorkspaceBytes(shape, options);
  std::vector<char> workspace(bytes);
  options.run.workspace = workspace.data();
  options.run.workspace_bytes = bytes;
  std::vector<float> got(out.size(), kNaN);
  Attention(shape, t, s, t, s, t, s, got.data(), s, options);
  for (float x : got) ASSERT_EQ(x, 1.0f);  // Every value is 1.
}

}  // namespace
}  // namespace mhsa
