// Block sizes, in one place, each with its reason. Target-specific register
// tiles (MR) live in gemm-inl.h beside the microkernel they shape.
#ifndef MHSA_SRC_BLOCKING_H_
#define MHSA_SRC_BLOCKING_H_

#include <cstddef>

namespace mhsa {

// Width of a packed B panel, in floats, for every target: two AVX-512
// vectors, four AVX2, eight SSE4/NEON. One layout for all targets lets the
// projection weights be packed once when they are set, whatever target later
// serves the call. 128 bytes: two cache lines per k step.
inline constexpr size_t kPanel = 32;

// The largest k-block of the GEMM (what scratch is sized for). The block
// used is GemmKBlock() (cache_info.h), from the L2 size of the CPU at hand.
inline constexpr size_t kKC = 512;

// k-block of the bf16 GEMM, in k steps: a multiple of 32, so blocks start on
// k-pairs and on AMX k-tiles. A 32 x 512 bf16 B panel is 32 KiB, the bytes
// of the float one (256 measured slower with AMX). kMC also divides into
// the bf16 kernels' rows (32, 12, 3, 2, 1).
inline constexpr size_t kKCBf16 = 512;

// Rows of A per task and per packed block (up to 96 x kKC floats, 192 KiB,
// in L2), a multiple of every target's MR (12, 3, 1), and fine enough that a
// 2048-row projection splits into 22 tasks for 2 threads.
inline constexpr size_t kMC = 96;

// The float GEMM reads a row-major A in place, unpacked, when a task has at
// most this many columns (8 panels). Measured on the Xeon (AVX-512) against
// packing: 64 columns 1.14-1.19x faster, 256 1.01-1.08x, 1024 and 1536
// 3-5% slower (there the packed tile's one stream beats 12 strided rows).
inline constexpr size_t kInPlaceColumns = 256;

// Width of the column parts in which a product whose packed B exceeds half
// of L2 is split (GemmTasks); narrower than kInPlaceColumns, so those tasks
// read A in place. A part's B block (128 x 768 floats: 384 KiB) then leaves
// half of a 1 MiB L2 to the rows of A and C passing through. Measured on a
// Zen 5 against 256-column parts (gemm_bench, 3-4 rounds interleaved, 1
// and 2 threads): the 1024x2304x768 projection of the B=8 T=128 E=768
// layer 1.00-1.07x faster, 4096x2304x768 1.01-1.03x, 2048^3 0.99-1.04x,
// 2048x1536x512 0.99-1.03x, 1024^3 and 512^3 even; that layer 1.00-1.03x
// (attention_bench, 6 rounds); 64-column parts 1.01-1.02x slower than 128.
// Used when a part serves several row blocks (RunGemm).
inline constexpr size_t kPartColumns = 128;
static_assert(kPartColumns <= kInPlaceColumns, "column parts read A in place");

// The largest k-block of a product that reads A in place (the block used
// is InPlaceKBlock(), cache_info.h, from the L1 size at hand). Its k-blocks
// size no A block: only its last few rows (fewer than a tile) are packed,
// into the kMC x kKC floats of scratch.
inline constexpr size_t kInPlaceKC = 1024;

// Products taken in column parts (GemmTasks) run every part over this many
// row blocks (384 rows) before the next ones: the chunk's rows of A stay in
// cache for all the parts, and each part's B block still serves four row
// blocks from L2. 4096x2304x768 (A 12 MiB, C 36 MiB: not both in L3)
// 1.01-1.03x faster with the k-block above, 1 and 2 threads (Zen 5,
// interleaved); chunks of 1 to 6 blocks measured within 2% of each other
// there, but one block made 2048^3 1.035-1.046x slower (its B block then
// comes from L3 for every row block).
inline constexpr size_t kPartChunkBlocks = 4;

// Rows of the float GEMM's tasks come in multiples of this, which every
// float tile height (12, 3, 1) divides, so that only a product's last rows
// take a short tile; fine enough to even out the tasks among threads. The
// bf16 GEMM splits by kMC, which its 32-row AMX tiles need.
inline constexpr size_t kGemmRowQuantum = 12;
static_assert(kMC % kGemmRowQuantum == 0, "a task is whole quanta");

// Flash attention: queries per block (a multiple of every MR) and keys per
// block. 48 x 256 scores (48 KiB) plus the packed K and V blocks (2 x 64 KiB
// at head_dim 64) sit in L2; 256 keys amortise the per-block softmax
// bookkeeping over many FMAs.
inline constexpr size_t kQueryBlock = 48;
inline constexpr size_t kKeyBlock = 256;
static_assert(kKeyBlock % kPanel == 0, "key blocks start on key panels");
// The bf16 flash path's query block: two 32-row AMX tiles (48 would leave
// the second one half empty), 5 x 12 + 4 rows for the 12-row kernels (the
// last 4 take their short 4-row tile). 64 x 256 float scores (64 KiB) and
// their bf16 copy (32 KiB) stay in L2 with the bf16 k and v of the block.
// Rows are independent, so the block size changes no result.
inline constexpr size_t kBf16QueryBlock = 64;

// Decoding: when a K/V head's group has at most kDecodeRows query rows (one
// token of each of up to 8 query heads, say), a register tile of 12 rows
// would mostly multiply padding and packing k and v would double the bytes
// moved, so those rows take the matrix-vector path instead: k and v read in
// place once, in blocks of kDecodeBlock keys (64 keys x 128 dims x 2 = 64 KiB
// of k and v stay in L2 while every row uses them). Keys are split into
// chunks of kDecodeChunk, computed as independent partial softmaxes and
// merged through their log-sum-exp, so that a long cache spreads over
// threads. The chunk size is fixed, never taken from the thread count: the
// summation order, and so every bit of the result, depends on the shape only.
inline constexpr size_t kDecodeRows = 8;
inline constexpr size_t kDecodeBlock = 64;
inline constexpr size_t kDecodeChunk = 512;
static_assert(kDecodeChunk % kDecodeBlock == 0, "chunks are whole blocks");
// Decode keeps q rows padded to a whole number of the widest vectors any
// target has (64 floats covers 2048-bit SVE), zeros in the padding.
inline constexpr size_t kDecodeQPad = 64;

inline constexpr size_t RoundUp(size_t n, size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace mhsa

#endif  // MHSA_SRC_BLOCKING_H_
