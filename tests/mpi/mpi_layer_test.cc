// The layer across ranks against the single-process layer: head-parallel
// and gathered sequence-parallel bitwise, the ring by the project's error
// rule; on shapes that do not divide evenly (heads not a multiple of the
// ranks, more ranks than heads, contexts of 1 and not multiples of
// 2 x ranks, batch > 1), and the bytes each rank sends, as counted.
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "error_rule.h"
#include "helpers.h"
#include "mhsa/mhsa.h"
#include "mhsa/mpi.h"
#include "mpi_helpers.h"
#include "reference.h"
#include "test_data.h"

namespace mhsa {
namespace test {
namespace {

struct Shape {
  int embedding_dim, head_dim, num_heads, batch, context;
};

std::string Name(const Shape& s) {
  return "E=" + std::to_string(s.embedding_dim) + " D=" + std::to_string(s.head_dim) +
         " H=" + std::to_string(s.num_heads) + " B=" + std::to_string(s.batch) +
         " T=" + std::to_string(s.context) + " ranks=" + std::to_string(WorldSize());
}

// Heads not divisible by 2 or 4 (3, 5), fewer heads than ranks (1, 2),
// contexts around 2 x ranks, the kernel's decode/flash threshold (8 rows),
// its query block (48) and key block (256).
std::vector<Shape> Shapes() {
  std::vector<Shape> shapes;
  for (const int context : {1, 2, 3, 4, 5, 7, 8, 9, 10, 13, 17, 47, 49, 97, 300}) {
    shapes.push_back({16, 4, 3, context % 2 == 0 ? 2 : 1, context});
  }
  // Wider heads, where the decode and flash paths round differently: chunks
  // of at most 8 rows from contexts above 8 must still take the flash path.
  for (const int context : {9, 20, 40, 70}) shapes.push_back({32, 16, 2, 1, context});
  shapes.push_back({8, 5, 1, 3, 11});
  shapes.push_back({12, 3, 2, 1, 33});
  shapes.push_back({24, 8, 5, 2, 64});
  return shapes;
}

struct Problem {
  explicit Problem(const Shape& s)
      : shape(s),
        layer(RandomLayer(s.embedding_dim, s.head_dim * s.num_heads, s.num_heads,
                          static_cast<uint32_t>(s.context * 7 + s.num_heads))),
        x(Random(static_cast<size_t>(s.batch) * static_cast<size_t>(s.context) *
                     static_cast<size_t>(s.embedding_dim),
                 static_cast<uint32_t>(s.context * 13 + s.batch))),
        want(static_cast<size_t>(s.batch) * static_cast<size_t>(s.context) *
             static_cast<size_t>(layer.attention_dim())) {
    layer.Forward(x.data(), s.batch, s.context, want.data());
  }
  size_t OutFloats() const { return want.size(); }

  Shape shape;
  MultiHeadedSelfAttention layer;
  std::vector<float> x, want;
};

bool Bitwise(const std::vector<float>& a, const std::vector<float>& b) {
  // (A rank may hold no rows: memcmp must not see an empty vector's null.)
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST(Shares, HeadsInOrderEvenToOneAndIdleRanksPastTheHeads) {
  for (int heads = 1; heads <= 9; ++heads) {
    for (int ranks = 1; ranks <= 12; ++ranks) {
      int next = 0;
      for (int r = 0; r < ranks; ++r) {
        const mpi::HeadShare s = mpi::ShareOfHeads(heads, ranks, r);
        EXPECT_EQ(s.first, next);
        EXPECT_EQ(s.count, heads / ranks + (r < heads % ranks ? 1 : 0));
        next += s.count;
      }
      EXPECT_EQ(next, heads);
    }
  }
}

TEST(Shares, SequenceChunksCoverTheContextAndPairEarlyWithLate) {
  for (int ranks = 1; ranks <= 9; ++ranks) {
    for (int context = 1; context <= 60; ++context) {
      // Chunk c of 2 x ranks, from whichever rank holds it.
      std::vector<mpi::Positions> chunks(static_cast<size_t>(2 * ranks));
      for (int r = 0; r < ranks; ++r) {
        const mpi::SequenceShare s = mpi::ShareOfSequence(context, ranks, r);
        chunks[static_cast<size_t>(r)] = s.early;
        chunks[static_cast<size_t>(2 * ranks - 1 - r)] = s.late;
        EXPECT_EQ(s.rows(), s.early.size() + s.late.size());
      }
      int next = 0;
      for (const mpi::Positions& c : chunks) {
        EXPECT_EQ(c.begin, next);
        const int size = c.size();
        EXPECT_TRUE(size == context / (2 * ranks) || size == context / (2 * ranks) + 1);
        next = c.end;
      }
      EXPECT_EQ(next, context);
    }
  }
  EXPECT_THROW(mpi::ShareOfSequence(0, 2, 0), std::invalid_argument);
  EXPECT_THROW(mpi::ShareOfSequence(5, 2, 2), std::invalid_argument);
  EXPECT_THROW(mpi::ShareOfHeads(3, 0, 0), std::invalid_argument);
}

// The projection sums every element over embedding_dim in one order,
// whichever columns a rank computes, and one head's attention does not
// depend on another's: the same bits as Forward.
TEST(HeadParallel, BitwiseEqualToForward) {
  for (const Shape& s : Shapes()) {
    Problem p(s);
    std::vector<float> got(p.OutFloats(), -1.0f);
    mpi::ParallelStats stats;
    mpi::ParallelOptions options;
    options.stats = &stats;
    mpi::ForwardHeads(p.layer, MPI_COMM_WORLD, p.x.data(), s.batch, s.context, got.data(), options);
    EXPECT_TRUE(Bitwise(got, p.want)) << Name(s);
    const mpi::HeadShare share = mpi::ShareOfHeads(s.num_heads, WorldSize(), WorldRank());
    EXPECT_EQ(stats.bytes_sent, static_cast<uint64_t>(share.count) * p.OutFloats() /
                                    static_cast<uint64_t>(s.num_heads) * sizeof(float))
        << Name(s);
  }
}

// Each chunk's queries over all the keys they see, in one kernel call, with
// zero rows in front of a short chunk so that the call takes Forward's
// path: the same bits as Forward, row by row.
TEST(SequenceParallel, GatheredIsBitwiseEqualToForward) {
  for (const Shape& s : Shapes()) {
    Problem p(s);
    const mpi::SequenceShare share = mpi::ShareOfSequence(s.context, WorldSize(), WorldRank());
    const std::vector<float> x = LocalRows(p.x, share, s.batch, s.embedding_dim);
    const std::vector<float> want = LocalRows(p.want, share, s.batch, p.layer.attention_dim());
    std::vector<float> got(want.size(), -1.0f);
    mpi::ParallelOptions options;
    options.algorithm = mpi::SequenceAlgorithm::kGathered;
    mpi::ForwardSequence(p.layer, MPI_COMM_WORLD, share, x.data(), s.batch, got.data(), options);
    EXPECT_TRUE(Bitwise(got, want)) << Name(s);
  }
}

// The ring's output, gathered on rank 0, against the float64 reference by
// the project's rule. Large logits (inputs x 8) make the blocks' maxima
// differ widely, which is what the log-sum-exp merge has to get right.
TEST(SequenceParallel, RingMeetsTheErrorRule) {
  for (const float gain : {1.0f, 8.0f}) {
    for (const Shape& s : Shapes()) {
      Problem p(s);
      for (float& v : p.x) v *= gain;
      const mpi::SequenceShare share = mpi::ShareOfSequence(s.context, WorldSize(), WorldRank());
      const std::vector<float> x = LocalRows(p.x, share, s.batch, s.embedding_dim);
      const int a = p.layer.attention_dim();
      std::vector<float> local(static_cast<size_t>(s.batch) * static_cast<size_t>(share.rows()) *
                               static_cast<size_t>(a));
      mpi::ForwardSequence(p.layer, MPI_COMM_WORLD, share, x.data(), s.batch, local.data());
      std::vector<float> got(p.OutFloats(), -1.0f);
      mpi::GatherSequence(MPI_COMM_WORLD, share, s.batch, a, local.data(), got.data(), 0);
      if (WorldRank() != 0) continue;
      const std::vector<float> weights = AllWeights(p.layer);
      std::vector<float> plain(p.OutFloats());
      std::vector<double> truth(p.OutFloats());
      const auto b = static_cast<size_t>(s.batch), t = static_cast<size_t>(s.context),
                 e = static_cast<size_t>(s.embedding_dim), h = static_cast<size_t>(s.num_heads),
                 d = static_cast<size_t>(s.head_dim);
      ref::Forward<float>(p.x.data(), b, t, e, weights.data(), h, d, plain.data());
      ref::Forward<double>(p.x.data(), b, t, e, weights.data(), h, d, truth.data());
      EXPECT_TRUE(WithinRule(got, plain, truth)) << Name(s) << " gain " << gain;
    }
  }
}

// A NaN at position p reaches every output row from p on, and no row before
// it, exactly as in Forward: later blocks are skipped, the diagonal block
// is masked, and a NaN partial poisons the merge.
TEST(SequenceParallel, RingKeepsCausalityWithANaN) {
  for (const int context : {5, 13, 50}) {
    for (int position = 0; position < context; position += 3) {
      Shape s{8, 4, 2, 1, context};
      Problem p(s);
      p.x[static_cast<size_t>(position) * 8 + 3] = std::nanf("");
      p.layer.Forward(p.x.data(), 1, context, p.want.data());
      const mpi::SequenceShare share = mpi::ShareOfSequence(context, WorldSize(), WorldRank());
      const std::vector<float> x = LocalRows(p.x, share, 1, 8);
      const std::vector<float> want = LocalRows(p.want, share, 1, 8);
      std::vector<float> got(want.size());
      mpi::ForwardSequence(p.layer, MPI_COMM_WORLD, share, x.data(), 1, got.data());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(std::isnan(got[i]), std::isnan(want[i]))
            << Name(s) << " NaN at " << position << ", local element " << i;
      }
    }
  }
}

// The bytes each rank hands to MPI, as the algorithm implies them: at step
// s of R - 1 the block of rank (rank - s) mod R, batch x its rows x 2 x
// attention_dim floats (keys and values). docs/scaling.md confirms the
// counter against MPI itself (a PMPI hook).
TEST(SequenceParallel, RingSendsTheBlocksItCounts) {
  const int ranks = WorldSize(), rank = WorldRank();
  for (const auto algorithm : {mpi::SequenceAlgorithm::kRing, mpi::SequenceAlgorithm::kGathered}) {
    for (const Shape& s : Shapes()) {
      Problem p(s);
      const mpi::SequenceShare share = mpi::ShareOfSequence(s.context, ranks, rank);
      const std::vector<float> x = LocalRows(p.x, share, s.batch, s.embedding_dim);
      std::vector<float> got(static_cast<size_t>(s.batch) * static_cast<size_t>(share.rows()) *
                             static_cast<size_t>(p.layer.attention_dim()));
      mpi::ParallelStats stats;
      mpi::ParallelOptions options;
      options.algorithm = algorithm;
      options.stats = &stats;
      mpi::ForwardSequence(p.layer, MPI_COMM_WORLD, share, x.data(), s.batch, got.data(), options);
      uint64_t want = 0;
      for (int step = 0; step + 1 < ranks; ++step) {
        const int source = ((rank - step) % ranks + ranks) % ranks;
        want += static_cast<uint64_t>(s.batch) *
                static_cast<uint64_t>(mpi::ShareOfSequence(s.context, ranks, source).rows()) * 2 *
                static_cast<uint64_t>(p.layer.attention_dim()) * sizeof(float);
      }
      EXPECT_EQ(stats.bytes_sent, want) << Name(s);
      EXPECT_EQ(stats.messages_sent, static_cast<uint64_t>(ranks - 1)) << Name(s);
      EXPECT_GT(stats.buffer_bytes, 0u);
    }
  }
}

TEST(ScatterGather, RowsGoWhereTheShareSaysAndComeBack) {
  for (const int context : {1, 3, 8, 29}) {
    const int batch = 2, width = 5;
    const std::vector<float> whole =
        Random(static_cast<size_t>(batch * context * width), static_cast<uint32_t>(context));
    const mpi::SequenceShare share = mpi::ShareOfSequence(context, WorldSize(), WorldRank());
    const std::vector<float> want = LocalRows(whole, share, batch, width);
    std::vector<float> local(want.size(), -1.0f);
    const int root = WorldSize() - 1;
    mpi::ScatterSequence(MPI_COMM_WORLD, share, batch, width,
                         WorldRank() == root ? whole.data() : nullptr, local.data(), root);
    EXPECT_TRUE(Bitwise(local, want)) << "context " << context;
    std::vector<float> back(whole.size(), -1.0f);
    mpi::GatherSequence(MPI_COMM_WORLD, share, batch, width, local.data(), back.data(), root);
    if (WorldRank() == root) {
      EXPECT_TRUE(Bitwise(back, whole)) << "context " << context;
    }
  }
}

}  // namespace
}  // namespace test
}  // namespace mhsa
