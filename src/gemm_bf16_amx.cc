// bf16-gemm-32x32-amx: the bf16 GEMM on AMX tiles (tdpbf16ps), on the
// shared packed B.
//
// Why AMX: on this project's machine (Xeon, Sapphire Rapids class) one
// vdpbf16ps zmm issues every 2 cycles, half the multiply-add rate of two
// zmm FMAs per cycle, so the AVX3_BF16 kernel runs at about 0.6-0.7x the
// float GEMM. One tdpbf16ps multiplies a 16 x 32 bf16 tile by a 32 x 16 one
// (16 K multiply-adds) every 16 cycles: 1024 FLOP per cycle, 16x the FMAs.
//
// The tiles, from the layouts (gemm_bf16.h):
//   B tile: 16 k-pairs x 16 columns x 2 = rows of 64 bytes. In a packed B
//           panel [k/2][32][2] a k-pair row is 128 bytes, so the two column
//           halves of 16 k-pairs are two tiles with a 128-byte stride: the
//           shared layout is AMX's pair-interleaved B format as it is.
//   A tile: 16 rows x 32 k-steps, row-major: A is packed per call into
//           [ceil(m/32)][ceil(k/32)][32][32] bf16, so a tile is 1 KiB, stride 64.
//   C:      2 x 2 tiles of 16 x 16 floats = a 32 x 32 register tile, which
//           with 2 A and 2 B tiles uses all 8 tile registers. Per 32 k-steps:
//           4 tile loads (4 KiB, from L1 and L2) for 4 tdpbf16ps (64 cycles).
//
// Numerics: tdpbf16ps does not consult MXCSR: bf16 subnormal inputs count
// as zero and subnormal results are flushed to zero; it rounds to nearest
// even, and (measured) sums the products of one instruction with more than
// float precision before rounding into C, so it is more accurate than a
// sequential float sum.
//
// Edges: k not a multiple of 32 pads A with zeros and copies B's last
// partial k-block into a zeroed 16-pair buffer (B's own layout only pads to
// an even k). Rows and columns past m, n: the tile is computed into a
// buffer and only its valid part is stored. The causal limit: AMX takes the
// 32-step blocks that every row of the tile may use whole; the rest (where
// rows drop out at different steps, and a NaN in a masked B row must not
// meet a zero) runs with vdpbf16ps row by row, exactly as AVX3_BF16 does.
#include "gemm_bf16.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "bf16.h"

#define MHSA_TARGET_AMX \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// Hand-written intrinsics on purpose: Highway 1.0.3 has no target with
// these instructions (gemm_bf16.h), so this file is the one place in mhsa
// where SIMD is not written through Highway.
// NOLINTBEGIN(portability-simd-intrinsics)
namespace mhsa {
namespace {

constexpr size_t kMR = 32;                      // Rows per A panel: two A tiles.
constexpr size_t kKBlock = 32;                  // k-steps per tile (16 pairs).
constexpr size_t kPairElements = 64;            // bf16 values per k-pair of a B panel.
constexpr size_t kTileElements = 16 * kKBlock;  // bf16 values per A tile.

// Palette 1: every tile 16 rows of 64 bytes. tmm0-3: C; tmm4-5: A; tmm6-7: B.
struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads 64 bytes");

// The 32 x 32 float tile buffer (stride 32) += the remaining k-pairs
// [q_begin, kp) with the per-row causal limit. A pairs come from the AMX
// layout: row r, pair q of a panel is at (q / 16) * 1024 + r * 32 + (q % 16) * 2.
// Rows go in groups of 4: 8 independent vdpbf16ps chains cover its latency
// (about 8.5 cycles at one issue per 2 cycles); a single row's 2 would not.
MHSA_TARGET_AMX void MaskedRemainder(const uint16_t* ap, const uint16_t* bp, size_t q_begin,
                                     size_t kp, float* tile, ptrdiff_t diag) {
  constexpr size_t kGroup = 4;
  const __m512i even_only = _mm512_set1_epi32(0x0000FFFF);
  for (size_t r0 = 0; r0 < kMR; r0 += kGroup) {
    __m512 acc[kGroup][2];
    for (size_t g = 0; g < kGroup; ++g) {
      acc[g][0] = _mm512_load_ps(tile + (r0 + g) * 32);
      acc[g][1] = _mm512_load_ps(tile + (r0 + g) * 32 + 16);
    }
    // The group's last row reaches furthest.
    const ptrdiff_t group_limit = diag + static_cast<ptrdiff_t>(r0 + kGroup - 1);
    for (size_t q = q_begin; q < kp && static_cast<ptrdiff_t>(2 * q) < group_limit; ++q) {
      const auto first = static_cast<ptrdiff_t>(2 * q);
      const __m512i b0 = _mm512_loadu_si512(bp + q * kPairElements);
      const __m512i b1 = _mm512_loadu_si512(bp + q * kPairElements + 32);
      const uint16_t* aq = ap + q / 16 * kTileElements * 2 + q % 16 * 2;
      for (size_t g = 0; g < kGroup; ++g) {
        const ptrdiff_t row_limit = diag + static_cast<ptrdiff_t>(r0 + g);
        if (row_limit <= first) continue;  // Both steps masked.
        uint32_t pair;
        std::memcpy(&pair, aq + (r0 + g) * kKBlock, sizeof(pair));
        __m512i h0 = b0, h1 = b1;
        if (row_limit == first + 1) {  // Odd step masked: zero it in both operands.
          pair &= 0x0000FFFFu;
          h0 = _mm512_and_si512(h0, even_only);
          h1 = _mm512_and_si512(h1, even_only);
        }
        const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int32_t>(pair));
        acc[g][0] = _mm512_dpbf16_ps(acc[g][0], (__m512bh)h0, a);
        acc[g][1] = _mm512_dpbf16_ps(acc[g][1], (__m512bh)h1, a);
      }
    }
    for (size_t g = 0; g < kGroup; ++g) {
      _mm512_store_ps(tile + (r0 + g) * 32, acc[g][0]);
      _mm512_store_ps(tile + (r0 + g) * 32 + 16, acc[g][1]);
    }
  }
}

// One 32 x 32 tile of C from an A panel ([blocks][32][32]) and a B panel
// ([kp][32][2]); b_tail: the last k-block of B zero-padded to 16 pairs, or
// null when kp is a multiple of 16. The tile configuration is loaded.
MHSA_TARGET_AMX void MicroTile(const uint16_t* ap, const uint16_t* bp, const uint16_t* b_tail,
                               size_t kp, size_t k, float* c, size_t ldc, size_t m_valid,
                               size_t n_valid, bool accumulate, ptrdiff_t diag) {
  const size_t blocks = (k + kKBlock - 1) / kKBlock;
  // Blocks every row takes whole: all of them without a limit in k, else
  // those ending at or before row 0's limit (complete blocks, as diag < k).
  const size_t amx_blocks = diag >= static_cast<ptrdiff_t>(k) ? blocks
                            : diag <= 0                       ? 0
                                                              : static_cast<size_t>(diag) / kKBlock;
  const bool direct = m_valid == kMR && n_valid == 32 && amx_blocks == blocks;
  alignas(64) float buffer[kMR * 32];
  float* out = c;
  size_t ld_out = ldc;
  if (!direct) {
    out = buffer;
    ld_out = 32;
    if (accumulate) {
      std::memset(buffer, 0, sizeof(buffer));
      for (size_t r = 0; r < m_valid; ++r) std::memcpy(buffer + r * 32, c + r * ldc, n_valid * 4);
    }
  }
  const auto stride = static_cast<long>(ld_out * sizeof(float));
  if (accumulate) {
    _tile_loadd(0, out, stride);
    _tile_loadd(1, out + 16, stride);
    _tile_loadd(2, out + 16 * ld_out, stride);
    _tile_loadd(3, out + 16 * ld_out + 16, stride);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  // Inner loop (GCC 12 -O3, objdump -d): `tileloadd (%rax,%r11,1),%tmm4`
  // and tmm5 (A, stride 64), tmm6 and tmm7 (B, stride 128), then
  // `tdpbf16ps %tmm6,%tmm4,%tmm0` ... `%tmm7,%tmm5,%tmm3`: 4 loads, 4
  // products, the C tiles stay in tmm0-3 for the whole k loop.
  for (size_t kb = 0; kb < amx_blocks; ++kb) {
    const uint16_t* a = ap + kb * 2 * kTileElements;
    const uint16_t* b =
        b_tail != nullptr && kb + 1 == blocks ? b_tail : bp + kb * 16 * kPairElements;
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a + kTileElements, 64);
    _tile_loadd(6, b, 128);
    _tile_loadd(7, b + 32, 128);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, stride);
  _tile_stored(1, out + 16, stride);
  _tile_stored(2, out + 16 * ld_out, stride);
  _tile_stored(3, out + 16 * ld_out + 16, stride);
  if (direct) return;
  if (amx_blocks < blocks) MaskedRemainder(ap, bp, amx_blocks * 16, kp, buffer, diag);
  for (size_t r = 0; r < m_valid; ++r) std::memcpy(c + r * ldc, buffer + r * 32, n_valid * 4);
}

MHSA_TARGET_AMX void Tiles(const void* ap, size_t m, const uint16_t* bp, size_t b_pairs, size_t n,
                           size_t k, float* c, size_t ldc, bool accumulate, ptrdiff_t diag) {
  const size_t kp = (k + 1) / 2;
  const size_t blocks = (k + kKBlock - 1) / kKBlock;
  const size_t tail_pairs = kp % 16;
  const auto* a = static_cast<const uint16_t*>(ap);
  // The configuration is per thread; loading it zeroes the tiles. Released
  // at the end so that the thread's next context switch saves no tile data.
  const TileConfig config;
  _tile_loadconfig(&config);
  alignas(64) uint16_t b_tail[16 * kPairElements];
  // b_tail: the last, partial k-tile of B panel tail_panel, zero-padded,
  // made when a tile of another panel first needs it (once per panel when
  // B panels are the outer loop).
  size_t tail_panel = n;
  ForEachBf16Tile(m, kMR, n, k, [&](size_t i0, size_t j0) {
    const uint16_t* bpanel = Bf16BPanel(bp, b_pairs, j0);
    if (tail_pairs != 0 && tail_panel != j0) {
      const size_t first = (blocks - 1) * 16;
      std::memcpy(b_tail, bpanel + first * kPairElements, tail_pairs * kPairElements * 2);
      std::memset(b_tail + tail_pairs * kPairElements, 0, (16 - tail_pairs) * kPairElements * 2);
      tail_panel = j0;
    }
    MicroTile(a + i0 * blocks * kKBlock, bpanel, tail_pairs != 0 ? b_tail : nullptr, kp, k,
              c + i0 * ldc + j0, ldc, std::min(kMR, m - i0), std::min(kBf16Panel, n - j0),
              accumulate, diag + static_cast<ptrdiff_t>(i0));
  });
  _tile_release();
}

// 32 floats (count <= 32 valid, the rest zero) to bf16, rounded to nearest
// even exactly as FloatToBf16 (bf16.h) rounds. vcvtne2ps2bf16 (AVX512_BF16,
// which every AMX-BF16 CPU has, DetectAmx) rounds to nearest even and
// quiets NaN as FloatToBf16 does, in one instruction, but reads subnormal
// inputs as zero: 32 floats with a subnormal among them take the integer
// rounding (RoundExactly) instead, so that every input rounds as it
// does everywhere else (tdpbf16ps then counts bf16 subnormals as zero
// anyway). The bf16 flash path packs every block of p through here: a
// third of the integer rounding's operations; bf16 layer 1.02-1.07x (B=1
// T=1024 and T=4096, B=2 T=1024, 1 and 2 threads, Xeon, interleaved).
// (The all-ones maskz forms of the shift and the narrowing are the plain
// instructions; GCC 12's unmasked intrinsics pass _mm512_undefined_epi32()
// and trip -Wmaybe-uninitialized inside avx512fintrin.h.)
MHSA_TARGET_AMX inline __m512i ShiftRight16(__m512i x) {
  return _mm512_maskz_srli_epi32(static_cast<__mmask16>(0xFFFF), x, 16);
}

// 16 floats to bf16 with integer operations, exactly as FloatToBf16.
MHSA_TARGET_AMX inline __m256i RoundExactly(__m512 v) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7FFF);
  const __m512i quiet = _mm512_set1_epi32(0x0040);
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i upper = ShiftRight16(bits);
  const __m512i rounded =
      ShiftRight16(_mm512_add_epi32(bits, _mm512_add_epi32(bias, _mm512_and_si512(upper, one))));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i h16 = _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(upper, quiet));
  return _mm512_maskz_cvtepi32_epi16(static_cast<__mmask16>(0xFFFF), h16);
}

MHSA_TARGET_AMX inline void Convert32(const float* src, size_t count, uint16_t* dst) {
  const size_t valid_hi = count > 16 ? std::min<size_t>(16, count - 16) : 0;
  const auto mask_lo = static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1u);
  const auto mask_hi = static_cast<__mmask16>(valid_hi >= 16 ? 0xFFFFu : (1u << valid_hi) - 1u);
  const __m512 lo = _mm512_maskz_loadu_ps(mask_lo, src);
  const __m512 hi = _mm512_maskz_loadu_ps(mask_hi, src + 16);
  constexpr int kSubnormal = 0x20;  // vfpclassps: denormal, either sign.
  if (__builtin_expect(
          (_mm512_fpclass_ps_mask(lo, kSubnormal) | _mm512_fpclass_ps_mask(hi, kSubnormal)) != 0,
          0)) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), RoundExactly(lo));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 16), RoundExactly(hi));
    return;
  }
  _mm512_storeu_si512(dst, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo)));
}

MHSA_TARGET_AMX inline void Copy32(const uint16_t* src, size_t count, uint16_t* dst) {
  const auto mask = count >= 32 ? ~__mmask32{0} : (__mmask32{1} << count) - 1u;
  _mm512_storeu_si512(dst, _mm512_maskz_loadu_epi16(mask, src));
}

// dst: [ceil(m / 32)][ceil(k / 32)][32][32], zero padded.
template <typename T>
MHSA_TARGET_AMX void PackRowBlocks(const T* a, size_t lda, size_t m, size_t k, uint16_t* dst) {
  const size_t blocks = (k + kKBlock - 1) / kKBlock;
  for (size_t i0 = 0; i0 < m; i0 += kMR) {
    uint16_t* panel = dst + i0 * blocks * kKBlock;
    for (size_t r = 0; r < kMR; ++r) {
      for (size_t kb = 0; kb < blocks; ++kb) {
        uint16_t* out = panel + kb * kMR * kKBlock + r * kKBlock;
        if (i0 + r >= m) {
          _mm512_storeu_si512(out, _mm512_setzero_si512());
          continue;
        }
        const T* src = a + (i0 + r) * lda + kb * kKBlock;
        const size_t count = std::min(kKBlock, k - kb * kKBlock);
        if constexpr (sizeof(T) == 4) {
          Convert32(src, count, out);
        } else {
          Copy32(src, count, out);
        }
      }
    }
  }
}

void PackF32(const float* a, size_t lda, size_t m, size_t k, void* dst) {
  PackRowBlocks(a, lda, m, k, static_cast<uint16_t*>(dst));
}

void PackBf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst) {
  PackRowBlocks(a, lda, m, k, static_cast<uint16_t*>(dst));
}

}  // namespace

const Bf16Kernel& AmxBf16Kernel() {
  static const Bf16Kernel kernel{"AVX3_AMX", kMR, kKBlock, 2, &PackF32, &PackBf16, &Tiles};
  return kernel;
}

}  // namespace mhsa
// NOLINTEND(portability-simd-intrinsics)

#endif  // defined(__x86_64__)
