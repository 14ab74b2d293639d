// The tile product (TileProduct in src/gemm-inl.h: q·kᵀ and p·v of the
// flash attention, every GEMM tile) tested directly on every compiled
// target, in the style of XNNPACK's GEMM microkernel testers: one builder
// with m, n, k, the causal limit, beta and the layout of A, looped over
// values below, at and above the register tile (MR), the panel (32), the
// k-block (256) and the key block. NaN fills what must never be read: the
// masked triangle of A, the B rows past every row's limit, the padding of
// strided rows, and C itself when beta is 0.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tile_product_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "gemm-inl.h"
#include "hwy/highway.h"

// This file is compiled once per target (foreach_target.h): what is outside
// HWY_NAMESPACE is defined on the first pass only.
#ifndef MHSA_TESTS_TILE_CALL_
#define MHSA_TESTS_TILE_CALL_
// One tile product as the attention and the GEMM run it: A packed into
// MR-row panels (kRowStride 1) or read in place as a row-major block with
// row stride kKeyBlock (the p of p·v); B packed into kPanel panels.
struct TileCall {
  const float* a;  // [m][k] row-major, stride lda
  size_t lda;
  const float* b;  // [k][n] row-major, stride ldb
  size_t ldb;
  float* c;  // [m][n], stride ldc
  size_t ldc;
  size_t m, n, k;
  float beta;
  ptrdiff_t diag;
  bool a_in_place;
};
#endif  // MHSA_TESTS_TILE_CALL_

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

void RunTile(const TileCall& call) {
  // B as panels: rows of Bᵀ are B's columns.
  AlignedFloats bp(RoundUp(call.n, kPanel) * call.k + 1);
  PackPanels<kPanel>(call.b, 1, static_cast<ptrdiff_t>(call.ldb), call.n, call.k, 1.0f, bp.data());
  if (call.a_in_place) {
    // Rows past m up to a whole tile are read (never stored): give them a
    // block of kKeyBlock columns, as the attention's score block has.
    AlignedFloats block(RoundUp(call.m, kMR) * kKeyBlock, 0.0f);
    for (size_t i = 0; i < call.m; ++i) {
      for (size_t p = 0; p < call.k; ++p) block[i * kKeyBlock + p] = call.a[i * call.lda + p];
    }
    TileProduct<kKeyBlock>(block.data(), call.m, bp.data(), call.k, call.n, call.k, call.c,
                           call.ldc, call.beta, call.diag);
    return;
  }
  AlignedFloats ap(RoundUp(call.m, kMR) * call.k + 1);
  PackA(call.a, static_cast<ptrdiff_t>(call.lda), 1, call.m, call.k, 1.0f, ap.data());
  TileProduct(ap.data(), call.m, bp.data(), call.k, call.n, call.k, call.c, call.ldc, call.beta,
              call.diag);
}

size_t RegisterRows() { return kMR; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "dispatch.h"
#include "error_rule.h"
#include "target_param.h"
#include "test_data.h"

namespace mhsa {
namespace {

HWY_EXPORT(RunTile);
HWY_EXPORT(RegisterRows);

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr ptrdiff_t kNoMask = std::numeric_limits<ptrdiff_t>::max() / 2;

class TileProductTester {
 public:
  TileProductTester& m(size_t v) { return m_ = v, *this; }
  TileProductTester& n(size_t v) { return n_ = v, *this; }
  TileProductTester& k(size_t v) { return k_ = v, *this; }
  TileProductTester& diag(ptrdiff_t v) { return diag_ = v, *this; }
  TileProductTester& beta(float v) { return beta_ = v, *this; }
  TileProductTester& a_in_place(bool v) { return a_in_place_ = v, *this; }

  // Steps row r may use: p < diag + r, and p < k.
  size_t Limit(size_t r) const {
    const ptrdiff_t limit = diag_ + static_cast<ptrdiff_t>(r);
    return limit <= 0 ? 0 : std::min(k_, static_cast<size_t>(limit));
  }

  // The rule compares max errors, and the max error of a few values is
  // mostly luck: a small tile runs with several inputs until at least
  // kMinValues values are compared at once.
  static constexpr size_t kMinValues = 256;

  ::testing::AssertionResult Test(uint32_t seed) const {
    std::vector<float> fast, plain;
    std::vector<double> truth;
    for (uint32_t rep = 0; fast.size() < kMinValues && rep < kMinValues; ++rep) {
      if (auto r = Run(seed + 3 * rep, &fast, &plain, &truth); !r) return r;
      if (m_ * n_ == 0) break;
    }
    return test::WithinRule(fast, plain, truth);
  }

  // One product with inputs from `seed`: appends what to compare, and checks
  // that nothing outside the tile was written.
  ::testing::AssertionResult Run(uint32_t seed, std::vector<float>* fast, std::vector<float>* plain,
                                 std::vector<double>* truth) const {
    const size_t lda = k_ + 3, ldb = n_ + 5, ldc = n_ + 2;
    std::vector<float> a(m_ * lda + 1, kNaN), b(k_ * ldb + 1, kNaN), c(m_ * ldc + 1, kNaN);
    const auto av = test::Random(m_ * k_, seed), bv = test::Random(k_ * n_, seed + 1),
               cv = test::Random(m_ * n_, seed + 2);
    // A: NaN in every row's masked steps. B: NaN in the rows no row may use.
    for (size_t r = 0; r < m_; ++r) {
      for (size_t p = 0; p < Limit(r); ++p) a[r * lda + p] = av[r * k_ + p];
    }
    const size_t used = m_ == 0 ? 0 : Limit(m_ - 1);
    for (size_t p = 0; p < used; ++p) {
      for (size_t j = 0; j < n_; ++j) b[p * ldb + j] = bv[p * n_ + j];
    }
    if (beta_ != 0.0f) {
      for (size_t r = 0; r < m_; ++r) {
        for (size_t j = 0; j < n_; ++j) c[r * ldc + j] = cv[r * n_ + j];
      }
    }
    const std::vector<float> c_before = c;
    MHSA_DISPATCH(RunTile)
    ({a.data(), lda, b.data(), ldb, c.data(), ldc, m_, n_, k_, beta_, diag_, a_in_place_});
    for (size_t r = 0; r < m_; ++r) {
      for (size_t j = 0; j < ldc; ++j) {
        const float got = c[r * ldc + j];
        if (j >= n_) {  // Past the tile's columns: untouched.
          if (!std::isnan(got)) {
            return ::testing::AssertionFailure() << "wrote column " << j << " of row " << r;
          }
          continue;
        }
        double exact = beta_ != 0.0f ? static_cast<double>(beta_) * c_before[r * ldc + j] : 0.0;
        float simple = beta_ != 0.0f ? beta_ * c_before[r * ldc + j] : 0.0f;
        float sum = 0.0f;
        for (size_t p = 0; p < Limit(r); ++p) {
          exact += static_cast<double>(a[r * lda + p]) * b[p * ldb + j];
          sum += a[r * lda + p] * b[p * ldb + j];
        }
        fast->push_back(got);
        plain->push_back(simple + sum);
        truth->push_back(exact);
      }
    }
    return ::testing::AssertionSuccess();
  }

  std::string Describe() const {
    return "m=" + std::to_string(m_) + " n=" + std::to_string(n_) + " k=" + std::to_string(k_) +
           " diag=" + (diag_ == kNoMask ? std::string("none") : std::to_string(diag_)) +
           " beta=" + std::to_string(beta_) + (a_in_place_ ? " A in place" : " A packed");
  }

 private:
  size_t m_ = 1, n_ = 1, k_ = 1;
  ptrdiff_t diag_ = kNoMask;
  float beta_ = 0.0f;
  bool a_in_place_ = false;
};

using TileProductTest = test::PerTarget;

TEST_P(TileProductTest, EdgesOfEveryBlock) {
  const size_t mr = MHSA_DISPATCH(RegisterRows)();
  const size_t ms[] = {1, mr - 1 > 0 ? mr - 1 : 1, mr, mr + 1, 2 * mr + 1, 48};
  const size_t ns[] = {1, 15, 31, 32, 33, 64, 65};
  const size_t ks[] = {1, 7, 63, 255, 256, 257};
  uint32_t seed = 1;
  for (size_t m : ms) {
    for (size_t n : ns) {
      for (size_t k : ks) {
        for (float beta : {0.0f, 1.0f}) {
          TileProductTester t;
          t.m(m).n(n).k(k).beta(beta);
          ASSERT_TRUE(t.Test(seed++)) << t.Describe();
        }
      }
    }
  }
}

// The causal limit, as the flash attention uses it: p·v with p read in
// place (beta 1, accumulating), q·kᵀ with packed q (beta 0); limits that
// start before the block (rows with nothing to do), inside it, and past it.
TEST_P(TileProductTest, CausalLimitSkipsMaskedSteps) {
  const size_t mr = MHSA_DISPATCH(RegisterRows)();
  uint32_t seed = 1000;
  for (bool in_place : {false, true}) {
    for (size_t m : {size_t{1}, mr, mr + 1, size_t{48}}) {
      for (size_t k : {size_t{5}, size_t{64}, size_t{256}}) {
        for (ptrdiff_t diag : {ptrdiff_t{-3}, ptrdiff_t{0}, ptrdiff_t{1}, ptrdiff_t{17},
                               static_cast<ptrdiff_t>(k) - 1}) {
          TileProductTester t;
          t.m(m).n(33).k(k).diag(diag).beta(in_place ? 1.0f : 0.0f).a_in_place(in_place);
          ASSERT_TRUE(t.Test(seed++)) << t.Describe();
        }
      }
    }
  }
}

MHSA_INSTANTIATE_PER_TARGET(TileProductTest);

}  // namespace
}  // namespace mhsa
#endif  // HWY_ONCE
