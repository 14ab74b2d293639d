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
// operand of Arm's BFDOT.
//
// Packed A is per kernel and per call (see Bf16Kernel): k-pair panels for the
// bf16 dot-product instructions, float panels for the widening fallback.
//
// bf16 values travel as uint16_t bit patterns (bf16.h).
#ifndef MHSA_SRC_GEMM_BF16_H_
#define MHSA_SRC_GEMM_BF16_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "aligned.h"

namespace mhsa {

// Columns per packed B panel (kPanel of the float GEMM: same panel width).
inline constexpr size_t kBf16Panel = 32;

// One bf16 GEMM kernel: how it packs A and how it multiplies packed tiles.
// All kernels read the same packed B.
struct Bf16Kernel {
  // "AVX3_BF16" (vdpbf16ps), "NEON_BF16" (BFDOT), or the name of the Highway
  // target whose widening-FMA kernel this is ("AVX3", "AVX2", "NEON", ...).
  const char* name;
  // Rows per packed A panel.
  size_t mr;
  // Bytes per packed A element: 2 for bf16 k-pair panels
  //   [ceil(m / mr)][ceil(k / 2)][mr][2] (what vdpbf16ps and BFDOT read),
  // 4 for float panels of bf16-rounded values
  //   [ceil(m / mr)][2 * ceil(k / 2)][mr] (the fallback: one broadcast per step).
  // Padding rows and the odd k step are zero.
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
    return (m + mr - 1) / mr * mr * ((k + 1) / 2 * 2) * a_element_bytes;
  }
};

// The kernel that serves calls now: the bf16 dot-product kernel when the CPU
// has the instructions, they are enabled (SetBf16Instructions) and the chosen
// Highway target is the one they extend (AVX3 for AVX512_BF16, NEON for
// BFDOT); otherwise the chosen target's widening-FMA kernel. Cheap: look it
// up once per call, not per tile.
Bf16Kernel ChosenBf16Kernel();

// Whether this CPU has bf16 dot-product instructions mhsa can use
// (CpuHasAvx512Bf16 or CpuHasArmBf16), whether or not they are enabled.
bool CpuHasBf16Instructions();

// Enables (the default) or disables the bf16 dot-product kernels, process
// wide. The environment variable MHSA_BF16_INSTRUCTIONS=0, read at first
// use, disables them too. For tests, benchmarks and a pseudo-target
// ("AVX3_BF16") in MHSA_TARGET; not to be called while a GEMM runs.
void SetBf16Instructions(bool enabled);
bool Bf16InstructionsEnabled();

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
void GemmBf16(const float* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m);
void GemmBf16(const uint16_t* a, size_t lda, const PackedBf16B& b, float* c, size_t ldc, size_t m);

// The kernels behind ChosenBf16Kernel, for their own files.
// Avx512Bf16Kernel: x86-64 only; NeonBf16Kernel: aarch64 only.
const Bf16Kernel& Avx512Bf16Kernel();
const Bf16Kernel& NeonBf16Kernel();

}  // namespace mhsa

#endif  // MHSA_SRC_GEMM_BF16_H_
