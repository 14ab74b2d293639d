// Who owns what: the heads of a head-parallel call and the sequence chunks
// of a sequence-parallel one. Plain arithmetic, the same on every rank.
#include <stdexcept>
#include <string>

#include "mhsa/mpi.h"

namespace mhsa {
namespace mpi {
namespace {

[[noreturn]] void Invalid(const std::string& message) {
  throw std::invalid_argument("mhsa: " + message);
}

void CheckRanks(int ranks, int rank) {
  if (ranks <= 0) Invalid("expected ranks > 0, got " + std::to_string(ranks));
  if (rank < 0 || rank >= ranks) {
    Invalid("expected rank in [0, " + std::to_string(ranks) + "), got " + std::to_string(rank));
  }
}

// Start of chunk `chunk` of `chunks` over `length` positions: the first
// length % chunks chunks are one position longer.
int ChunkBegin(int length, int chunks, int chunk) {
  const int base = length / chunks, extra = length % chunks;
  return chunk * base + (chunk < extra ? chunk : extra);
}

}  // namespace

HeadShare ShareOfHeads(int num_heads, int ranks, int rank) {
  if (num_heads <= 0) Invalid("expected num_heads > 0, got " + std::to_string(num_heads));
  CheckRanks(ranks, rank);
  HeadShare share;
  share.first = ChunkBegin(num_heads, ranks, rank);
  share.count = ChunkBegin(num_heads, ranks, rank + 1) - share.first;
  return share;
}

SequenceShare ShareOfSequence(int context, int ranks, int rank) {
  if (context <= 0) Invalid("expected context > 0, got " + std::to_string(context));
  CheckRanks(ranks, rank);
  // 2 x ranks chunks must be countable in an int.
  if (ranks > (1 << 30)) Invalid("expected ranks <= 2^30, got " + std::to_string(ranks));
  const int chunks = 2 * ranks, late = chunks - 1 - rank;
  SequenceShare share;
  share.context = context;
  share.ranks = ranks;
  share.rank = rank;
  share.early = {ChunkBegin(context, chunks, rank), ChunkBegin(context, chunks, rank + 1)};
  share.late = {ChunkBegin(context, chunks, late), ChunkBegin(context, chunks, late + 1)};
  return share;
}

}  // namespace mpi
}  // namespace mhsa
