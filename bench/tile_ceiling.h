// The float32 GEMM's register tile and the flash attention's score block
// run with their operands in cache: the ceilings of mhsa's kernels on this
// CPU (tile_ceiling.cc).
#ifndef MHSA_BENCH_TILE_CEILING_H_
#define MHSA_BENCH_TILE_CEILING_H_

#include <cstddef>
#include <cstdint>

namespace mhsa::bench {

// Floating-point operations of one tile of `target`'s GEMM over k steps
// (its tile height x kPanel columns x k, times 2).
uint64_t TileFlops(int64_t target, size_t k);

// Runs `rounds` tiles of k steps on each of `threads` OpenMP threads, on
// `target`, each thread on its own operands. Returns a value to keep.
float RunTiles(int64_t target, int threads, size_t k, uint64_t rounds);

// Floating-point operations of one score block (kQueryBlock queries x
// kKeyBlock keys x dim, times 2; exp and the rest not counted).
uint64_t ScoreFlops(size_t dim);

// Runs `rounds` score blocks of head_dim `dim` on each of `threads` OpenMP
// threads, on `target`, each thread on its own operands.
float RunScores(int64_t target, int threads, size_t dim, uint64_t rounds);

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_TILE_CEILING_H_
