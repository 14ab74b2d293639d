// bf16-gemm-3x16-neonbf16: the bf16 GEMM microkernel with Arm's BFDOT.
//
// Highway 1.0.3 has no Arm target with FEAT_BF16, so this kernel is written
// with intrinsics and compiled with a function-level target attribute; it
// runs only where the kernel reports HWCAP2_BF16 (cpu_features.h).
//
// BFDOT (by element) vd.4s, vn.8h, vm.2h[lane]: for each of 4 float lanes i,
//   d[i] += n[2i] * m[2 lane] + n[2i+1] * m[2 lane + 1]
// n is 4 columns x 2 k-steps of a B panel (128 bits of the shared layout
// [k/2][32][2]: it fits as it is), m holds the k-pairs of 4 A rows, and the
// lane picks the row: the A layout [k/2][MR][2] feeds it with one load per
// 4 rows. Without FEAT_EBF16 (or with FPCR.EBF clear, as Linux leaves it)
// BFDOT ignores FPCR: subnormal inputs and results are flushed to zero and
// the intermediate sums are rounded to odd, not to nearest. BFMMLA would
// need a different B layout (2 columns x 4 k-steps per 128 bits), so it is
// not used.
#include "gemm_bf16.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#define MHSA_TARGET_NEON_BF16 __attribute__((target("arch=armv8.2-a+bf16")))

// Hand-written intrinsics on purpose: Highway 1.0.3 has no target with
// these instructions (gemm_bf16.h), so this file is the one place in mhsa
// where SIMD is not written through Highway.
// NOLINTBEGIN(portability-simd-intrinsics)
namespace mhsa {
namespace {

// Round to odd in every BFDOT accumulation makes each step's error up to
// one ulp of the running sum, twice round-to-nearest's half ulp, and over a
// long k that misses the project's accuracy rule (2x the plain float32
// error; measured under qemu: 3x at m=13, n=33, k=255). So BFDOT sums only
// kFoldPairs k-pairs into fresh partial accumulators, and an ordinary
// float add (round to nearest even) folds each partial into the tile's
// sums: the odd rounding then touches partial sums over 16 steps only. One
// vaddq per 8 BFDOT per accumulator.
constexpr size_t kFoldPairs = 8;

// Register tile: 3 rows x 16 columns (half a B panel): 3 x 4 q sums and
// 3 x 4 q partials (24 of the 32 q registers), 4 B vectors, the A pairs of
// rows 0-1 in a d register and row 2's pair replicated in a q register: 30.
// A 32-column tile would need 48 registers for sums and partials of even 3
// rows, so the kernel makes two passes over k, one per half panel,
// re-reading the small A panel from L1. 12 independent chains cover BFDOT's
// latency (4-5 cycles) at 2 per cycle; 3 divides kMC (96).
constexpr size_t kMR = kNeonBf16MR;
constexpr size_t kHalf = 16;          // Columns per pass.
constexpr size_t kNV = kHalf / 4;     // q vectors per pass.
constexpr size_t kPairElements = 64;  // bf16 values per k-pair of a panel.
static_assert(2 * kMR * kNV + kNV + 2 <= 32, "sums, partials, B and A fit the q registers");

MHSA_TARGET_NEON_BF16 inline bfloat16x8_t LoadBf16x8(const uint16_t* p) {
  return vreinterpretq_bf16_u16(vld1q_u16(p));
}

MHSA_TARGET_NEON_BF16 inline uint32_t LoadPair(const uint16_t* p) {
  uint32_t pair;
  std::memcpy(&pair, p, sizeof(pair));
  return pair;
}

// Rows [0, m_valid) x columns [0, n_valid) (n_valid <= 16) of C (+)= one A
// panel · one half B panel over kp k-pairs. ap: [kp][kMR][2]; bp: the half's
// first column in a panel [kp][32][2].
MHSA_TARGET_NEON_BF16 void HalfKernel(const uint16_t* __restrict ap, const uint16_t* __restrict bp,
                                      size_t kp, size_t k, float* __restrict c, size_t ldc,
                                      size_t m_valid, size_t n_valid, bool accumulate,
                                      ptrdiff_t diag) {
  float32x4_t sum[kMR][kNV], part[kMR][kNV];
  for (size_t r = 0; r < kMR; ++r) {
    for (size_t v = 0; v < kNV; ++v) sum[r][v] = vdupq_n_f32(0.0f);
  }
  const auto fold = [&]() MHSA_TARGET_NEON_BF16 {
    for (size_t r = 0; r < kMR; ++r) {
      for (size_t v = 0; v < kNV; ++v) sum[r][v] = vaddq_f32(sum[r][v], part[r][v]);
    }
  };
  const auto clear = [&]() MHSA_TARGET_NEON_BF16 {
    for (size_t r = 0; r < kMR; ++r) {
      for (size_t v = 0; v < kNV; ++v) part[r][v] = vdupq_n_f32(0.0f);
    }
  };
  const size_t full = diag >= static_cast<ptrdiff_t>(k) ? kp
                      : diag <= 0                       ? 0
                                                        : static_cast<size_t>(diag) / 2;
  // Inner loop, as aarch64 GCC 12 -O3 emits it: two `ldp q, q` (the 4 B
  // vectors), `ldur d0` (rows 0-1), `ldr s1` + `dup v1.4s` (row 2), then 12
  // `bfdot`: 8 by element (v0.2h[0], v0.2h[1]) and 4 plain; no spills. After
  // every 8 pairs, 12 fadd fold the partials.
  for (size_t q0 = 0; q0 < full; q0 += kFoldPairs) {
    clear();
    const size_t q1 = std::min(full, q0 + kFoldPairs);
    for (size_t q = q0; q < q1; ++q) {
      const uint16_t* bq = bp + q * kPairElements;
      bfloat16x8_t b[kNV];
      for (size_t v = 0; v < kNV; ++v) b[v] = LoadBf16x8(bq + 8 * v);
      const uint16_t* aq = ap + q * 2 * kMR;
      const bfloat16x4_t a01 = vreinterpret_bf16_u16(vld1_u16(aq));
      const bfloat16x8_t a2 = vreinterpretq_bf16_u32(vdupq_n_u32(LoadPair(aq + 4)));
      for (size_t v = 0; v < kNV; ++v) {
        part[0][v] = vbfdotq_lane_f32(part[0][v], b[v], a01, 0);
        part[1][v] = vbfdotq_lane_f32(part[1][v], b[v], a01, 1);
        part[2][v] = vbfdotq_f32(part[2][v], b[v], a2);
      }
    }
    fold();
  }
  // The triangle, as in the AVX3_BF16 kernel: a row takes a pair whole, its
  // even step only (odd elements of both operands zeroed, so a NaN there
  // multiplies nothing), or not at all. At most about (kMR + 1) / 2 pairs.
  const uint32x4_t even_only = vdupq_n_u32(0x0000FFFFu);
  clear();
  for (size_t q = full; q < kp; ++q) {
    const uint16_t* bq = bp + q * kPairElements;
    const uint16_t* aq = ap + q * 2 * kMR;
    for (size_t r = 0; r < kMR; ++r) {
      const ptrdiff_t row_limit = diag + static_cast<ptrdiff_t>(r);
      const auto first = static_cast<ptrdiff_t>(2 * q);
      if (row_limit <= first) continue;
      const bool half = row_limit == first + 1;
      uint32_t pair = LoadPair(aq + 2 * r);
      if (half) pair &= 0x0000FFFFu;
      const bfloat16x8_t a = vreinterpretq_bf16_u32(vdupq_n_u32(pair));
      for (size_t v = 0; v < kNV; ++v) {
        uint32x4_t words = vreinterpretq_u32_u16(vld1q_u16(bq + 8 * v));
        if (half) words = vandq_u32(words, even_only);
        part[r][v] = vbfdotq_f32(part[r][v], vreinterpretq_bf16_u32(words), a);
      }
    }
  }
  if (full < kp) fold();

  for (size_t r = 0; r < m_valid; ++r) {
    float* crow = c + r * ldc;
    for (size_t v = 0; v < kNV && 4 * v < n_valid; ++v) {
      float* cv = crow + 4 * v;
      if (4 * v + 4 <= n_valid) {
        float32x4_t total = sum[r][v];
        if (accumulate) total = vaddq_f32(total, vld1q_f32(cv));
        vst1q_f32(cv, total);
      } else {
        float lanes[4];
        vst1q_f32(lanes, sum[r][v]);
        for (size_t j = 0; j < n_valid - 4 * v; ++j)
          cv[j] = accumulate ? cv[j] + lanes[j] : lanes[j];
      }
    }
  }
}

void Tiles(const void* ap, size_t m, const uint16_t* bp, size_t b_pairs, size_t n, size_t k,
           float* c, size_t ldc, bool accumulate, ptrdiff_t diag) {
  const size_t kp = (k + 1) / 2;
  const auto* a = static_cast<const uint16_t*>(ap);
  for (size_t j0 = 0; j0 < n; j0 += kBf16Panel) {
    const uint16_t* bpanel = Bf16BPanel(bp, b_pairs, j0);
    const size_t cols = std::min(kBf16Panel, n - j0);
    for (size_t h = 0; h * kHalf < cols; ++h) {
      const size_t half_cols = std::min(kHalf, cols - h * kHalf);
      for (size_t i0 = 0; i0 < m; i0 += kMR) {
        HalfKernel(a + i0 * 2 * kp, bpanel + 2 * kHalf * h, kp, k, c + i0 * ldc + j0 + h * kHalf,
                   ldc, std::min(kMR, m - i0), half_cols, accumulate,
                   diag + static_cast<ptrdiff_t>(i0));
      }
    }
  }
}

}  // namespace

const Bf16Kernel& NeonBf16Kernel() {
  static const Bf16Kernel kernel{"NEON_BF16",        kMR,   2, 2, &PackNeonBf16AF32,
                                 &PackNeonBf16ABf16, &Tiles};
  return kernel;
}

}  // namespace mhsa
// NOLINTEND(portability-simd-intrinsics)

#endif  // defined(__aarch64__)
