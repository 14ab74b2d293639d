// bf16-gemm-12x32-avx512bf16: the bf16 GEMM microkernel with vdpbf16ps.
//
// Highway 1.0.3 has no target with AVX512_BF16, so this kernel is written
// with intrinsics and compiled with a function-level target attribute: the
// rest of the library keeps its baseline and nothing here runs unless
// ChosenBf16Kernel found the instructions (cpu_features.h).
//
// vdpbf16ps zmm_acc, zmm_b, m32bcst: for each of 16 float lanes i,
//   acc[i] += b[2i+1] * a[1] ; acc[i] += b[2i] * a[0]
// with the A pair (two bf16 k-steps of one row) broadcast from memory. The
// instruction does not consult MXCSR: it rounds to nearest even, treats
// bf16 subnormal inputs as zero and flushes subnormal results to zero, and
// adds the odd step before the even one. The accuracy rule allows all of
// that at normal magnitudes; a product of subnormal size comes out as 0.
//
// Measured on this project's machine (Xeon, Sapphire Rapids class): one
// vdpbf16ps zmm issues every 2 cycles (0.5/cycle, latency ~8.5 cycles),
// against two zmm FMAs per cycle, so its 32 multiply-adds per instruction
// give half the float FMA rate. On CPUs where it issues every cycle (Zen 4)
// it gives the same rate as FMA at half the bytes.
#include "gemm_bf16.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "hwy/base.h"
#include "prefetch.h"

#define MHSA_TARGET_AVX512BF16 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// Hand-written intrinsics on purpose: Highway 1.0.3 has no target with
// these instructions (gemm_bf16.h), so this file is the one place in mhsa
// where SIMD is not written through Highway.
// NOLINTBEGIN(portability-simd-intrinsics)
namespace mhsa {
namespace {

// Register tile: 12 rows x 32 columns = 12 x 2 zmm accumulators (24 of the
// 32 zmm registers) plus the 2 B vectors of the k-pair; A pairs are memory
// broadcasts inside vdpbf16ps, so they take no register. 24 independent
// accumulation chains cover latency (~8.5 cycles) x throughput (0.5/cycle)
// several times over; 12 rows is also the float AVX3 kernel's MR, so kMC (96)
// splits into whole panels.
constexpr size_t kMR = kAvx512Bf16MR;
constexpr size_t kNV = 2;  // zmm vectors per 32-column panel row.
static_assert(kMR * kNV + kNV <= 32, "accumulators and B vectors fit the zmm file");
static_assert(kNV * 16 == kBf16Panel, "a panel row is two zmm");

MHSA_TARGET_AVX512BF16 inline __m512bh AsBf16(__m512i v) { return (__m512bh)v; }

// The A pair of one row at one k-pair, broadcast to every lane.
MHSA_TARGET_AVX512BF16 inline __m512bh BroadcastPair(const uint16_t* pair) {
  int32_t word;
  std::memcpy(&word, pair, sizeof(word));
  return AsBf16(_mm512_set1_epi32(word));
}

// Rows [0, m_valid) x columns [0, n_valid) of C (+)= one A panel · one B
// panel over kp k-pairs (see Bf16Kernel::tiles for diag and accumulate).
// ap: [kp][kMR][2]; bp: [kp][32][2]. Computes the first kRows >= m_valid
// rows of the panel: a short tile (decode: m = 1) need not pay for 12 rows
// at vdpbf16ps's rate; 4 rows still give 8 chains for its ~8.5-cycle latency.
template <size_t kRows>
MHSA_TARGET_AVX512BF16 void MicroKernel(const uint16_t* __restrict ap,
                                        const uint16_t* __restrict bp, size_t kp, size_t k,
                                        float* __restrict c, size_t ldc, size_t m_valid,
                                        size_t n_valid, bool accumulate, ptrdiff_t diag) {
  static_assert(kRows <= kMR, "rows of one panel");
  // The tile's lines of C are asked for now, so that their misses overlap
  // the k loop instead of stalling the stores after it (as the float
  // kernel does).
  PrefetchRowsForWrite<true>(c, m_valid, static_cast<ptrdiff_t>(ldc), n_valid);
  // Every loop over the rows of acc runs over all kRows and is unrolled (a
  // run-time bound, or a rolled loop, would put acc on the stack, as GCC 12
  // did: zeroed there, loaded before the k loop and stored after it; see
  // ComputeTile in gemm-inl.h).
  __m512 acc[kRows][kNV];
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kNV; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  // Pairs whose both steps every row may take, then the triangle.
  // (Past k, in the odd step of an odd k, both operands hold zero padding.)
  const size_t full = diag >= static_cast<ptrdiff_t>(k) ? kp
                      : diag <= 0                       ? 0
                                                        : static_cast<size_t>(diag) / 2;
  // Inner loop, as GCC 12 -O3 emits it (objdump -d): 2 vmovdqu64 loads of
  // B, then per row one `vpbroadcastd disp(%rdx),%zmm2` and two
  // `vdpbf16ps %zmm2,%zmmB,%zmmACC`: 24 vdpbf16ps, 14 loads, 3 scalar adds
  // and the branch; no spills. GCC keeps the broadcast in a register rather
  // than a {1to16} operand because two instructions use it; a broadcast
  // from memory is a load-port µop either way, and at 0.5 vdpbf16ps per
  // cycle the loop is bound by vdpbf16ps alone (48 cycles per k-pair).
  for (size_t q = 0; q < full; ++q) {
    const __m512bh b0 = AsBf16(_mm512_loadu_si512(bp + q * 64));
    const __m512bh b1 = AsBf16(_mm512_loadu_si512(bp + q * 64 + 32));
    const uint16_t* aq = ap + q * 2 * kMR;
    for (size_t r = 0; r < kRows; ++r) {
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], b0, BroadcastPair(aq + 2 * r));
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], b1, BroadcastPair(aq + 2 * r));
    }
  }
  // Row r may take steps p < diag + r. Pair q holds steps 2q and 2q + 1: the
  // row takes it whole, takes only its even step (its limit falls inside the
  // pair), or skips it. Taking half a pair zeroes the odd element of both
  // operands, so a NaN or infinity there multiplies nothing.
  const __m512i even_only = _mm512_set1_epi32(0x0000FFFF);
  for (size_t q = full; q < kp; ++q) {
    const __m512i b0 = _mm512_loadu_si512(bp + q * 64);
    const __m512i b1 = _mm512_loadu_si512(bp + q * 64 + 32);
    const uint16_t* aq = ap + q * 2 * kMR;
    HWY_UNROLL(16)
    for (size_t r = 0; r < kRows; ++r) {
      const ptrdiff_t row_limit = diag + static_cast<ptrdiff_t>(r);
      const auto first = static_cast<ptrdiff_t>(2 * q);
      if (row_limit <= first) continue;  // Both steps masked.
      uint32_t pair;
      std::memcpy(&pair, aq + 2 * r, sizeof(pair));
      __m512i h0 = b0, h1 = b1;
      if (row_limit == first + 1) {  // Odd step masked.
        pair &= 0x0000FFFFu;
        h0 = _mm512_and_si512(h0, even_only);
        h1 = _mm512_and_si512(h1, even_only);
      }
      const __m512bh a = AsBf16(_mm512_set1_epi32(static_cast<int32_t>(pair)));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], AsBf16(h0), a);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], AsBf16(h1), a);
    }
  }

  // Masked loads and stores touch only the valid columns: no spill buffer
  // for edge tiles, and masked-off lanes never fault.
  const auto lanes = [](size_t count) -> __mmask16 {
    return count >= 16 ? static_cast<__mmask16>(0xFFFF)
                       : static_cast<__mmask16>((1u << count) - 1u);
  };
  const __mmask16 mask[kNV] = {lanes(n_valid), lanes(n_valid > 16 ? n_valid - 16 : 0)};
  HWY_UNROLL(16)
  for (size_t r = 0; r < kRows; ++r) {
    if (r >= m_valid) break;
    float* crow = c + r * ldc;
    for (size_t v = 0; v < kNV; ++v) {
      __m512 sum = acc[r][v];
      if (accumulate) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask[v], crow + 16 * v));
      _mm512_mask_storeu_ps(crow + 16 * v, mask[v], sum);
    }
  }
}

void Tiles(const void* ap, size_t m, const uint16_t* bp, size_t b_pairs, size_t n, size_t k,
           float* c, size_t ldc, bool accumulate, ptrdiff_t diag) {
  const size_t kp = (k + 1) / 2;
  const auto* a = static_cast<const uint16_t*>(ap);
  const auto tile = [&](size_t i0, size_t j0) {
    const size_t rows = std::min(kMR, m - i0);
    const auto kernel = rows <= 4 ? &MicroKernel<4> : &MicroKernel<kMR>;
    kernel(a + i0 * 2 * kp, Bf16BPanel(bp, b_pairs, j0), kp, k, c + i0 * ldc + j0, ldc, rows,
           std::min(kBf16Panel, n - j0), accumulate, diag + static_cast<ptrdiff_t>(i0));
  };
  ForEachBf16Tile(m, kMR, n, k, tile);
}

}  // namespace

const Bf16Kernel& Avx512Bf16Kernel() {
  static const Bf16Kernel kernel{
      "AVX3_BF16", kMR, 2, 2, &PackAvx512Bf16AF32, &PackAvx512Bf16ABf16, &Tiles,
  };
  return kernel;
}

}  // namespace mhsa
// NOLINTEND(portability-simd-intrinsics)

#endif  // defined(__x86_64__)
