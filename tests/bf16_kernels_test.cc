// bf16: the conversions against an independent computation in double, and
// the bf16 GEMM on every kernel this build and CPU offer (each SIMD target's
// widening kernel, and the bf16 dot-product kernel where the CPU has it)
// against the float64 reference of the bf16-rounded inputs, under the rule
// of error_rule.h: at most 2x the error of the plain float32 computation of
// the same bf16-rounded inputs, plus the floor.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "bf16.h"
#include "dispatch.h"
#include "error_rule.h"
#include "gemm_bf16.h"
#include "mhsa/mhsa.h"
#include "reference.h"
#include "target_param.h"
#include "test_data.h"

namespace mhsa {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint32_t ToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

// ---------------------------------------------------------------- conversion

// The value of bf16 magnitude bits h (sign excluded) with an unbounded
// exponent, so that the pattern after the largest finite one reads 2^128:
// the value IEEE rounding compares against before it overflows to infinity.
double MagnitudeOf(uint32_t h) {
  const uint32_t exponent = h >> 7, mantissa = h & 0x7F;
  if (exponent == 0) return std::ldexp(static_cast<double>(mantissa), -133);  // Subnormal.
  return std::ldexp(static_cast<double>(128 + mantissa), static_cast<int>(exponent) - 134);
}

// Round to nearest even written from the definition: the two bf16
// neighbours of |x|, the nearer one, on a tie the one with an even pattern.
uint16_t ReferenceFloatToBf16(float f) {
  const uint32_t bits = ToBits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  if (std::isinf(f)) return static_cast<uint16_t>(sign | 0x7F80);
  const double x = std::fabs(static_cast<double>(f));
  const uint32_t below = (bits & 0x7FFFFFFF) >> 16;  // Truncation: |value| <= x.
  const uint32_t above = below + 1;
  const double d_below = x - MagnitudeOf(below), d_above = MagnitudeOf(above) - x;
  uint32_t h;
  if (d_below == 0 || d_below < d_above) {
    h = below;
  } else if (d_above < d_below) {
    h = above;
  } else {
    h = below % 2 == 0 ? below : above;
  }
  return static_cast<uint16_t>(sign | h);  // above = 0x7F80 is infinity.
}

void ExpectConverts(float f, uint16_t expected) {
  EXPECT_EQ(FloatToBf16(f), expected) << std::hex << "float bits 0x" << ToBits(f);
}

TEST(Bf16Conversion, MatchesDefinitionOverEveryExponentAndRoundingCase) {
  // Every upper half (sign, exponent, 7 mantissa bits) with lower halves at
  // and around the tie, the extremes, and a few others.
  const uint32_t lows[] = {0x0000, 0x0001, 0x3FFF, 0x7FFF, 0x8000,
                           0x8001, 0xC000, 0xFFFE, 0xFFFF, 0x1234};
  size_t checked = 0;
  for (uint32_t high = 0; high <= 0xFFFF; ++high) {
    for (uint32_t low : lows) {
      const float f = FromBits(high << 16 | low);
      const uint16_t got = FloatToBf16(f);
      if (std::isnan(f)) {
        // A quiet NaN of the same sign, never an infinity.
        ASSERT_TRUE(std::isnan(Bf16ToFloat(got))) << std::hex << (high << 16 | low);
        ASSERT_EQ(got & 0x8000, high & 0x8000);
        ASSERT_TRUE(got & 0x0040) << "quiet bit";
        continue;
      }
      ASSERT_EQ(got, ReferenceFloatToBf16(f)) << std::hex << "float bits 0x" << (high << 16 | low);
      ++checked;
    }
  }
  EXPECT_GT(checked, 600000u);
}

TEST(Bf16Conversion, TiesNaNInfinityOverflowSubnormals) {
  ExpectConverts(1.0f, 0x3F80);
  ExpectConverts(FromBits(0x3F808000), 0x3F80);  // Tie, kept part even: down.
  ExpectConverts(FromBits(0x3F818000), 0x3F82);  // Tie, kept part odd: up.
  ExpectConverts(FromBits(0x3F808001), 0x3F81);  // Above the tie.
  ExpectConverts(FromBits(0xBF818000), 0xBF82);  // Signs are symmetric.
  ExpectConverts(FromBits(0x3FFF8000), 0x4000);  // Carry into the exponent.
  ExpectConverts(kInf, 0x7F80);
  ExpectConverts(-kInf, 0xFF80);
  ExpectConverts(std::numeric_limits<float>::max(), 0x7F80);  // Overflow rounds to inf.
  ExpectConverts(FromBits(0x7F7F7FFF), 0x7F7F);               // Just below: largest finite.
  ExpectConverts(FromBits(0x7F7F8000), 0x7F80);               // The tie: to inf (even).
  ExpectConverts(FromBits(0x7F7EFFFF), 0x7F7F);
  // NaNs stay NaN and become quiet; a signalling NaN whose payload lives in
  // the low half must not truncate to infinity.
  ExpectConverts(FromBits(0x7F800001), 0x7FC0);
  ExpectConverts(FromBits(0xFF800001), 0xFFC0);
  ExpectConverts(FromBits(0x7FC00000), 0x7FC0);
  ExpectConverts(FromBits(0x7FFFFFFF), 0x7FFF);
  // Subnormals: bf16 has float's exponent range, so gradual underflow too.
  ExpectConverts(FromBits(0x00000001), 0x0000);  // 2^-149: far below 2^-133 / 2.
  ExpectConverts(FromBits(0x00008000), 0x0000);  // Half of 2^-133: tie to even (0).
  ExpectConverts(FromBits(0x00018000), 0x0002);  // 1.5 x 2^-133: tie to even (2).
  ExpectConverts(FromBits(0x80008001), 0x8001);  // Just above the tie, negative.
  ExpectConverts(FromBits(0x007FFFFF), 0x0080);  // Largest subnormal: up to the smallest normal.
  ExpectConverts(0.0f, 0x0000);
  ExpectConverts(-0.0f, 0x8000);
}

TEST(Bf16Conversion, WideningIsExact) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(h));
    ASSERT_EQ(ToBits(f), h << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(FloatToBf16(f), h);  // Round trip.
    }
  }
}

using Bf16BulkTest = test::PerTarget;

// The vectorized bulk conversions equal the scalar ones bit for bit, at every
// length around the vector widths and from misaligned starts.
TEST_P(Bf16BulkTest, EqualsScalar) {
  std::vector<float> src;
  for (uint32_t i = 0; i < 4099; ++i) src.push_back(FromBits(i * 1048573u));  // Every class.
  for (float f : {kNaN, -kNaN, kInf, -kInf, FromBits(0x7F800001), FromBits(0x3F808000),
                  FromBits(0x00018000), std::numeric_limits<float>::max()}) {
    src.push_back(f);
  }
  for (size_t offset : {0u, 1u, 3u}) {
    for (size_t count : {0u, 1u, 3u, 4u, 7u, 8u, 15u, 16u, 17u, 33u, 100u, 4100u}) {
      if (offset + count > src.size()) continue;
      std::vector<uint16_t> h(count + 1, 0xABCD);
      FloatToBf16(src.data() + offset, h.data(), count);
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(h[i], FloatToBf16(src[offset + i])) << "count " << count << " i " << i;
      }
      ASSERT_EQ(h[count], 0xABCD) << "wrote past the end";
      std::vector<float> back(count + 1, 7.0f);
      Bf16ToFloat(h.data(), back.data(), count);
      for (size_t i = 0; i < count; ++i) ASSERT_EQ(ToBits(back[i]), uint32_t{h[i]} << 16);
      ASSERT_EQ(back[count], 7.0f);
    }
  }
}
MHSA_INSTANTIATE_PER_TARGET(Bf16BulkTest);

// ------------------------------------------------------------------ packing

// The packed layout from its definition: [j/32][p/2][j%32][p%2] = B[j][p],
// zero where j >= n or p >= k.
TEST(Bf16Packing, LayoutFromEverySource) {
  for (size_t n : {1u, 31u, 32u, 33u, 70u}) {
    for (size_t k : {1u, 2u, 5u, 64u}) {
      const size_t ld = k + 3;
      std::vector<float> rows(n * ld, kNaN), cols(k * (n + 2), kNaN);
      const auto vals = test::Random(n * k, static_cast<uint32_t>(n * 100 + k));
      for (size_t j = 0; j < n; ++j) {
        for (size_t p = 0; p < k; ++p) {
          rows[j * ld + p] = vals[j * k + p];
          cols[p * (n + 2) + j] = vals[j * k + p];
        }
      }
      std::vector<uint16_t> rows_bf16(rows.size()), cols_bf16(cols.size());
      FloatToBf16(rows.data(), rows_bf16.data(), rows.size());
      FloatToBf16(cols.data(), cols_bf16.data(), cols.size());

      const size_t size = PackedBf16BElements(n, k);
      std::vector<uint16_t> want(size, 0);
      const size_t pairs = (k + 1) / 2;
      for (size_t j = 0; j < n; ++j) {
        for (size_t p = 0; p < k; ++p) {
          want[((j / 32 * pairs + p / 2) * 32 + j % 32) * 2 + p % 2] = FloatToBf16(vals[j * k + p]);
        }
      }
      std::vector<uint16_t> got(size, 0xFFFF);
      PackBf16BRows(rows.data(), ld, n, k, got.data());
      EXPECT_EQ(got, want) << "rows, float; n=" << n << " k=" << k;
      std::fill(got.begin(), got.end(), 0xFFFF);
      PackBf16BRows(rows_bf16.data(), ld, n, k, got.data());
      EXPECT_EQ(got, want) << "rows, bf16; n=" << n << " k=" << k;
      std::fill(got.begin(), got.end(), 0xFFFF);
      PackBf16BCols(cols.data(), n + 2, n, k, got.data());
      EXPECT_EQ(got, want) << "cols, float; n=" << n << " k=" << k;
      std::fill(got.begin(), got.end(), 0xFFFF);
      PackBf16BCols(cols_bf16.data(), n + 2, n, k, got.data());
      EXPECT_EQ(got, want) << "cols, bf16; n=" << n << " k=" << k;
      EXPECT_EQ(PackBf16FromRows(rows.data(), ld, n, k).data.size(), size);
    }
  }
}

using Bf16PairPackingTest = test::PerTarget;

// The dot-product kernel's A packing (vdpbf16ps, BFDOT), on every SIMD
// target's vectors, from the layout's definition: [i/mr][p/2][i%mr][p%2] =
// A[i][p] as FloatToBf16 rounds it (a bf16 source as it is), zero past m
// and k. Rows in fours and steps in vectors take the transposes, the rest
// one pair at a time: sizes on both sides of both; values of every class
// (ties, NaN, a signalling NaN, infinities, subnormals).
TEST_P(Bf16PairPackingTest, DotKernelAFromItsDefinition) {
#if defined(__x86_64__)
  const Bf16Kernel* kernel = Bf16InstructionKernel(HWY_AVX3, Bf16Instructions::kDot);
#elif defined(__aarch64__)
  const Bf16Kernel* kernel = Bf16InstructionKernel(HWY_NEON, Bf16Instructions::kDot);
#else
  const Bf16Kernel* kernel = nullptr;
#endif
  if (kernel == nullptr) GTEST_SKIP() << "no dot-product kernel in this build";
  ASSERT_EQ(kernel->k_multiple, 2u);
  ASSERT_EQ(kernel->a_element_bytes, sizeof(uint16_t));
  const uint32_t specials[] = {0x3F808000, 0x3F818000, 0xBF818000, 0x7F800000, 0xFF800000,
                               0x7F7FFFFF, 0x7F800001, 0xFFC00000, 0x00008000, 0x80018000};
  const size_t mr = kernel->mr;
  for (size_t m : {1u, 3u, 4u, 12u, 13u, 27u, 64u}) {
    for (size_t k : {1u, 2u, 5u, 31u, 32u, 33u, 64u, 65u, 256u}) {
      const size_t lda = k + 3, pairs = (k + 1) / 2;
      std::vector<float> a = test::Random(m * lda, static_cast<uint32_t>(m * 1000 + k));
      for (size_t i = 0; i < m * lda; i += 7)
        a[i] = FromBits(specials[i / 7 % std::size(specials)]);
      std::vector<uint16_t> a_bf16(a.size());
      FloatToBf16(a.data(), a_bf16.data(), a.size());
      const size_t size = kernel->PackedABytes(m, k) / sizeof(uint16_t);
      std::vector<uint16_t> want(size, 0);
      for (size_t i = 0; i < m; ++i) {
        for (size_t p = 0; p < k; ++p) {
          want[((i / mr * pairs + p / 2) * mr + i % mr) * 2 + p % 2] = FloatToBf16(a[i * lda + p]);
        }
      }
      std::vector<uint16_t> got(size, 0xFFFF);
      kernel->pack_a_f32(a.data(), lda, m, k, got.data());
      ASSERT_EQ(got, want) << "float source, m=" << m << " k=" << k;
      std::fill(got.begin(), got.end(), 0xFFFF);
      kernel->pack_a_bf16(a_bf16.data(), lda, m, k, got.data());
      ASSERT_EQ(got, want) << "bf16 source, m=" << m << " k=" << k;
    }
  }
}
MHSA_INSTANTIATE_PER_TARGET(Bf16PairPackingTest);

// AMX's A packing rounds every kind of value as FloatToBf16 does: its fast
// conversion (vcvtne2ps2bf16) rounds to nearest even and quiets NaN alike
// but reads subnormals as zero, so 32 floats holding one take the integer
// rounding. k blocks of 32 are its groups: block 0 holds no subnormal (the
// fast path, with ties, overflow, NaN and infinities), block 1 one, block 2
// several among normal values, block 3 a tail of 5.
#if defined(__x86_64__)  // AmxBf16Kernel exists there only.
TEST(Bf16Packing, AmxARoundsEveryValueAsFloatToBf16) {
  if (CpuBf16Instructions() != Bf16Instructions::kAmx) {
    GTEST_SKIP() << "this CPU has no AMX-BF16";
  }
  const uint32_t specials[] = {0x3F808000, 0x3F818000, 0x3F808001, 0xBF818000, 0x3FFF8000,
                               0x7F800000, 0xFF800000, 0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000,
                               0x7F800001, 0xFF800001, 0x7FC00000, 0x7FFFFFFF, 0x80000000};
  const uint32_t subnormals[] = {0x00000001, 0x00008000, 0x00018000, 0x80008001, 0x007FFFFF};
  const size_t k = 101;
  std::vector<float> a = test::Random(k, 77);
  for (size_t i = 0; i < std::size(specials); ++i) a[2 * i] = FromBits(specials[i]);
  a[32 + 17] = FromBits(subnormals[4]);
  for (size_t i = 0; i < std::size(subnormals); ++i) a[64 + 3 * i] = FromBits(subnormals[i]);
  const Bf16Kernel& amx = AmxBf16Kernel();
  std::vector<uint16_t> packed(amx.PackedABytes(1, k) / sizeof(uint16_t), 0xFFFF);
  amx.pack_a_f32(a.data(), k, 1, k, packed.data());
  // [1][4][32][32]: row 0 of k block b is 32 values at b * 32 * 32.
  for (size_t j = 0; j < 128; ++j) {
    const uint16_t want = j < k ? FloatToBf16(a[j]) : 0;
    ASSERT_EQ(packed[j / 32 * 32 * 32 + j % 32], want) << "k " << j;
  }
}
#endif

// --------------------------------------------------------------------- GEMM

// A kernel configuration: a SIMD target, with the bf16 instructions it may
// use: "<target>_AMX" (AMX tiles), "<target>_BF16" (vdpbf16ps, BFDOT), or
// none ("<target>"). Each names the kernel that must serve it.
std::vector<std::string> KernelConfigs() {
  std::vector<std::string> configs;
  const Bf16Instructions cpu = CpuBf16Instructions();
  for (const std::string& target : test::SimdTargets()) {
    if (target == "AVX3" || target == "NEON") {
      if (cpu == Bf16Instructions::kAmx) configs.push_back(target + "_AMX");
      if (cpu != Bf16Instructions::kNone) configs.push_back(target + "_BF16");
    }
    configs.push_back(target);
  }
  return configs;
}

class Bf16GemmTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string& config = GetParam();
    const size_t suffix = config.find('_');
    Bf16Instructions level = Bf16Instructions::kNone;
    if (suffix != std::string::npos) {
      level = config.substr(suffix) == "_AMX" ? Bf16Instructions::kAmx : Bf16Instructions::kDot;
    }
    SetTarget(config.substr(0, suffix));
    SetBf16Instructions(level);
    ASSERT_EQ(std::string(ChosenBf16Kernel().name), config);
  }
  void TearDown() override {
    SetTarget("");
    SetBf16Instructions(Bf16Instructions::kAmx);
  }
};

// Values in [lo, hi) that are not all bf16 values: the float path must round.
std::vector<float> Inputs(size_t count, uint32_t seed) { return test::Random(count, seed); }

std::vector<float> Rounded(std::vector<float> v) {
  for (float& x : v) x = RoundToBf16(x);
  return v;
}

// The two references of the rule: float64 and plain float32, both of the
// bf16-rounded inputs. a: [m][k], b: [n][k], dense.
void References(const std::vector<float>& a, const std::vector<float>& b, size_t m, size_t n,
                size_t k, std::vector<double>* truth, std::vector<float>* plain) {
  const std::vector<float> ar = Rounded(a), br = Rounded(b);
  const std::vector<double> ad(ar.begin(), ar.end()), bd(br.begin(), br.end());
  truth->assign(m * n, 0.0);
  plain->assign(m * n, 0.0f);
  ref::MatMulBt(ad.data(), k, bd.data(), k, truth->data(), n, m, n, k);
  ref::MatMulBt(ar.data(), k, br.data(), k, plain->data(), n, m, n, k);
}

// GemmBf16 on strided, misaligned operands with NaN in every gap; C starts
// as NaN (beta = 0 must not read it). Checks the rule, that nothing past
// column n is written, and that A given as bf16 gives the same bits as A
// given as float.
void CheckGemm(size_t m, size_t n, size_t k, uint32_t seed) {
  const size_t lda = k + 3, ldb = k + 5, ldc = n + 2;
  const auto a_vals = Inputs(m * k, seed), b_vals = Inputs(n * k, seed + 1);
  std::vector<float> a_buf(1 + m * lda, kNaN), b_buf(1 + n * ldb, kNaN);
  float *a = a_buf.data() + 1, *b = b_buf.data() + 1;
  for (size_t i = 0; i < m; ++i) std::copy_n(&a_vals[i * k], k, a + i * lda);
  for (size_t j = 0; j < n; ++j) std::copy_n(&b_vals[j * k], k, b + j * ldb);
  std::vector<uint16_t> a_bf16_buf(a_buf.size());
  FloatToBf16(a_buf.data(), a_bf16_buf.data(), a_buf.size());

  const PackedBf16B packed = PackBf16FromRows(b, ldb, n, k);
  std::vector<float> c_buf(1 + m * ldc, kNaN), c2_buf(1 + m * ldc, kNaN);
  float* c = c_buf.data() + 1;
  GemmBf16(a, lda, packed, c, ldc, m);
  GemmBf16(a_bf16_buf.data() + 1, lda, packed, c2_buf.data() + 1, ldc, m);

  std::vector<double> truth;
  std::vector<float> plain, fast(m * n);
  References(a_vals, b_vals, m, n, k, &truth, &plain);
  for (size_t i = 0; i < m; ++i) {
    std::copy_n(c + i * ldc, n, &fast[i * n]);
    for (size_t j = n; j < ldc && i + 1 < m; ++j) {
      ASSERT_TRUE(std::isnan(c[i * ldc + j])) << "wrote past column n";
    }
  }
  ASSERT_TRUE(test::WithinRule(fast, plain, truth)) << "m=" << m << " n=" << n << " k=" << k;
  ASSERT_EQ(std::memcmp(c_buf.data(), c2_buf.data(), c_buf.size() * sizeof(float)), 0)
      << "A as bf16 differs from A as float; m=" << m << " n=" << n << " k=" << k;
}

// The awkward sizes: around 1, the AVX3 rows (12), the panel (32), odd k,
// and past 2 x 128 (k-pairs of a 256-step block).
constexpr size_t kSizes[] = {1, 2, 3, 11, 12, 13, 31, 32, 33, 97, 255, 256, 257};
// (32 is also AMX's row panel and k-block; 97 and 257 leave partial ones.)
constexpr size_t kNumSizes = sizeof(kSizes) / sizeof(kSizes[0]);

TEST_P(Bf16GemmTest, MatchesReferenceAtAwkwardSizes) {
  uint32_t seed = 1;
  // Every (m, n) with a spread of k (each k about 13 times), rather than the
  // whole cube.
  for (size_t im = 0; im < kNumSizes; ++im) {
    for (size_t in = 0; in < kNumSizes; ++in) {
      CheckGemm(kSizes[im], kSizes[in], kSizes[(im + 3 * in) % kNumSizes], seed += 2);
    }
  }
  // Every k at a few (m, n).
  for (size_t k : kSizes) {
    CheckGemm(13, 33, k, seed += 2);
    CheckGemm(12, 32, k, seed += 2);
  }
}

// k beyond the k-block (512 steps), odd: blocks after the first add to C.
TEST_P(Bf16GemmTest, LongOddK) {
  CheckGemm(97, 33, 1025, 5);
  CheckGemm(25, 64, 513, 6);
}

// k = 0: C = 0, written without reading it.
TEST_P(Bf16GemmTest, EmptyK) {
  const PackedBf16B packed(5, 0);
  std::vector<float> c(3 * 5, kNaN);
  const float a = 1.0f;
  GemmBf16(&a, 0, packed, c.data(), 5, 3);
  for (float v : c) EXPECT_EQ(v, 0.0f);
}

TEST_P(Bf16GemmTest, ThreadCountDoesNotChangeBits) {
  const size_t m = 500, n = 70, k = 301;
  const auto a = Inputs(m * k, 3), b = Inputs(n * k, 4);
  const PackedBf16B packed = PackBf16FromRows(b.data(), k, n, k);
  std::vector<float> one(m * n), two(m * n);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  GemmBf16(a.data(), k, packed, one.data(), n, m);
  omp_set_num_threads(2);
  GemmBf16(a.data(), k, packed, two.data(), n, m);
  omp_set_num_threads(saved);
  ASSERT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
}

// The tile entry point with accumulate (C += A·B) and with the causal limit,
// B given as columns ([k][n], the layout of v in p·v). Row i uses steps
// p < diag + i. For each row r in turn, B's steps from diag + r on and A's
// masked steps are poisoned with NaN (or infinity): rows 0..r must keep
// their bits, and the clean result must meet the rule against the reference
// summed over each row's own steps. Odd and even limits put the boundary
// inside and between k-pairs.
TEST_P(Bf16GemmTest, CausalLimitSkipsMaskedStepsExactly) {
  const Bf16Kernel kernel = ChosenBf16Kernel();
  const size_t m = 27, n = 40, k = 45;
  const auto a_vals = Inputs(m * k, 11), b_vals = Inputs(k * n, 12), c0 = Inputs(m * n, 13);
  std::vector<unsigned char> a_pack(kernel.PackedABytes(m, k));
  for (ptrdiff_t diag : {-30, -3, 0, 1, 2, 5, 6, 17, 20, 44, 45, 60}) {
    for (bool accumulate : {false, true}) {
      // A with its masked steps poisoned (rows never read them).
      std::vector<float> a = a_vals;
      for (size_t i = 0; i < m; ++i) {
        for (size_t p = 0; p < k; ++p) {
          if (static_cast<ptrdiff_t>(p) >= diag + static_cast<ptrdiff_t>(i)) a[i * k + p] = kNaN;
        }
      }
      kernel.pack_a_f32(a.data(), k, m, k, a_pack.data());
      const auto run = [&](const std::vector<float>& b) {
        const PackedBf16B packed = PackBf16FromCols(b.data(), n, n, k);
        std::vector<float> c = accumulate ? c0 : std::vector<float>(m * n, kNaN);
        kernel.tiles(a_pack.data(), m, packed.data.data(), packed.pairs(), n, k, c.data(), n,
                     accumulate, diag);
        return c;
      };
      const std::vector<float> clean = run(b_vals);

      // Reference: row i summed over p < diag + i, of the bf16-rounded values.
      std::vector<double> truth(m * n);
      std::vector<float> plain(m * n);
      for (size_t i = 0; i < m; ++i) {
        for (size_t j = 0; j < n; ++j) {
          double t = accumulate ? c0[i * n + j] : 0.0f;
          float s = 0.0f;
          for (size_t p = 0; p < k; ++p) {
            if (static_cast<ptrdiff_t>(p) >= diag + static_cast<ptrdiff_t>(i)) break;
            const float x = RoundToBf16(a_vals[i * k + p]), y = RoundToBf16(b_vals[p * n + j]);
            t += static_cast<double>(x) * y;
            s += x * y;
          }
          truth[i * n + j] = t;
          plain[i * n + j] = accumulate ? c0[i * n + j] + s : s;
        }
      }
      ASSERT_TRUE(test::WithinRule(clean, plain, truth))
          << "diag " << diag << (accumulate ? " accumulate" : "");

      for (size_t r = 0; r < m; ++r) {
        const ptrdiff_t first = diag + static_cast<ptrdiff_t>(r);
        if (first >= static_cast<ptrdiff_t>(k)) break;
        std::vector<float> b = b_vals;
        for (size_t p = static_cast<size_t>(std::max<ptrdiff_t>(first, 0)); p < k; ++p) {
          for (size_t j = 0; j < n; ++j) b[p * n + j] = (p + j) % 2 ? kNaN : kInf;
        }
        const std::vector<float> poisoned = run(b);
        ASSERT_EQ(std::memcmp(clean.data(), poisoned.data(), (r + 1) * n * sizeof(float)), 0)
            << "a masked step leaked into rows 0.." << r << "; diag " << diag
            << (accumulate ? " accumulate" : "");
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, Bf16GemmTest, ::testing::ValuesIn(KernelConfigs()),
                         test::TargetTestName);

// ------------------------------------------------------- kernel selection

// Where the CPU has bf16 instructions, the default choice on the best
// target is the best of their kernels, and it is the one that runs: AMX,
// vdpbf16ps and BFDOT treat subnormal bf16 inputs as zero (they do not
// consult the floating-point control register), which the widening FMA
// kernels never do, so a product of 2^-130 (a bf16 subnormal) and 2^10
// comes out as 0 from an instruction kernel and as 2^-120 from the fallback.
TEST(Bf16KernelChoice, InstructionKernelServesWhereTheCpuHasIt) {
  const Bf16Instructions cpu = CpuBf16Instructions();
  if (cpu == Bf16Instructions::kNone) {
    GTEST_SKIP() << "this CPU has no bf16 instructions mhsa uses (AMX-BF16, AVX512_BF16, Arm BF16)";
  }
  SetTarget("");
  SetBf16Instructions(Bf16Instructions::kAmx);
  const std::string best = hwy::TargetName(UsableTargets().front());  // The best SIMD target.
  std::vector<std::pair<Bf16Instructions, std::string>> expected;
#if defined(__x86_64__)
  ASSERT_EQ(best, "AVX3") << "AVX512_BF16 implies AVX3";
  if (cpu == Bf16Instructions::kAmx) expected.emplace_back(Bf16Instructions::kAmx, "AVX3_AMX");
  expected.emplace_back(Bf16Instructions::kDot, "AVX3_BF16");
#elif defined(__aarch64__)
  ASSERT_EQ(best, "NEON");
  expected.emplace_back(Bf16Instructions::kDot, "NEON_BF16");
#endif
  EXPECT_EQ(std::string(ChosenBf16Kernel().name), expected.front().second) << "the default";

  const float a = std::ldexp(1.0f, -130), b = std::ldexp(1.0f, 10);
  const PackedBf16B packed = PackBf16FromRows(&b, 1, 1, 1);
  for (const auto& [level, name] : expected) {
    SetBf16Instructions(level);
    EXPECT_EQ(std::string(ChosenBf16Kernel().name), name);
    float c = kNaN;
    GemmBf16(&a, 1, packed, &c, 1, 1);
    EXPECT_EQ(c, 0.0f) << name << ": the bf16 instructions did not run";
  }
  SetBf16Instructions(Bf16Instructions::kNone);
  EXPECT_EQ(std::string(ChosenBf16Kernel().name), best);
  float c = kNaN;
  GemmBf16(&a, 1, packed, &c, 1, 1);
  EXPECT_EQ(c, std::ldexp(1.0f, -120)) << "the widening kernel should be exact";
  SetBf16Instructions(Bf16Instructions::kAmx);
}

// Other targets never get the instruction kernel.
TEST(Bf16KernelChoice, OtherTargetsUseTheirWideningKernel) {
  for (const std::string& target : test::SimdTargets()) {
    if (target == "AVX3" || target == "NEON") continue;
    SetTarget(target);
    EXPECT_EQ(std::string(ChosenBf16Kernel().name), target);
  }
  SetTarget("");
}

}  // namespace
}  // namespace mhsa
