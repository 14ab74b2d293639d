// The GEMM and softmax kernels on every compiled target against the float64
// reference, under the rule of error_rule.h, with strided and misaligned
// operands; the exp the softmax uses against std::exp; the public Sgemm's
// refusals. (The whole layer's numerics: numerics_test.cc; the tile product
// alone: tile_product_test.cc.)
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "blocking.h"
#include "cache_info.h"
#include "error_rule.h"
#include "gemm.h"
#include "helpers.h"
#include "mhsa/mhsa.h"
#include "reference.h"
#include "softmax.h"
#include "target_param.h"
#include "test_data.h"
#include "workspace.h"

namespace mhsa {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using test::Random;

using GemmTest = test::PerTarget;

// Sizes around every tile edge: lanes (4, 8, 16), MR (1, 3, 12), the panel
// (32), the k-block (256) and the row block (96).
TEST_P(GemmTest, MatchesReferenceAtEdgeSizes) {
  const size_t ms[] = {1, 2, 3, 4, 11, 12, 13, 25, 95, 96, 97, 193};
  const size_t ns[] = {1, 3, 7, 8, 15, 16, 17, 31, 32, 33, 65, 100};
  const size_t ks[] = {1, 3, 16, 33, 255, 256, 257, 600};
  uint32_t seed = 1;
  for (size_t m : ms) {
    for (size_t n : ns) {
      const size_t k = ks[(m + n) % 8];  // A spread of k without the full cube.
      // Strided and misaligned: one float past an aligned start, rows padded
      // with NaN that must never be read.
      const size_t lda = k + 3, ldb = k + 5, ldc = n + 2;
      std::vector<float> a_buf(1 + m * lda, kNaN), b_buf(1 + n * ldb, kNaN),
          c_buf(1 + m * ldc, kNaN);
      const auto a_vals = Random(m * k, seed++), b_vals = Random(n * k, seed++);
      float *a = a_buf.data() + 1, *b = b_buf.data() + 1, *c = c_buf.data() + 1;
      for (size_t i = 0; i < m; ++i) std::copy_n(&a_vals[i * k], k, a + i * lda);
      for (size_t j = 0; j < n; ++j) std::copy_n(&b_vals[j * k], k, b + j * ldb);
      // beta = 0: c holds NaN before the call and must not read it.
      Sgemm(false, true, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
            static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c, static_cast<int>(ldc));

      std::vector<double> ad(a_vals.begin(), a_vals.end()), bd(b_vals.begin(), b_vals.end());
      std::vector<double> truth(m * n);
      std::vector<float> plain(m * n), fast(m * n);
      ref::MatMulBt(ad.data(), k, bd.data(), k, truth.data(), n, m, n, k);
      ref::MatMulBt(a_vals.data(), k, b_vals.data(), k, plain.data(), n, m, n, k);
      for (size_t i = 0; i < m; ++i) {
        std::copy_n(c + i * ldc, n, &fast[i * n]);
        for (size_t j = n; j < ldc && i + 1 < m; ++j) {
          ASSERT_TRUE(std::isnan(c[i * ldc + j])) << "wrote past column n";
        }
      }
      ASSERT_TRUE(test::WithinRule(fast, plain, truth)) << "m=" << m << " n=" << n << " k=" << k;
    }
  }
}
// The splits of the parallel Sgemm that the edge sizes above do not reach:
// a B whose packed copy exceeds half of this CPU's L2 (k chosen from the L2
// size, so that the product stays small) is taken in column parts, part by
// part, with A read in place (GemmTasks, GemmRowBlock); a thin B (33
// columns: two panels) is packed by ranges of k. Each gives the same bits
// on 1, 2 and 3 threads, within the rule of the reference, with B as rows
// and as columns. The fourth shape's B fits half of L2 (no column parts):
// on 1 thread its tasks are 288 columns wide and pack A, on 3 threads they
// are split to 160 and 128 and read A in place, and where L2 holds more
// than 512 of its k steps (2 MiB) those two ways must still take k in the
// same blocks. The fifth shape's tasks on 2 threads are all whole rows of
// a small B, so each thread packs B into its own scratch (PacksBPerThread);
// on 3 threads they split the columns and share one packed B. With B as
// rows, then as columns, a thread that kept the previous call's B would
// give the wrong product.
TEST_P(GemmTest, ParallelSplitsKeepBits) {
  struct Shape {
    size_t m, n, k;
  };
  // 17 panels, B over half of L2: parts of 4 panels for m = 100 (two row
  // blocks), of 8 for m = 40 (one).
  const size_t wide_n = 520;
  const size_t wide_k = Caches().l2 / 2 / (RoundUp(wide_n, kPanel) * sizeof(float)) + 1;
  const size_t mixed_n = 288, mixed_k = Caches().l2 / 2 / (mixed_n * sizeof(float));
  uint32_t seed = 900;
  for (const Shape shape :
       {Shape{100, wide_n, wide_k}, Shape{40, wide_n, wide_k}, Shape{97, 33, 1100},
        Shape{200, mixed_n, mixed_k}, Shape{300, 65, 40}}) {
    for (bool tb : {true, false}) {
      const size_t m = shape.m, n = shape.n, k = shape.k;
      const size_t ldb = tb ? k : n;
      const auto a = Random(m * k, seed++), b = Random(n * k, seed++);
      std::vector<double> truth(m * n);
      std::vector<float> plain(m * n);
      ref::Gemm<double>(false, tb, m, n, k, 1.0f, a.data(), k, b.data(), ldb, 0.0f, truth.data(),
                        n);
      ref::Gemm<float>(false, tb, m, n, k, 1.0f, a.data(), k, b.data(), ldb, 0.0f, plain.data(), n);
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        RunOptions options;
        options.num_threads = threads;
        std::vector<float> c(m * n, kNaN);
        const auto i = [](size_t v) { return static_cast<int>(v); };
        Sgemm(false, tb, i(m), i(n), i(k), 1.0f, a.data(), i(k), b.data(), i(ldb), 0.0f, c.data(),
              i(n), options);
        const std::string what = "m=" + std::to_string(m) + " n=" + std::to_string(n) +
                                 " tb=" + std::to_string(tb) + ", " + std::to_string(threads) +
                                 " threads";
        ASSERT_TRUE(test::WithinRule(c, plain, truth)) << what;
        if (first.empty()) {
          first = c;
        } else {
          ASSERT_EQ(std::memcmp(c.data(), first.data(), c.size() * sizeof(float)), 0)
              << what << " changed bits";
        }
      }
    }
  }
}

// C's columns in groups that lie apart (the layer's per-head q, k, v
// blocks): each group of 64 columns is its own [m][64] block, with a gap
// after it. Every element must be the row-major product's, bit for bit (the
// same tasks and sums, stored elsewhere), on 1 and 2 threads, with column
// parts (B over half of L2) and without, and the gaps untouched; k == 0
// zeroes the groups alone.
TEST_P(GemmTest, GroupedColumnsLandApart) {
  constexpr size_t kGroup = 64, kGap = 16;
  const size_t m = 100;
  uint32_t seed = 950;
  for (const size_t n : {size_t{192}, size_t{256}}) {
    const size_t k = n == 256 ? Caches().l2 / 2 / (n * sizeof(float)) + 1 : 70;
    const auto a = Random(m * k, seed++), b = Random(n * k, seed++);
    const PackedB packed = PackRows(b.data(), k, n, k);
    std::vector<float> plain(m * n);
    GemmPacked(a.data(), k, packed, plain.data(), n, m);
    const size_t stride = m * kGroup + kGap, groups = n / kGroup;
    const ColumnGroups columns{kGroup, static_cast<ptrdiff_t>(stride)};
    for (int threads : {1, 2}) {
      for (const size_t steps : {k, size_t{0}}) {
        std::vector<float> c(groups * stride, 7.0f);
        for (size_t g = 0; g < groups; ++g) std::fill_n(c.data() + g * stride, m * kGroup, kNaN);
        RunOptions options;
        options.num_threads = threads;
        const CallScratch scratch(options, GemmNeeds(), threads);
        GemmWithPackedB({a.data(), static_cast<ptrdiff_t>(k), 1}, m, packed.data.data(), n, steps,
                        1.0f, 0.0f, c.data(), kGroup, threads, scratch, columns);
        const std::string what = "n=" + std::to_string(n) + " k=" + std::to_string(steps) + ", " +
                                 std::to_string(threads) + " threads";
        for (size_t g = 0; g < groups; ++g) {
          for (size_t i = 0; i < m; ++i) {
            for (size_t j = 0; j < kGroup; ++j) {
              const float want = steps == 0 ? 0.0f : plain[i * n + g * kGroup + j];
              const float got = c[g * stride + i * kGroup + j];
              ASSERT_EQ(std::memcmp(&got, &want, sizeof(float)), 0)
                  << what << ": row " << i << " column " << g * kGroup + j;
            }
          }
          for (size_t e = m * kGroup; e < stride; ++e) {
            ASSERT_EQ(c[g * stride + e], 7.0f) << what << ": gap after group " << g;
          }
        }
      }
    }
  }
}

// Every transpose, alpha and beta of the public Sgemm, with strides above
// the minimum, against the reference. beta == 0 must not read C (NaN there).
TEST_P(GemmTest, SgemmTransposesAlphaBeta) {
  uint32_t seed = 500;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (const size_t m : {1u, 13u, 97u}) {
        for (const size_t n : {1u, 33u, 64u}) {
          const size_t k = (m * n) % 2 == 0 ? 257 : 31;
          for (const float alpha : {1.0f, -0.5f}) {
            for (const float beta : {0.0f, 1.0f, 0.75f}) {
              const size_t a_rows = ta ? k : m, a_cols = ta ? m : k;
              const size_t b_rows = tb ? n : k, b_cols = tb ? k : n;
              const size_t lda = a_cols + 2, ldb = b_cols + 1, ldc = n + 3;
              std::vector<float> a(a_rows * lda, kNaN), b(b_rows * ldb, kNaN);
              const auto av = Random(a_rows * a_cols, seed++), bv = Random(b_rows * b_cols, seed++);
              for (size_t i = 0; i < a_rows; ++i) std::copy_n(&av[i * a_cols], a_cols, &a[i * lda]);
              for (size_t i = 0; i < b_rows; ++i) std::copy_n(&bv[i * b_cols], b_cols, &b[i * ldb]);
              const auto c0 = Random(m * ldc, seed++);
              std::vector<float> c = c0;
              if (beta == 0.0f) std::fill(c.begin(), c.end(), kNaN);
              std::vector<double> truth(c0.begin(), c0.end());
              std::vector<float> plain = c0;
              const auto i = [](size_t v) { return static_cast<int>(v); };
              Sgemm(ta, tb, i(m), i(n), i(k), alpha, a.data(), i(lda), b.data(), i(ldb), beta,
                    c.data(), i(ldc));
              ref::Gemm<double>(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                                truth.data(), ldc);
              ref::Gemm<float>(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta,
                               plain.data(), ldc);
              std::vector<float> fast_rows, plain_rows;
              std::vector<double> truth_rows;
              for (size_t r = 0; r < m; ++r) {
                for (size_t j = 0; j < ldc; ++j) {
                  if (j >= n) {  // Padding: untouched.
                    ASSERT_EQ(std::memcmp(&c[r * ldc + j], beta == 0.0f ? &kNaN : &c0[r * ldc + j],
                                          sizeof(float)),
                              0);
                    continue;
                  }
                  fast_rows.push_back(c[r * ldc + j]);
                  plain_rows.push_back(plain[r * ldc + j]);
                  truth_rows.push_back(truth[r * ldc + j]);
                }
              }
              ASSERT_TRUE(test::WithinRule(fast_rows, plain_rows, truth_rows))
                  << "ta=" << ta << " tb=" << tb << " m=" << m << " n=" << n << " k=" << k
                  << " alpha=" << alpha << " beta=" << beta;
            }
          }
        }
      }
    }
  }
}

// alpha == 0 or k == 0 read neither A nor B (NaN there changes nothing):
// C = beta * C, exactly 0 for beta == 0 even over NaN.
TEST_P(GemmTest, SgemmWithoutAProduct) {
  std::vector<float> a(64, kNaN), b(64, kNaN);
  std::vector<float> c(16, 2.0f);
  Sgemm(false, false, 4, 4, 4, 0.0f, a.data(), 4, b.data(), 4, 0.5f, c.data(), 4);
  for (float v : c) EXPECT_EQ(v, 1.0f);
  std::fill(c.begin(), c.end(), kNaN);
  Sgemm(true, true, 4, 4, 0, 1.0f, nullptr, 4, nullptr, 1, 0.0f, c.data(), 4);
  for (float v : c) EXPECT_EQ(v, 0.0f);
  Sgemm(false, false, 0, 4, 4, 1.0f, nullptr, 4, nullptr, 4, 0.0f, nullptr, 4);  // Nothing to do.
}

TEST(GemmContract, SgemmRefusals) {
  std::vector<float> a(64), b(64), c(64);
  const auto expect = [](const std::function<void()>& call, const std::string& needle) {
    test::ExpectInvalid(call, {needle});
  };
  expect([&] { Sgemm(false, false, -1, 4, 4, 1, a.data(), 4, b.data(), 4, 0, c.data(), 4); },
         "m >= 0");
  expect([&] { Sgemm(false, false, 4, 4, 8, 1, a.data(), 4, b.data(), 4, 0, c.data(), 4); },
         "lda >= 8");
  expect([&] { Sgemm(true, false, 4, 4, 8, 1, a.data(), 3, b.data(), 4, 0, c.data(), 4); },
         "lda >= 4");
  expect([&] { Sgemm(false, true, 4, 4, 8, 1, a.data(), 8, b.data(), 4, 0, c.data(), 4); },
         "ldb >= 8");
  expect([&] { Sgemm(false, false, 4, 5, 4, 1, a.data(), 4, b.data(), 5, 0, c.data(), 4); },
         "ldc >= 5");
  expect([&] { Sgemm(false, false, 4, 4, 4, 1, nullptr, 4, b.data(), 4, 0, c.data(), 4); },
         "non-null a");
  expect([&] { Sgemm(false, false, 4, 4, 4, 1, a.data(), 4, b.data(), 4, 0, a.data() + 2, 4); },
         "C and A to be separate");
  expect(
      [&] {
        const int most = std::numeric_limits<int>::max();
        Sgemm(false, false, most, 4, 4, 1, a.data(), most, b.data(), 4, 0, c.data(), 4);
      },
      "overflows");
}

// A caller's workspace of exactly SgemmWorkspaceBytes serves the call and
// gives the bits of the default scratch; one byte less is refused before any
// work. On 2 threads the first shape's threads each pack B into their own
// part of it (PacksBPerThread), the second's share one packed B.
TEST(GemmContract, SgemmCallerWorkspace) {
  for (const int m : {300, 64}) {
    const int n = 65, k = 40;
    const auto a = test::Random(static_cast<size_t>(m) * k, 31);
    const auto b = test::Random(static_cast<size_t>(n) * k, 32);
    const size_t count = static_cast<size_t>(m) * n;
    RunOptions options;
    options.num_threads = 2;
    std::vector<float> expected(count), got(count, kNaN);
    Sgemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, expected.data(), n, options);
    const size_t bytes = SgemmWorkspaceBytes(m, n, k, options);
    std::vector<char> workspace(bytes + 1);
    options.workspace = workspace.data() + 1;  // Misaligned on purpose.
    options.workspace_bytes = bytes - 1;
    EXPECT_THROW(
        Sgemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, got.data(), n, options),
        std::invalid_argument);
    EXPECT_TRUE(std::isnan(got[0])) << "a refused call wrote its output";
    options.workspace_bytes = bytes;
    Sgemm(false, true, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, got.data(), n, options);
    EXPECT_EQ(std::memcmp(expected.data(), got.data(), count * sizeof(float)), 0) << "m=" << m;
  }
}

MHSA_INSTANTIATE_PER_TARGET(GemmTest);

using SoftmaxTest = test::PerTarget;

// Softmax rows against float64, with logits near +-100 so that exp overflows
// unless the max is subtracted first.
TEST_P(SoftmaxTest, MatchesReference) {
  for (size_t cols : {1u, 2u, 3u, 15u, 16u, 17u, 33u, 100u, 1025u, 4099u}) {
    for (float center : {0.0f, 95.0f, -95.0f}) {
      const size_t rows = std::min<size_t>(cols, 7), first = cols - rows;
      const float scale = 0.125f;  // Exact in float and double alike.
      auto scores = Random(rows * cols, static_cast<uint32_t>(cols), center / scale - 40,
                           center / scale + 40);
      std::vector<double> truth(scores.begin(), scores.end());
      std::vector<float> plain = scores, fast = scores;
      ref::CausalSoftmax(truth.data(), cols, rows, cols, first, 1.0 / static_cast<double>(scale));
      ref::CausalSoftmax(plain.data(), cols, rows, cols, first, 1.0f / scale);
      CausalSoftmax(fast.data(), static_cast<int>(rows), static_cast<int>(cols),
                    static_cast<int>(cols), scale);
      ASSERT_TRUE(test::WithinRule(fast, plain, truth)) << "cols=" << cols << " center=" << center;
      for (size_t r = 0; r < rows; ++r) {
        for (size_t j = first + r + 1; j < cols; ++j) {
          const float v = fast[r * cols + j];
          ASSERT_TRUE(v == 0.0f && !std::signbit(v)) << "masked entry not +0";
        }
      }
    }
  }
}

// A NaN the query can see makes its row NaN, as torch's softmax does; a NaN
// it cannot see changes nothing. Rows of 21-23 keys, and of 5-7 (one
// vector on AVX2 and AVX-512, which keep such a row in a register).
TEST_P(SoftmaxTest, NaNAndInfRules) {
  for (const size_t cols : {40u, 8u}) {
    const size_t first = cols / 2;  // Rows see first + 1, + 2, + 3 keys.
    auto base = Random(3 * cols, 9);
    std::vector<float> clean = base;
    const auto first_query = static_cast<ptrdiff_t>(first);
    CausalSoftmaxRows(clean.data(), cols, 3, cols, first_query, 1.0f);
    for (float poison : {kNaN, std::numeric_limits<float>::infinity()}) {
      std::vector<float> s = base;
      s[0 * cols + first / 4] = poison;  // Visible to row 0.
      s[1 * cols + cols - 1] = poison;   // Not visible to row 1.
      CausalSoftmaxRows(s.data(), cols, 3, cols, first_query, 1.0f);
      for (size_t j = 0; j <= first; ++j) EXPECT_TRUE(std::isnan(s[j])) << cols << " " << j;
      for (size_t j = first + 1; j < cols; ++j) EXPECT_EQ(s[j], 0.0f) << cols << " " << j;
      for (size_t j = 0; j < cols; ++j) EXPECT_EQ(s[cols + j], clean[cols + j]) << cols << " " << j;
    }
    // -inf is a legal score: exp gives exactly 0 there.
    std::vector<float> s = base;
    s[2 * cols + first / 4] = -std::numeric_limits<float>::infinity();
    CausalSoftmaxRows(s.data(), cols, 3, cols, first_query, 1.0f);
    EXPECT_EQ(s[2 * cols + first / 4], 0.0f) << cols;
    EXPECT_FALSE(std::isnan(s[2 * cols + first / 4 + 1])) << cols;
  }
}

// The vector exp against std::exp in double: at most 1 ULP (SoftmaxExp's
// contract, softmax-inl.h) over the range the softmaxes feed it, [-87, 0] (normal results)
// and, in the flash attention's score tiles, up to the headroom a score may
// have over its row's reference (8 ln 2, kHeadroom in softmax-inl.h; tested to 8),
// and exactly 0 for -inf and anything below -104.
TEST_P(SoftmaxTest, ExpWithinOneUlp) {
  std::vector<float> x;
  for (float v = -87.0f; v <= 8.0f; v += 0.0037f) x.push_back(v);
  for (float v : {-0.0f, 0.0f, -1e-30f, -1e-7f, -87.33f, 1e-7f, 5.545177f, 8.0f}) x.push_back(v);
  std::vector<float> y(x.size());
  VectorExp(x.data(), y.data(), x.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = std::exp(static_cast<double>(x[i]));
    const float rounded = static_cast<float>(exact);
    const double ulp = std::nextafter(rounded, std::numeric_limits<float>::infinity()) - rounded;
    worst = std::max(worst, std::fabs(y[i] - exact) / ulp);
  }
  EXPECT_LE(worst, 1.0) << "max ULP error";
  const float low[] = {-std::numeric_limits<float>::infinity(), -104.5f, -1e30f};
  float out[3];
  VectorExp(low, out, 3);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}
MHSA_INSTANTIATE_PER_TARGET(SoftmaxTest);

}  // namespace
}  // namespace mhsa
