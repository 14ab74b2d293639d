// The public Attention on every compiled target against the plain reference
// (src/reference.h) in float64, under the rule of error_rule.h: layouts
// (both PyTorch layouts, the layer's interleaved buffer, padded and negative
// strides), grouped-query heads, q_len < kv_len and > kv_len, non-causal,
// per-sequence lengths of 0, 1 and full, the lse output and a merge through
// it, the probabilities, both the flash and the decode path, and awkward
// sizes. Then what the API promises beyond numbers: causality, lengths that
// are never read past, workspaces, and refusals.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "attention_cases.h"
#include "attention_tensor.h"
#include "error_rule.h"
#include "helpers.h"
#include "mhsa/attention.h"
#include "reference.h"
#include "target_param.h"
#include "test_data.h"

namespace mhsa {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using test::Tensor;

using Inputs = test::AttentionInputs;

// One attention problem: shapes, layouts, options; runs the library and the
// two references and compares them by the project's rule.
struct Case : test::AttentionCase {
  float scale = 0.0f;  // 0: the default, 1/sqrt(head_dim)
  bool with_lse = true;

  // The rule compares max errors, and the max error of a few values is
  // mostly luck: small cases are run with several inputs until about
  // kMinRows rows (lse values) are compared at once.
  static constexpr size_t kMinRows = 128, kMaxRepeats = 32;

  struct Results {
    std::vector<float> out, plain, lse, plain_lse, p, plain_p;
    std::vector<double> truth, truth_lse, truth_p;
  };

  ::testing::AssertionResult Check() const {
    size_t rows = 0;
    for (int b = 0; b < batch; ++b) {
      rows += static_cast<size_t>(q_lengths.empty() ? q_len : q_lengths[static_cast<size_t>(b)]);
    }
    rows *= static_cast<size_t>(heads);
    const size_t repeats = rows == 0 ? 1 : std::min(kMaxRepeats, (kMinRows + rows - 1) / rows);
    Results all;
    for (size_t rep = 0; rep < repeats; ++rep) {
      if (auto r = RunOnce(seed + 3 * static_cast<uint32_t>(rep), &all); !r) return r;
    }
    if (auto r = test::WithinRule(all.out, all.plain, all.truth); !r) return r << " (out)";
    if (with_lse) {
      if (auto r = test::WithinRule(all.lse, all.plain_lse, all.truth_lse); !r) {
        return r << " (lse)";
      }
    }
    if (with_probabilities) {
      if (auto r = test::WithinRule(all.p, all.plain_p, all.truth_p); !r) {
        return r << " (probabilities)";
      }
    }
    return ::testing::AssertionSuccess();
  }

  // One run with inputs from `seed`: appends what to compare to *all, and
  // checks what must hold exactly (untouched rows, empty rows' lse).
  ::testing::AssertionResult RunOnce(uint32_t inputs, Results* all) const {
    const auto B = static_cast<size_t>(batch), H = static_cast<size_t>(heads),
               D = static_cast<size_t>(dim), TQ = static_cast<size_t>(q_len),
               TKV = static_cast<size_t>(kv_len);
    const Inputs in = MakeInputs(inputs);
    const Tensor &q = in.q, &k = in.k, &v = in.v;
    const AttentionShape& shape = in.shape;
    Tensor out(out_layout, B, TQ, H, D);
    AttentionOptions options;
    options.causal = causal;
    options.scale = scale;
    options.q_lengths = q_lengths.empty() ? nullptr : q_lengths.data();
    options.kv_lengths = kv_lengths.empty() ? nullptr : kv_lengths.data();
    const size_t rows = B * H * TQ;
    std::vector<float> lse(rows, kNaN), probs(with_probabilities ? rows * TKV : 0, kNaN);
    if (with_lse) options.lse = lse.data();
    if (with_probabilities) options.probabilities = probs.data();
    Attention(shape, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides, out.data(),
              out.strides, options);

    // The references write dense (B, T, H, D) outputs.
    const float used_scale = scale != 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(dim));
    const Strides dense = StridesBTHD(q_len, heads, dim);
    std::vector<double> truth(B * TQ * H * D, 0.0), truth_lse(rows, 0.0),
        truth_p(probs.size(), 0.0);
    std::vector<float> plain(truth.size(), 0.0f), plain_lse(rows, 0.0f),
        plain_p(probs.size(), 0.0f);
    ref::Attention<double>(shape, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides,
                           truth.data(), dense, causal, static_cast<double>(used_scale),
                           options.q_lengths, options.kv_lengths, truth_lse.data(),
                           with_probabilities ? truth_p.data() : nullptr);
    ref::Attention<float>(shape, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides,
                          plain.data(), dense, causal, used_scale, options.q_lengths,
                          options.kv_lengths, plain_lse.data(),
                          with_probabilities ? plain_p.data() : nullptr);
    std::vector<int> q_rows = q_lengths;
    if (q_rows.empty()) q_rows.assign(B, q_len);
    // Compare the rows that exist; the others must be untouched.
    for (size_t b = 0; b < B; ++b) {
      const size_t n = static_cast<size_t>(q_rows[b]) * H * D;
      const size_t first = b * TQ * H * D;
      all->truth.insert(all->truth.end(), &truth[first], &truth[first] + n);
      all->plain.insert(all->plain.end(), &plain[first], &plain[first] + n);
      for (size_t h = 0; h < H; ++h) {
        for (size_t i = 0; i < static_cast<size_t>(q_rows[b]); ++i) {
          const size_t row = (b * H + h) * TQ + i;
          // Rows that see no key: lse exactly -inf (the rule would treat
          // -inf as a number), then left out of the comparison.
          if (with_lse && std::isinf(truth_lse[row])) {
            if (lse[row] != truth_lse[row]) {
              return ::testing::AssertionFailure() << "lse of row " << row << ": " << lse[row];
            }
          } else {
            all->lse.push_back(lse[row]);
            all->plain_lse.push_back(plain_lse[row]);
            all->truth_lse.push_back(truth_lse[row]);
          }
          for (size_t j = 0; j < (with_probabilities ? TKV : 0); ++j) {
            all->p.push_back(probs[row * TKV + j]);
            all->plain_p.push_back(plain_p[row * TKV + j]);
            all->truth_p.push_back(truth_p[row * TKV + j]);
          }
        }
      }
    }
    if (auto r = out.Untouched(q_rows); !r) return r;
    const std::vector<float> got = out.Dense(q_rows);
    all->out.insert(all->out.end(), got.begin(), got.end());
    return ::testing::AssertionSuccess();
  }
};

using AttentionTest = test::PerTarget;

// Each case of attention_cases.h, float32 tensors.
void CheckAll(const std::vector<test::AttentionCase>& cases) {
  for (const test::AttentionCase& shape : cases) {
    const Case c{shape};
    ASSERT_TRUE(c.Check()) << c.Describe();
  }
}

TEST_P(AttentionTest, EveryLayout) { CheckAll(test::EveryLayoutCases()); }
TEST_P(AttentionTest, GroupedQueryHeads) { CheckAll(test::GroupedQueryCases()); }
TEST_P(AttentionTest, QueryAndKeyLengthsDiffer) { CheckAll(test::LengthsDifferCases()); }
TEST_P(AttentionTest, PerSequenceLengths) { CheckAll(test::PerSequenceLengthCases()); }
TEST_P(AttentionTest, AwkwardSizes) { CheckAll(test::AwkwardSizeCases()); }
TEST_P(AttentionTest, ScoresRisingPastTheHeadroom) { CheckAll(test::RisingScoreCases()); }

TEST_P(AttentionTest, ExplicitScale) {
  Case c;
  c.heads = 2;
  c.dim = 16;
  c.q_len = c.kv_len = 40;
  c.scale = 0.7f;
  ASSERT_TRUE(c.Check()) << c.Describe();
}

// Two attentions of the same queries over disjoint key ranges merge through
// their lse into the attention over all keys: the prefix [0, split) seen by
// every query (non-causal), the rest with the causal mask.
TEST_P(AttentionTest, MergeThroughLse) {
  for (int q_len : {3, 60}) {
    const int kv_len = 300, split = kv_len - q_len, heads = 2, dim = 32;
    const size_t tq = static_cast<size_t>(q_len);
    const Inputs in(1, heads, heads, dim, q_len, kv_len, 1);
    const Tensor &q = in.q, &k = in.k, &v = in.v;
    const AttentionShape& whole = in.shape;
    const size_t n = tq * heads * dim, rows = heads * tq;
    std::vector<float> out(n), out1(n), out2(n), lse(rows), lse1(rows), lse2(rows);
    AttentionOptions options;
    options.lse = lse.data();
    const Strides dense = in.OutStrides();
    in.Run(out.data(), options);
    AttentionShape prefix = whole, rest = whole;
    prefix.kv_len = split;
    rest.kv_len = q_len;
    AttentionOptions first = options, second = options;
    first.causal = false;
    first.lse = lse1.data();
    second.lse = lse2.data();
    Attention(prefix, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides, out1.data(),
              dense, first);
    const size_t offset = static_cast<size_t>(split) * heads * dim;
    Attention(rest, q.data(), q.strides, k.data() + offset, k.strides, v.data() + offset, v.strides,
              out2.data(), dense, second);
    // The merge, in double: lse = log(e1 + e2), out = w1 out1 + w2 out2.
    std::vector<float> merged(n), merged_lse(rows);
    std::vector<double> truth(n), truth_lse(rows);
    std::vector<float> plain(n), plain_lse(rows);
    for (size_t i = 0; i < tq; ++i) {
      for (size_t h = 0; h < heads; ++h) {
        const size_t row = h * tq + i;
        const double m = std::max(lse1[row], lse2[row]);
        const double e1 = std::exp(lse1[row] - m), e2 = std::exp(lse2[row] - m);
        merged_lse[row] = static_cast<float>(m + std::log(e1 + e2));
        for (size_t d = 0; d < dim; ++d) {
          const size_t at = (i * heads + h) * dim + d;
          merged[at] = static_cast<float>((e1 * out1[at] + e2 * out2[at]) / (e1 + e2));
        }
      }
    }
    ref::Attention<double>(whole, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides,
                           truth.data(), dense, true, 1.0 / std::sqrt(double(dim)), nullptr,
                           nullptr, truth_lse.data(), nullptr);
    ref::Attention<float>(whole, q.data(), q.strides, k.data(), k.strides, v.data(), v.strides,
                          plain.data(), dense, true, 1.0f / std::sqrt(float(dim)), nullptr, nullptr,
                          plain_lse.data(), nullptr);
    EXPECT_TRUE(test::WithinRule(merged, plain, truth)) << "merged out, q_len " << q_len;
    EXPECT_TRUE(test::WithinRule(merged_lse, plain_lse, truth_lse)) << "merged lse";
    EXPECT_TRUE(test::WithinRule(out, plain, truth)) << "whole out";
  }
}

// A NaN or inf in a key or value at position p changes no bit of the rows
// that cannot see p (causal, bottom-right), on both paths.
TEST_P(AttentionTest, FutureKeysAndValuesCannotLeak) {
  // At q_len 62 the first row that sees the poison (31) is inside a tile of
  // every height (12 or 3 rows), not at its start.
  for (int q_len : {2, 60, 62}) {
    const int kv_len = q_len + 20, heads = 4, dim = 16;
    const Inputs in(1, heads, heads, dim, q_len, kv_len, 5);
    const Tensor &q = in.q, &k = in.k, &v = in.v;
    const AttentionShape& shape = in.shape;
    const Strides dense = in.OutStrides();
    std::vector<float> clean(in.OutCount()), poisoned(in.OutCount());
    in.Run(clean.data());
    const int p = kv_len - q_len / 2;  // Seen by the last q_len / 2 queries.
    for (float poison : {kNaN, std::numeric_limits<float>::infinity()}) {
      Tensor k2 = k, v2 = v;
      for (int h = 0; h < heads; ++h) {
        k2.buffer[k2.Index(0, static_cast<size_t>(p), static_cast<size_t>(h)) + 3] = poison;
        v2.buffer[v2.Index(0, static_cast<size_t>(p), static_cast<size_t>(h)) + 5] = poison;
      }
      Attention(shape, q.data(), q.strides, k2.data(), k2.strides, v2.data(), v2.strides,
                poisoned.data(), dense);
      const int first_seeing = p - (kv_len - q_len);
      for (int i = 0; i < q_len; ++i) {
        for (size_t e = 0; e < size_t{heads} * dim; ++e) {
          const size_t at = static_cast<size_t>(i) * heads * dim + e;
          if (i < first_seeing) {
            ASSERT_EQ(std::memcmp(&clean[at], &poisoned[at], sizeof(float)), 0)
                << "row " << i << " changed";
          } else if (std::isnan(poison)) {
            // A NaN score makes the row NaN. (An infinite key may give a
            // -inf score, weight 0, and only 0 * inf in one element.)
            ASSERT_TRUE(std::isnan(poisoned[at])) << "row " << i << " sees the poison";
          }
        }
      }
    }
  }
}

// 1, 2 and 3 threads give the same bits, on both paths and with split keys.
TEST_P(AttentionTest, ThreadCountDoesNotChangeBits) {
  for (int q_len : {1, 70}) {
    const int kv_len = 1300, heads = 2, dim = 20;
    const Inputs in(2, heads, heads, dim, q_len, kv_len, 8);
    const size_t n = in.OutCount();
    std::vector<float> one(n);
    AttentionOptions options;
    options.run.num_threads = 1;
    in.Run(one.data(), options);
    for (int threads : {2, 3}) {
      std::vector<float> many(n);
      options.run.num_threads = threads;
      in.Run(many.data(), options);
      ASSERT_EQ(std::memcmp(one.data(), many.data(), n * sizeof(float)), 0)
          << threads << " threads, q_len " << q_len;
    }
  }
}

// The query rows of a grouped-query head's group share each read of k and v
// on the decode path: sharing must not change a bit. Each query head alone
// (one row per read) against its K/V head gives the same output as the
// whole group, in float32 and bf16 products, for group sizes whose rows
// split into shared sets of 4, 2 and 1, and head sizes with and without
// vector tails.
TEST_P(AttentionTest, SharedReadsOfAGroupDoNotChangeBits) {
  for (const Precision precision : {Precision::kFloat32, Precision::kBFloat16}) {
    for (int group : {2, 3, 4}) {
      for (int q_len : {1, 2}) {
        for (int dim : {1, 3, 24, 59, 64, 128}) {
          const int kv_heads = 2, heads = group * kv_heads, kv_len = 1100;
          const Inputs in(2, heads, kv_heads, dim, q_len, kv_len, 40);
          const size_t n = in.OutCount();
          std::vector<float> together(n), alone(n);
          AttentionOptions options;
          options.precision = precision;
          in.Run(together.data(), options);
          AttentionShape one = in.shape;
          one.num_heads = 1;
          one.num_kv_heads = 1;
          const Strides out_strides = in.OutStrides();
          for (int h = 0; h < heads; ++h) {
            Attention(one, in.q.data() + h * in.q.strides.head, in.q.strides,
                      in.k.data() + (h / group) * in.k.strides.head, in.k.strides,
                      in.v.data() + (h / group) * in.v.strides.head, in.v.strides,
                      alone.data() + h * out_strides.head, out_strides, options);
          }
          ASSERT_EQ(std::memcmp(together.data(), alone.data(), n * sizeof(float)), 0)
              << "group " << group << " q_len " << q_len << " dim " << dim << " bf16 "
              << (precision == Precision::kBFloat16);
        }
      }
    }
  }
}

MHSA_INSTANTIATE_PER_TARGET(AttentionTest);

// Keys past a sequence's kv_length are never read and out rows past its
// q_length never written: both lie on a page with no access rights, which
// faults at the first touch.
TEST(AttentionContract, LengthsBoundEveryAccess) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const int heads = 2, dim = 32, q_len = 64, kv_len = 96;  // 256 bytes per position.
  const int q_length = 40, kv_length = 80;
  const size_t row_bytes = size_t{heads} * dim * sizeof(float);
  struct Map {
    char* at;
    size_t bytes;
  };
  std::vector<Map> maps;
  // Each buffer ends exactly where its first forbidden row starts.
  auto guarded = [&](size_t valid_rows, size_t total_rows) {
    const size_t before = valid_rows * row_bytes, size = total_rows * row_bytes;
    const size_t head = (before + page - 1) / page * page;
    char* map = static_cast<char*>(mmap(nullptr, head + size + page, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_NE(map, MAP_FAILED);
    EXPECT_EQ(mprotect(map + head, size + page, PROT_NONE), 0);
    maps.push_back({map, head + size + page});
    return reinterpret_cast<float*>(map + head - before);
  };
  float* q = guarded(q_length, q_len);
  float* k = guarded(kv_length, kv_len);
  float* v = guarded(kv_length, kv_len);
  float* out = guarded(q_length, q_len);
  const std::vector<float> values = test::Random(size_t{kv_length} * heads * dim, 11);
  std::copy_n(values.data(), size_t{q_length} * heads * dim, q);
  std::copy_n(values.data(), values.size(), k);
  std::copy_n(values.data(), values.size(), v);
  AttentionShape shape;
  shape.num_heads = heads;
  shape.head_dim = dim;
  shape.q_len = q_len;
  shape.kv_len = kv_len;
  int q_lengths[] = {q_length};
  const int kv_lengths[] = {kv_length};
  AttentionOptions options;
  options.q_lengths = q_lengths;
  options.kv_lengths = kv_lengths;
  // Every target and bf16 kernel, both precisions (the bf16 path packs and
  // reads k and v by its own code), both paths (2 rows decode).
  for (const std::string& target : AvailableTargets()) {
    SetTarget(target);
    for (Precision precision : {Precision::kFloat32, Precision::kBFloat16}) {
      options.precision = precision;
      for (int rows : {q_length, 2}) {
        q_lengths[0] = rows;
        for (bool causal : {true, false}) {
          options.causal = causal;
          Attention(shape, q, StridesBTHD(q_len, heads, dim), k, StridesBTHD(kv_len, heads, dim), v,
                    StridesBTHD(kv_len, heads, dim), out, StridesBTHD(q_len, heads, dim), options);
          EXPECT_FALSE(std::isnan(out[0])) << target;
        }
      }
    }
  }
  SetTarget("");
  for (const Map& m : maps) munmap(m.at, m.bytes);
}

// A caller's workspace of exactly the queried size serves the call and gives
// the bits of the default scratch; one byte less is refused before any work.
TEST(AttentionContract, CallerWorkspace) {
  for (int q_len : {1, 100}) {
    const Inputs in(2, 4, 2, 16, q_len, 700, 1);
    const size_t n = in.OutCount();
    std::vector<float> expected(n), got(n, kNaN), lse(2 * 4 * static_cast<size_t>(q_len));
    AttentionOptions options;
    options.lse = lse.data();
    options.run.num_threads = 2;
    in.Run(expected.data(), options);
    const size_t bytes = AttentionWorkspaceBytes(in.shape, options);
    std::vector<char> workspace(bytes + 1);
    options.run.workspace = workspace.data() + 1;  // Misaligned on purpose.
    options.run.workspace_bytes = bytes - 1;
    EXPECT_THROW(in.Run(got.data(), options), std::invalid_argument);
    EXPECT_TRUE(std::isnan(got[0])) << "a refused call wrote its output";
    options.run.workspace_bytes = bytes;
    in.Run(got.data(), options);
    EXPECT_EQ(std::memcmp(expected.data(), got.data(), n * sizeof(float)), 0);
  }
}

TEST(AttentionContract, ReleaseScratchFreesTheThreadsBuffer) {
  AttentionShape shape;
  shape.num_heads = 2;
  shape.head_dim = 64;
  shape.q_len = shape.kv_len = 2000;
  std::vector<float> x(size_t{2000} * 2 * 64, 0.5f), out(x.size());
  const Strides s = StridesBTHD(2000, 2, 64);
  Attention(shape, x.data(), s, x.data(), s, x.data(), s, out.data(), s);
  EXPECT_GT(ScratchBytes(), size_t{2000} * 64 * sizeof(float)) << "k alone is this big";
  ReleaseScratch();
  EXPECT_EQ(ScratchBytes(), 0u);
}

// Every refusal names what was expected and what was given.
TEST(AttentionContract, RefusesBadArguments) {
  std::vector<float> buffer(4096, 0.0f), out(4096);
  AttentionShape shape;
  shape.num_heads = 4;
  shape.head_dim = 8;
  shape.q_len = shape.kv_len = 16;
  const Strides s = StridesBTHD(16, 4, 8);
  auto expect_refusal = [&](const AttentionShape& sh, const float* q, Strides qs, float* o,
                            Strides os, const AttentionOptions& options, const char* needle) {
    test::ExpectInvalid(
        [&] { Attention(sh, q, qs, buffer.data(), s, buffer.data(), s, o, os, options); },
        {needle});
  };
  const AttentionOptions none;
  AttentionShape bad = shape;
  bad.num_kv_heads = 3;
  expect_refusal(bad, buffer.data(), s, out.data(), s, none, "num_kv_heads to divide");
  bad = shape;
  bad.head_dim = 0;
  expect_refusal(bad, buffer.data(), s, out.data(), s, none, "head_dim > 0");
  bad = shape;
  bad.q_len = -1;
  expect_refusal(bad, buffer.data(), s, out.data(), s, none, "q_len >= 0");
  expect_refusal(shape, nullptr, s, out.data(), s, none, "non-null q");
  expect_refusal(shape, buffer.data(), s, nullptr, s, none, "non-null out");
  // An output whose positions overlap: stride 4 floats for rows of 4 x 8.
  expect_refusal(shape, buffer.data(), s, out.data(), Strides{512, 4, 8}, none, "do not overlap");
  // Negative strides are fine until they overlap.
  expect_refusal(shape, buffer.data(), s, out.data() + 4000, Strides{512, -8, -1}, none,
                 "do not overlap");
  expect_refusal(shape, buffer.data(), s, buffer.data(), s, none, "not to overlap q");
  AttentionOptions lengths;
  const int too_long[] = {17};
  lengths.q_lengths = too_long;
  expect_refusal(shape, buffer.data(), s, out.data(), s, lengths, "q_lengths[0] in [0, 16]");
  const int negative[] = {-1};
  lengths.q_lengths = nullptr;
  lengths.kv_lengths = negative;
  expect_refusal(shape, buffer.data(), s, out.data(), s, lengths, "kv_lengths[0] in [0, 16]");
  AttentionOptions nan_scale;
  nan_scale.scale = kNaN;
  expect_refusal(shape, buffer.data(), s, out.data(), s, nan_scale, "finite scale");
  AttentionOptions threads;
  threads.run.num_threads = -2;
  expect_refusal(shape, buffer.data(), s, out.data(), s, threads, "num_threads >= 0");
  AttentionOptions lse_into_out;
  lse_into_out.lse = out.data() + 10;
  expect_refusal(shape, buffer.data(), s, out.data(), s, lse_into_out, "out not to overlap lse");
  bad = shape;
  bad.q_len = 1 << 30;
  expect_refusal(bad, buffer.data(), Strides{0, int64_t{1} << 40, 8}, out.data(), s, none,
                 "overflow");
}

}  // namespace
}  // namespace mhsa
