// Errors that only one rank sees, or that the ranks see differently, end
// the call on every rank with the same message, and nothing hangs: a
// layer, size or input that differs on one rank, a bad pointer on one
// rank, a split made for another communicator size. After each, a good
// call runs (no message of the failed call is left in flight).
#include <mpi.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "helpers.h"
#include "mhsa/mhsa.h"
#include "mhsa/mpi.h"
#include "mpi_helpers.h"
#include "test_data.h"

namespace mhsa {
namespace test {
namespace {

constexpr int kEmbedding = 8, kHeadDim = 4, kHeads = 3, kBatch = 2, kContext = 9;
constexpr int kAttention = kHeadDim * kHeads;

// The rank that misbehaves: the last, so that the messages must name a
// rank other than 0.
int Odd() { return WorldSize() - 1; }

// Runs `call` on every rank; expects std::invalid_argument on every rank
// with exactly `message`.
void ExpectEveryRankThrows(const std::function<void()>& call, const std::string& message) {
  std::string got = "(nothing thrown)";
  try {
    call();
  } catch (const std::invalid_argument& e) {
    got = e.what();
  }
  EXPECT_EQ(got, message) << "on rank " << WorldRank();
}

std::vector<float> Input() {
  return Random(static_cast<size_t>(kBatch * kContext * kEmbedding), 5);
}

// A good call of each kind, which must work after a refused one.
void ExpectGoodCallsWork() {
  const MultiHeadedSelfAttention layer = RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, 1);
  const std::vector<float> x = Input();
  std::vector<float> want(static_cast<size_t>(kBatch * kContext * kAttention)), got(want.size());
  layer.Forward(x.data(), kBatch, kContext, want.data());
  mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, got.data());
  EXPECT_EQ(got, want);
  const mpi::SequenceShare share = mpi::ShareOfSequence(kContext, WorldSize(), WorldRank());
  const std::vector<float> local_x = LocalRows(x, share, kBatch, kEmbedding);
  std::vector<float> local(LocalRows(want, share, kBatch, kAttention).size());
  mpi::ParallelOptions gathered;
  gathered.algorithm = mpi::SequenceAlgorithm::kGathered;
  mpi::ForwardSequence(layer, MPI_COMM_WORLD, share, local_x.data(), kBatch, local.data(),
                       gathered);
  EXPECT_EQ(local, LocalRows(want, share, kBatch, kAttention));
}

TEST(Agreement, WeightsDifferingOnOneRank) {
  // The same seed everywhere but on the odd rank.
  const MultiHeadedSelfAttention layer =
      RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, WorldRank() == Odd() ? 2u : 1u);
  const std::vector<float> x = Input();
  std::vector<float> out(static_cast<size_t>(kBatch * kContext * kAttention));
  const std::string ranks = "rank " + std::to_string(Odd());
  ExpectEveryRankThrows(
      [&] { mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, out.data()); },
      "mhsa: expected the same weights on every rank, got different ones on " + ranks +
          " than on rank 0");
  const mpi::SequenceShare share = mpi::ShareOfSequence(kContext, WorldSize(), WorldRank());
  const std::vector<float> local_x = LocalRows(x, share, kBatch, kEmbedding);
  ExpectEveryRankThrows(
      [&] {
        mpi::ForwardSequence(layer, MPI_COMM_WORLD, share, local_x.data(), kBatch, out.data());
      },
      "mhsa: expected the same weights on every rank, got different ones on " + ranks +
          " than on rank 0");
  ExpectGoodCallsWork();
}

TEST(Agreement, SizesDifferingOnOneRank) {
  const MultiHeadedSelfAttention layer = RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, 1);
  const std::vector<float> x = Input();
  std::vector<float> out(static_cast<size_t>(kBatch * kContext * kAttention));
  const int batch = WorldRank() == Odd() ? 1 : kBatch;
  ExpectEveryRankThrows(
      [&] { mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), batch, kContext, out.data()); },
      "mhsa: expected the same call and sizes (ForwardHeads; embedding_dim, attention_dim, "
      "num_heads, batch, context) on every rank, got different ones on rank " +
          std::to_string(Odd()) + " than on rank 0");
  // A rank in another call altogether is caught the same way.
  const mpi::SequenceShare share = mpi::ShareOfSequence(kContext, WorldSize(), WorldRank());
  const std::vector<float> local_x = LocalRows(x, share, kBatch, kEmbedding);
  std::string got;
  try {
    if (WorldRank() == Odd()) {
      mpi::ForwardSequence(layer, MPI_COMM_WORLD, share, local_x.data(), kBatch, out.data());
    } else {
      mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, out.data());
    }
  } catch (const std::invalid_argument& e) {
    got = e.what();
  }
  EXPECT_NE(got.find("on rank " + std::to_string(Odd()) + " than on rank 0"), std::string::npos)
      << got;
  ExpectGoodCallsWork();
}

TEST(Agreement, InputDifferingOnOneRankInHeadParallel) {
  const MultiHeadedSelfAttention layer = RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, 1);
  std::vector<float> x = Input();
  if (WorldRank() == Odd()) x[17] += 1.0f;
  std::vector<float> out(static_cast<size_t>(kBatch * kContext * kAttention));
  ExpectEveryRankThrows(
      [&] { mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, out.data()); },
      "mhsa: expected the same embedded input on every rank, got different ones on rank " +
          std::to_string(Odd()) + " than on rank 0");
  ExpectGoodCallsWork();
}

TEST(Agreement, BadArgumentOnOneRankIsEveryRanksError) {
  const MultiHeadedSelfAttention layer = RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, 1);
  const std::vector<float> x = Input();
  std::vector<float> out(static_cast<size_t>(kBatch * kContext * kAttention));
  float* dst = WorldRank() == Odd() ? nullptr : out.data();
  const std::string prefix = "mhsa: rank " + std::to_string(Odd()) + ": ";
  ExpectEveryRankThrows(
      [&] { mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, dst); },
      prefix + "expected a non-null out pointer, got nullptr");
  mpi::ParallelOptions threads;
  if (WorldRank() == Odd()) threads.run.num_threads = -1;
  ExpectEveryRankThrows(
      [&] {
        mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, out.data(), threads);
      },
      prefix + "expected num_threads >= 0, got -1");
  // A moved-from layer on one rank: its weights cannot be read.
  MultiHeadedSelfAttention moved = layer;
  if (WorldRank() == Odd()) MultiHeadedSelfAttention taken(std::move(moved));
  ExpectEveryRankThrows(
      [&] { mpi::ForwardHeads(moved, MPI_COMM_WORLD, x.data(), kBatch, kContext, out.data()); },
      prefix + "expected a constructed layer, got one that was moved from");
  ExpectGoodCallsWork();
}

TEST(Agreement, ShareMadeForAnotherCommunicatorSize) {
  const MultiHeadedSelfAttention layer = RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, 1);
  const int ranks = WorldSize();
  // Split for one rank more than there are: every rank finds it, and the
  // message names rank 0, the first.
  const mpi::SequenceShare share = mpi::ShareOfSequence(kContext, ranks + 1, WorldRank());
  const std::vector<float> x = LocalRows(Input(), share, kBatch, kEmbedding);
  std::vector<float> out(static_cast<size_t>(kBatch * kContext * kAttention));
  const std::string what = "expected a SequenceShare made for a communicator of " +
                           std::to_string(ranks) + " ranks (this one's size), got one made for " +
                           std::to_string(ranks + 1);
  ExpectEveryRankThrows(
      [&] { mpi::ForwardSequence(layer, MPI_COMM_WORLD, share, x.data(), kBatch, out.data()); },
      "mhsa: rank 0: " + what);
  ExpectEveryRankThrows(
      [&] {
        mpi::GatherSequence(MPI_COMM_WORLD, share, kBatch, kAttention, out.data(), out.data(), 0);
      },
      "mhsa: rank 0: " + what);
  // The calls below take x with as many rows as their share says: the x
  // above, made for a share of ranks + 1, is shorter, and where the heap
  // put `out` just past it the local check that the arrays do not overlap
  // refused the call first (under load at np4: 4 runs in 60; none in 60 now).
  const mpi::SequenceShare world = mpi::ShareOfSequence(kContext, ranks, WorldRank());
  const std::vector<float> world_x = LocalRows(Input(), world, kBatch, kEmbedding);
  // On a communicator of its own (size 1), the world's share is wrong too.
  MPI_Comm self;
  MPI_Comm_split(MPI_COMM_WORLD, WorldRank(), 0, &self);
  EXPECT_THROW(mpi::ForwardSequence(layer, self, world, world_x.data(), kBatch, out.data()),
               std::invalid_argument);
  MPI_Comm_free(&self);
  // A share edited by hand (one row more on the odd rank).
  mpi::SequenceShare edited = world;
  if (WorldRank() == Odd()) edited.late.end += 1;
  std::vector<float> edited_x = world_x;
  edited_x.resize(static_cast<size_t>(kBatch * edited.rows() * kEmbedding));
  std::string got;
  try {
    mpi::ForwardSequence(layer, MPI_COMM_WORLD, edited, edited_x.data(), kBatch, out.data());
  } catch (const std::invalid_argument& e) {
    got = e.what();
  }
  EXPECT_EQ(got.rfind("mhsa: rank " + std::to_string(Odd()) + ": expected ShareOfSequence(", 0), 0u)
      << got;
  ExpectGoodCallsWork();
}

TEST(Agreement, CommunicatorThatCannotAgreeIsRefusedLocally) {
  const MultiHeadedSelfAttention layer = RandomLayer(kEmbedding, kHeadDim * kHeads, kHeads, 1);
  const std::vector<float> x = Input();
  std::vector<float> out(static_cast<size_t>(kBatch * kContext * kAttention));
  // Every rank passes MPI_COMM_NULL: no collective is possible, each
  // refuses on its own.
  ExpectEveryRankThrows(
      [&] { mpi::ForwardHeads(layer, MPI_COMM_NULL, x.data(), kBatch, kContext, out.data()); },
      "mhsa: expected a communicator, got MPI_COMM_NULL");
  mpi::ParallelOptions workspace;
  char bytes[64];
  workspace.run.workspace = bytes;
  workspace.run.workspace_bytes = sizeof(bytes);
  ExpectEveryRankThrows(
      [&] {
        mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), kBatch, kContext, out.data(), workspace);
      },
      "mhsa: rank 0: expected no workspace in ParallelOptions::run (the parallel calls "
      "allocate their buffers before the ranks agree), got one");
  ExpectGoodCallsWork();
}

}  // namespace
}  // namespace test
}  // namespace mhsa
