// The bf16 GEMM: products of bf16 values, sums in float32.
//   C[m][n] (float) = A·Bᵀ, A as float rows (rounded to bf16 while packing)
//   or bf16 rows, B prepacked in bf16.
//
// Packed B, one layout for every kernel (weights are packed once, whatever
// kernel later serves), k taken in pairs:
//   [ceil(n / 32)][ceil(k / 2)][32][2] bf16
// element [j / 32][p / 2][j % 32][p % 2] is B[j][p] (B stored as rows, the
// layout of W in x·Wᵀ and of k in q·kᵀ). Padding (odd k, a partial last
// panel) is zero. One k-pair of a panel is 128 bytes: a 512-bit load holds 16
// columns x 2 k-steps, the operand of vdpbf16ps; 128 bits hold 4 x 2, the
// operand of Arm's BFDOT; 16 k-pairs of 16 columns, rows 128 bytes apart,
// are an AMX B tile (pair-interleaved, as tdpbf16ps wants it).
//
// Packed A is per kernel and per call (see Bf16Kernel): k-pair panels for the
// dot-product instructions, 32 x 32 row blocks for AMX, float panels for the
// widening fallback.
//
// The kernels, best first (ChosenBf16Kernel picks; names as in MHSA_TARGET):
//   AVX3_AMX   gemm_bf16_amx.cc          AMX-BF16 tiles, 32 x 32
//   AVX3_BF16  gemm_bf16_avx512bf16.cc   vdpbf16ps, 12 x 32
//   NEON_BF16  gemm_bf16_neon_bf16.cc    BFDOT, 3 x 16 (two passes per panel)
//   <target>   gemm_bf16-inl.h           Highway: widen B to float, FMA
//
// bf16 values travel as uint16_t bit patterns (bf16.h).
#ifndef MHSA_SRC_GEMM_BF16_H_
#define MHSA_SRC_GEMM_BF16_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "aligned.h"
#include "mhsa/attention.h"
#include "workspace.h"

namespace mhsa {

// Columns per packed B panel (kPanel of the float GEMM: same panel width).
inline constexpr size_t kBf16Panel = 32;

// The kernels' Tiles run products of at most this many k steps (the flash
// path's q·kᵀ at head_dim 64 and p·v over a 256-key block) with each A
// panel outside the B panels, so that its rows of C are written left to
// right, and longer ones (the projections) with each B panel outside (32 x
// 512 bf16, 32 KiB, staying in L1 while the A panels pass). Measured on the
// Xeon, 2 threads, interleaved, with A outside: 1024x1024x64 1.20-1.52x
// with AMX, 1.11x with vdpbf16ps, 1.15x widening; the bf16 layer (AMX)
// 1.05-1.12x; the projections 0.83-0.86x had they taken it.
inline constexpr size_t kBf16AOuterSteps = 256;

// The panel of packed B holding column j0 (a multiple of kBf16Panel), its
// panels b_pairs k-pairs tall.
inline const uint16_t* Bf16BPanel(const uint16_t* bp, size_t b_pairs, size_t j0) {
  return bp + j0 / kBf16Panel * b_pairs * 2 * kBf16Panel;
}

// Calls tile(i0, j0) for every A panel of mr rows (i0 < m) and every B
// panel (j0 < n) of a product over k steps, in the order kBf16AOuterSteps
// chooses. The x86 kernels' Tiles (AMX, vdpbf16ps, widening) walk their
// tiles through here; NEON_BF16's keeps its B panel outside and splits it
// in halves, as before (not measured on Arm hardware).
template <class Tile>
inline void ForEachBf16Tile(size_t m, size_t mr, size_t n, size_t k, const Tile& tile) {
  if (k <= kBf16AOuterSteps) {
    for (size_t i0 = 0; i0 < m; i0 += mr) {
      for (size_t j0 = 0; j0 < n; j0 += kBf16Panel) tile(i0, j0);
    }
  } else {
    for (size_t j0 = 0; j0 < n; j0 += kBf16Panel) {
      for (size_t i0 = 0; i0 < m; i0 += mr) tile(i0, j0);
    }
  }
}

// One bf16 GEMM kernel: how it packs A and how it multiplies packed tiles.
// All kernels read the same packed B.
struct Bf16Kernel {
  // "AVX3_AMX" (AMX tdpbf16ps), "AVX3_BF16" (vdpbf16ps), "NEON_BF16"
  // (BFDOT), or the name of the Highway target whose widening-FMA kernel
  // this is ("AVX3", "AVX2", "NEON", ...).
  const char* name;
  // Rows per packed A panel.
  size_t mr;
  // k is padded to a multiple of this in packed A (with zeros).
  size_t k_multiple;
  // Bytes per packed A element. Layouts, padding rows and steps zero:
  //   AVX3_BF16, NEON_BF16: bf16 k-pair panels [ceil(m / mr)][ceil(k / 2)][mr][2]
  //     (k_multiple 2, 2 bytes): one 32-bit broadcast feeds a row;
  //   AVX3_AMX: bf16 row blocks [ceil(m / 32)][ceil(k / 32)][32][32]
  //     (k_multiple 32, 2 bytes): each [16][32] half is an AMX A tile;
  //   widening kernels: float panels of bf16-rounded values
  //     [ceil(m / mr)][2 * ceil(k / 2)][mr] (k_multiple 2, 4 bytes): one
  //     broadcast per step, as in the float kernel.
  size_t a_element_bytes;

  // Packs rows [0, m), columns [0, k) of A (stride lda) into dst, which holds
  // PackedABytes(m, k). The float version rounds to bf16 (nearest even).
  void (*pack_a_f32)(const float* a, size_t lda, size_t m, size_t k, void* dst);
  void (*pack_a_bf16)(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst);

  // C (m x n, stride ldc) = A·B, or C += A·B if accumulate (beta = 0 never
  // reads C: it may hold NaN). Only rows [0, m) and columns [0, n) are
  // written.
  //   ap: A packed by this kernel over exactly k steps;
  //   bp: packed B, offset to the k-pair where this product starts (even
  //       k offsets only), in panels of b_pairs k-pairs (the packed
  //       matrix's ceil(k_total / 2)): panel j starts at bp + j * b_pairs * 64;
  //   diag: causal limit. Row i of C uses k steps p < diag + i only; later
  //       steps are skipped, never multiplied by zero, so a NaN in a masked
  //       row of B cannot reach C (also when the limit splits a k-pair: the
  //       masked half contributes nothing). Pass diag >= k for none.
  void (*tiles)(const void* ap, size_t m, const uint16_t* bp, size_t b_pairs, size_t n, size_t k,
                float* c, size_t ldc, bool accumulate, ptrdiff_t diag);

  size_t PackedABytes(size_t m, size_t k) const {
    return (m + mr - 1) / mr * mr * ((k + k_multiple - 1) / k_multiple * k_multiple) *
           a_element_bytes;
  }
};

// Whether `kernel` is a target's widening-FMA kernel (no bf16
// instructions): those alone pack A as floats.
inline bool WidensBf16(const Bf16Kernel& kernel) { return kernel.a_element_bytes == sizeof(float); }

// Which bf16 instructions the kernels may use, best first: AMX tiles, then
// the dot-product instructions (vdpbf16ps, BFDOT), then none (the widening
// FMA kernels, which every target has).
enum class Bf16Instructions { kNone, kDot, kAmx };

// The kernel that serves calls now: the best one the CPU runs, that the
// setting below allows, and that extends the chosen Highway target (AVX3
// for AMX and AVX512_BF16, NEON for BFDOT); otherwise the chosen target's
// widening-FMA kernel. Cheap: look it up once per call, not per tile.
Bf16Kernel ChosenBf16Kernel();

// The best bf16 instructions this CPU offers mhsa (CpuHasAmxBf16,
// CpuHasAvx512Bf16, CpuHasArmBf16), whether or not they are allowed.
Bf16Instructions CpuBf16Instructions();
inline bool CpuHasBf16Instructions() { return CpuBf16Instructions() != Bf16Instructions::kNone; }

// Allows bf16 instructions up to `level` (default: kAmx, all), process wide.
// The environment variable MHSA_BF16_INSTRUCTIONS, read at first use, sets
// it too: "none" (or "0"), "dot" or "amx". SetBf16Instructions(bool) is
// kAmx or kNone. For tests, benchmarks and pseudo-targets in MHSA_TARGET
// ("AVX3_AMX", "AVX3_BF16"); not to be called while a GEMM runs.
void SetBf16Instructions(Bf16Instructions level);
inline void SetBf16Instructions(bool enabled) {
  SetBf16Instructions(enabled ? Bf16Instructions::kAmx : Bf16Instructions::kNone);
}
Bf16Instructions AllowedBf16Instructions();

// The instruction kernel that extends SIMD target `target` (a Highway target
// bit) with bf16 instructions up to `level`, or nullptr: AVX3 and the better
// x86 targets have AVX3_AMX (kAmx) and AVX3_BF16 (kDot), NEON has
// NEON_BF16 (kDot). Whether this CPU runs it is not asked here.
const Bf16Kernel* Bf16InstructionKernel(int64_t target, Bf16Instructions level);

// Bytes of an m x k packed A that fit the layout of every kernel this build
// and CPU could choose: scratch sized by it serves whichever kernel is
// chosen when the call runs, so a workspace query does not depend on the
// kernel (as the float path's does not depend on the target).
size_t MaxPackedABytes(size_t m, size_t k);

// Packed B in the layout above. `k` is the number of k steps.
struct PackedBf16B {
  PackedBf16B() = default;
  PackedBf16B(size_t n_in, size_t k_in);  // Room only.

  size_t n = 0, k = 0;
  std::vector<uint16_t, AlignedAllocator<uint16_t>> data;  // [ceil(n/32)][ceil(k/2)][32][2]

  size_t pairs() const { return (k + 1) / 2; }
};

// uint16_t elements of a packed n x k B.
inline size_t PackedBf16BElements(size_t n, size_t k) {
  return (n + kBf16Panel - 1) / kBf16Panel * kBf16Panel * ((k + 1) / 2 * 2);
}

// Packing into a caller's buffer of PackedBf16BElements(n, k) (any
// alignment; 64 bytes is best).
//   Rows: b is [n][k] with row stride ldb (W in x·Wᵀ, k in q·kᵀ).
//   Cols: b is [k][n] with row stride ldb (v in p·v).
// Float sources are rounded to bf16 (nearest even).
void PackBf16BRows(const float* b, size_t ldb, size_t n, size_t k, uint16_t* dst);
void PackBf16BRows(const uint16_t* b, size_t ldb, size_t n, size_t k, uint16_t* dst);
void PackBf16BCols(const float* b, size_t ldb, size_t n, size_t k, uint16_t* dst);
void PackBf16BCols(const uint16_t* b, size_t ldb, size_t n, size_t k, uint16_t* dst);

// The same, into a new PackedBf16B.
template <typename T>
PackedBf16B PackBf16FromRows(const T* b, size_t ldb, size_t n, size_t k) {
  PackedBf16B packed(n, k);
  PackBf16BRows(b, ldb, n, k, packed.data.data());
  return packed;
}
template <typename T>
PackedBf16B PackBf16FromCols(const T* b, size_t ldb, size_t n, size_t k) {
  PackedBf16B packed(n, k);
  PackBf16BCols(b, ldb, n, k, packed.data.data());
  return packed;
}

// C = A·Bᵀ with B prepacked, beta = 0 (C is written, never read).
// a: [m][b.k] stride lda, float (rounded to bf16 while packing) or bf16;
// c: [m][b.n] stride ldc. Parallel with OpenMP over blocks of kMC rows of C
// (one thread inside an active parallel region); each element is summed in
// the same order whatever the thread count, so results are bitwise
// reproducible for a given kernel.
void GemmBf16(const float* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m,
              const RunOptions& options = RunOptions());
void GemmBf16(const uint16_t* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m,
              const RunOptions& options = RunOptions());

// The same driver for a computation that owns its scratch (the layer's
// projection): `kernel` chosen by the caller once per call, `threads`
// threads, each per-thread part of `scratch` holding
// GemmBf16Needs().per_thread bytes. With fewer blocks of kMC rows than
// twice the threads (decoding: a few rows), the columns are split too, in
// whole panels; every element is still summed by one task in one order.
ScratchNeeds GemmBf16Needs();
void GemmBf16WithScratch(const Bf16Kernel& kernel, const float* a, size_t lda, const PackedBf16B& b,
                         float* c, size_t ldc, size_t m, int threads, const CallScratch& scratch);

// Rows of the dot-product kernels' register tiles and packed A panels
// (vdpbf16ps, gemm_bf16_avx512bf16.cc; BFDOT, gemm_bf16_neon_bf16.cc), and
// their A packers: PackPairRows (bf16-inl.h) on the chosen SIMD target,
// rows in fours as pair words transposed in registers where the panel
// height allows it (12 does, 3 does not).
inline constexpr size_t kAvx512Bf16MR = 12;
inline constexpr size_t kNeonBf16MR = 3;
void PackAvx512Bf16AF32(const float* a, size_t lda, size_t m, size_t k, void* dst);
void PackAvx512Bf16ABf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst);
void PackNeonBf16AF32(const float* a, size_t lda, size_t m, size_t k, void* dst);
void PackNeonBf16ABf16(const uint16_t* a, size_t lda, size_t m, size_t k, void* dst);

// The kernels behind ChosenBf16Kernel, for their own files.
// AmxBf16Kernel and Avx512Bf16Kernel: x86-64 only; NeonBf16Kernel: aarch64 only.
const Bf16Kernel& AmxBf16Kernel();
const Bf16Kernel& Avx512Bf16Kernel();
const Bf16Kernel& NeonBf16Kernel();

}  // namespace mhsa

#endif  // MHSA_SRC_GEMM_BF16_H_
