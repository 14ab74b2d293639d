// Sequence-parallel forward: each rank projects its own rows, the key and
// value blocks travel around the ring (ring.h), and each rank's queries
// attend to them, merged through the log-sum-exp (kRing, merge.h) or over
// all gathered keys in one kernel call (kGathered).
#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <vector>

#include "agree.h"
#include "args.h"
#include "blocking.h"  // kDecodeRows: see GatheredPadding.
#include "buffer.h"
#include "merge.h"
#include "mhsa/mpi.h"
#include "ring.h"
#include "weights.h"

namespace mhsa {
namespace mpi {
namespace {

// One of a rank's two chunks: its index among the 2 x ranks chunks (a
// later chunk has a larger index), its positions, and where its rows start
// among the rank's local rows.
struct Chunk {
  int index;
  Positions positions;
  int offset;
};

void ChunksOf(const SequenceShare& s, Chunk chunks[2]) {
  chunks[0] = {s.rank, s.early, 0};
  chunks[1] = {2 * s.ranks - 1 - s.rank, s.late, s.early.size()};
}

// The kernel picks its path per sequence from the number of query rows it
// is given (src/attention.cc: the decode path for at most kDecodeRows rows
// per K/V head, the flash path above), and each path computes a row in its
// own order. A chunk given alone could take the other path than the whole
// sequence does in Forward, so the gathered algorithm puts zero query rows
// in front of a short chunk, which change nothing for the chunk's rows
// (every row is computed on its own), until the call takes the same path.
int GatheredPadding(int context, int chunk_rows) {
  constexpr int kMostDecodeRows = static_cast<int>(kDecodeRows);
  if (context <= kMostDecodeRows || chunk_rows > kMostDecodeRows) return 0;
  return kMostDecodeRows + 1 - chunk_rows;
}

// Everything a call computes with, sized and allocated before the ranks
// agree.
struct Plan {
  int heads = 0, dim = 0, attention_dim = 0, embedding_dim = 0, batch = 0;
  std::vector<SequenceShare> shares;  // every rank's
  std::vector<size_t> block_floats;   // every rank's block, for the ring
  Chunk mine[2];
  size_t rows = 0;  // this rank's local rows
  int seen = 0;     // keys this rank's queries see (gathered: [0, seen))
  Buffer<float> weights, q, blocks[2], part, part_lse, all_kv, padded_q, padded_out;
  Buffer<double> lse;
  Buffer<char> workspace;

  size_t BlockFloats(int rank) const {
    return static_cast<size_t>(batch) *
           static_cast<size_t>(shares[static_cast<size_t>(rank)].rows()) * 2 *
           static_cast<size_t>(attention_dim);
  }
  size_t BufferBytes() const {
    return weights.bytes() + q.bytes() + blocks[0].bytes() + blocks[1].bytes() + part.bytes() +
           part_lse.bytes() + all_kv.bytes() + padded_q.bytes() + padded_out.bytes() + lse.bytes() +
           workspace.bytes();
  }
};

AttentionShape ShapeOf(const Plan& p, int q_len, int kv_len) {
  AttentionShape shape;
  shape.batch = p.batch;
  shape.num_heads = p.heads;
  shape.head_dim = p.dim;
  shape.q_len = q_len;
  shape.kv_len = kv_len;
  return shape;
}

// Sizes the plan's buffers and allocates them; throws std::invalid_argument
// or std::bad_alloc.
void MakePlan(const MultiHeadedSelfAttention& layer, const SequenceShare& share, int batch,
              const ParallelOptions& options, Plan* p) {
  p->heads = layer.num_heads();
  p->dim = layer.head_dim();
  p->attention_dim = layer.attention_dim();
  p->embedding_dim = layer.embedding_dim();
  p->batch = batch;
  for (int r = 0; r < share.ranks; ++r) {
    p->shares.push_back(ShareOfSequence(share.context, share.ranks, r));
  }
  for (int r = 0; r < share.ranks; ++r) p->block_floats.push_back(p->BlockFloats(r));
  ChunksOf(share, p->mine);
  const auto b = static_cast<size_t>(batch), a = static_cast<size_t>(p->attention_dim),
             h = static_cast<size_t>(p->heads);
  p->rows = static_cast<size_t>(share.rows());
  size_t most_block = 0;
  int most_rows = 0;
  for (int r = 0; r < share.ranks; ++r) {
    most_rows = std::max(most_rows, p->shares[static_cast<size_t>(r)].rows());
  }
  most_block = CheckedProduct("a key and value block", {b, static_cast<size_t>(most_rows), 2, a});
  CheckMessage("one rank's key and value block", most_block);
  const size_t local = CheckedProduct("the local rows", {b, p->rows, a});

  p->weights = Buffer<float>(ProjectionFloats(layer, p->heads));
  p->q = Buffer<float>(local);
  p->blocks[0] = Buffer<float>(most_block);
  // The second buffer receives the next block while the first is used:
  // alone, there is no next block.
  p->blocks[1] = Buffer<float>(share.ranks > 1 ? most_block : 0);

  RunOptions run = options.run;
  const auto rows = static_cast<int>(b * p->rows);
  size_t workspace =
      std::max(SgemmWorkspaceBytes(rows, p->attention_dim, p->embedding_dim, run),
               SgemmWorkspaceBytes(rows, 2 * p->attention_dim, p->embedding_dim, run));
  AttentionOptions attention;
  attention.run = run;
  if (options.algorithm == SequenceAlgorithm::kRing) {
    int most_chunk = 0;
    for (const Chunk& c : p->mine) most_chunk = std::max(most_chunk, c.positions.size());
    p->part = Buffer<float>(b * static_cast<size_t>(most_chunk) * a);
    p->part_lse = Buffer<float>(b * h * static_cast<size_t>(most_chunk));
    p->lse = Buffer<double>(b * h * p->rows);
    // The largest attention call: a chunk of this rank against any chunk.
    for (const Chunk& c : p->mine) {
      for (const SequenceShare& s : p->shares) {
        for (const Positions& theirs : {s.early, s.late}) {
          if (c.positions.size() == 0 || theirs.size() == 0) continue;
          attention.causal = false;
          workspace = std::max(
              workspace,
              AttentionWorkspaceBytes(ShapeOf(*p, c.positions.size(), theirs.size()), attention));
        }
      }
    }
  } else {
    for (const Chunk& c : p->mine) {
      if (c.positions.size() > 0) p->seen = std::max(p->seen, c.positions.end);
    }
    p->all_kv = Buffer<float>(
        CheckedProduct("the gathered keys and values", {b, static_cast<size_t>(p->seen), 2, a}));
    int most_padded = 0;
    for (const Chunk& c : p->mine) {
      if (c.positions.size() == 0) continue;
      const int padding = GatheredPadding(share.context, c.positions.size());
      if (padding > 0) most_padded = std::max(most_padded, padding + c.positions.size());
      workspace = std::max(
          workspace, AttentionWorkspaceBytes(
                         ShapeOf(*p, padding + c.positions.size(), c.positions.end), attention));
    }
    p->padded_q = Buffer<float>(b * static_cast<size_t>(most_padded) * a);
    p->padded_out = Buffer<float>(b * static_cast<size_t>(most_padded) * a);
  }
  p->workspace = Buffer<char>(workspace);
}

// Ring attention of one block: each chunk of this rank's queries against
// each chunk of the block it may see, merged into out and the lse.
void AttendRingBlock(const Plan& p, const RunOptions& run, const SequenceShare& source,
                     const float* block, float* out, RingPass* ring) {
  Chunk theirs[2];
  ChunksOf(source, theirs);
  const auto a = static_cast<size_t>(p.attention_dim), d = static_cast<size_t>(p.dim),
             h = static_cast<size_t>(p.heads), n = p.rows;
  const auto src_rows = static_cast<int64_t>(source.rows());
  for (const Chunk& mine : p.mine) {
    const int q_len = mine.positions.size();
    if (q_len == 0) continue;
    for (const Chunk& other : theirs) {
      // Later chunks are wholly in the causal future: skipped, not masked.
      if (other.positions.size() == 0 || other.index > mine.index) continue;
      AttentionOptions options;
      options.causal = other.index == mine.index;  // the diagonal block
      options.lse = p.part_lse.data();
      options.run = run;
      const float* k = block + static_cast<size_t>(other.offset) * 2 * a;
      const int64_t kv_row = int64_t{2} * p.attention_dim;  // k and v of one position
      const Strides kv{src_rows * kv_row, kv_row, p.dim};
      const Strides q{static_cast<int64_t>(n) * p.attention_dim, p.attention_dim, p.dim};
      Attention(ShapeOf(p, q_len, other.positions.size()),
                p.q.data() + static_cast<size_t>(mine.offset) * a, q, k, kv, k + a, kv,
                p.part.data(), StridesBTHD(q_len, p.heads, p.dim), options);
      const auto len = static_cast<size_t>(q_len);
      for (size_t b = 0; b < static_cast<size_t>(p.batch); ++b) {
        for (size_t i = 0; i < len; ++i) {
          const size_t row = b * n + static_cast<size_t>(mine.offset) + i;
          for (size_t head = 0; head < h; ++head) {
            MergePartial(out + row * a + head * d,
                         p.lse.data() + (b * h + head) * n + static_cast<size_t>(mine.offset) + i,
                         p.part.data() + (b * len + i) * a + head * d,
                         p.part_lse.data()[(b * h + head) * len + i], d);
          }
        }
      }
      ring->Progress();
    }
  }
}

// The gathered algorithm's keeping of a block: its rows at their positions
// in all_kv ([batch][seen][2][attention_dim]), those this rank's queries see.
void KeepBlock(const Plan& p, const SequenceShare& source, const float* block) {
  Chunk theirs[2];
  ChunksOf(source, theirs);
  const size_t row = 2 * static_cast<size_t>(p.attention_dim);
  const auto n = static_cast<size_t>(source.rows()), seen = static_cast<size_t>(p.seen);
  for (size_t b = 0; b < static_cast<size_t>(p.batch); ++b) {
    for (const Chunk& c : theirs) {
      const int end = std::min(c.positions.end, p.seen);
      if (end <= c.positions.begin) continue;
      std::memcpy(p.all_kv.data() + (b * seen + static_cast<size_t>(c.positions.begin)) * row,
                  block + (b * n + static_cast<size_t>(c.offset)) * row,
                  static_cast<size_t>(end - c.positions.begin) * row * sizeof(float));
    }
  }
}

// Each chunk of this rank's queries over all the keys it sees, in one call
// of the kernel that Forward runs, so that every row is computed as Forward
// computes it.
void AttendGathered(const Plan& p, const RunOptions& run, int context, float* out) {
  const auto a = static_cast<size_t>(p.attention_dim), n = p.rows;
  const int64_t kv_row = int64_t{2} * p.attention_dim;  // k and v of one position
  const Strides kv{static_cast<int64_t>(p.seen) * kv_row, kv_row, p.dim};
  for (const Chunk& mine : p.mine) {
    const int len = mine.positions.size();
    if (len == 0) continue;
    AttentionOptions options;
    options.run = run;
    const int padding = GatheredPadding(context, len);
    const AttentionShape shape = ShapeOf(p, padding + len, mine.positions.end);
    const float* q = p.q.data() + static_cast<size_t>(mine.offset) * a;
    float* dst = out + static_cast<size_t>(mine.offset) * a;
    const Strides local{static_cast<int64_t>(n) * p.attention_dim, p.attention_dim, p.dim};
    if (padding == 0) {
      Attention(shape, q, local, p.all_kv.data(), kv, p.all_kv.data() + a, kv, dst, local, options);
      continue;
    }
    // [batch][padding + len][attention_dim]: zero rows, then the chunk's.
    const size_t chunk = static_cast<size_t>(len), total = static_cast<size_t>(padding) + chunk;
    for (size_t b = 0; b < static_cast<size_t>(p.batch); ++b) {
      float* rows = p.padded_q.data() + b * total * a;
      std::fill(rows, rows + static_cast<size_t>(padding) * a, 0.0f);
      std::memcpy(rows + static_cast<size_t>(padding) * a, q + b * n * a,
                  chunk * a * sizeof(float));
    }
    const Strides dense = StridesBTHD(padding + len, p.heads, p.dim);
    Attention(shape, p.padded_q.data(), dense, p.all_kv.data(), kv, p.all_kv.data() + a, kv,
              p.padded_out.data(), dense, options);
    for (size_t b = 0; b < static_cast<size_t>(p.batch); ++b) {
      std::memcpy(dst + b * n * a,
                  p.padded_out.data() + (b * total + static_cast<size_t>(padding)) * a,
                  chunk * a * sizeof(float));
    }
  }
}

}  // namespace

void ForwardSequence(const MultiHeadedSelfAttention& layer, MPI_Comm comm,
                     const SequenceShare& share, const float* local_embedded, int batch,
                     float* local_out, const ParallelOptions& options) {
  int ranks = 1, rank = 0;
  CheckCommunicator(comm, &ranks, &rank);
  Plan p;
  Buffer<float> scratch;
  LocalVerdict verdict;
  verdict.what[0] =
      "call and sizes (ForwardSequence; embedding_dim, attention_dim, num_heads, "
      "batch, context, algorithm)";
  verdict.what[1] = "weights";
  try {
    CheckRunOptions(options.run);
    CheckPositive("batch", batch);
    CheckShare(share, ranks, rank);
    if (options.algorithm != SequenceAlgorithm::kRing &&
        options.algorithm != SequenceAlgorithm::kGathered) {
      Invalid("expected SequenceAlgorithm kRing or kGathered, got value " +
              std::to_string(static_cast<int>(options.algorithm)));
    }
    const size_t rows = CheckedProduct(
        "the local rows", {static_cast<size_t>(batch), static_cast<size_t>(share.rows())});
    if (rows > 0) {
      CheckNotNull("local_embedded", local_embedded);
      CheckNotNull("local_out", local_out);
      CheckMessage("batch x local rows", rows);
      CheckDisjoint(
          "local_out", local_out,
          CheckedProduct("local_out", {rows, static_cast<size_t>(layer.attention_dim())}),
          "local_embedded", local_embedded,
          CheckedProduct("local_embedded", {rows, static_cast<size_t>(layer.embedding_dim())}));
    }
    scratch = Buffer<float>(ProjectionFloats(layer, 1));
    MakePlan(layer, share, batch, options, &p);
    Hash64 sizes;
    sizes.Add(0x53455155454e4345ull);  // "SEQUENCE"
    for (const int size : {layer.embedding_dim(), layer.attention_dim(), layer.num_heads(), batch,
                           share.context, static_cast<int>(options.algorithm)}) {
      sizes.Add(static_cast<uint64_t>(size));
    }
    verdict.fingerprint[0] = sizes.value();
    verdict.fingerprint[1] = LayerFingerprint(layer, scratch.data());
  } catch (const std::invalid_argument& error) {
    verdict.error = error.what();
  } catch (const std::bad_alloc&) {
    verdict.out_of_memory = true;
  }
  Agree(comm, verdict);

  ParallelStats stats;
  stats.buffer_bytes = p.BufferBytes() + scratch.bytes();
  double start = MPI_Wtime();
  RunOptions run = options.run;
  run.workspace = p.workspace.data();
  run.workspace_bytes = p.workspace.size();
  // q = x · Wqᵀ into q, [k | v] = x · [Wk; Wv]ᵀ into this rank's block:
  // [batch][rows][2][attention_dim].
  ProjectionRows(layer, 0, p.heads, p.weights.data());
  const int m = batch * share.rows(), e = p.embedding_dim, a = p.attention_dim;
  Sgemm(false, true, m, a, e, 1.0f, local_embedded, e, p.weights.data(), e, 0.0f, p.q.data(), a,
        run);
  Sgemm(false, true, m, 2 * a, e, 1.0f, local_embedded, e,
        p.weights.data() + static_cast<size_t>(a) * static_cast<size_t>(e), e, 0.0f,
        p.blocks[0].data(), 2 * a, run);
  if (options.algorithm == SequenceAlgorithm::kRing && p.lse.size() > 0) {
    std::fill(p.lse.data(), p.lse.data() + p.lse.size(), kNoKeys);
  }
  stats.compute_seconds += MPI_Wtime() - start;

  // A communicator of its own, so that the ring's messages can never match
  // a receive the caller has posted on comm.
  MPI_Comm ring_comm;
  MPI_Comm_dup(comm, &ring_comm);
  RingPass ring(ring_comm, std::move(p.block_floats), p.blocks[0].data(), p.blocks[1].data(),
                &stats);
  for (int step = 0; step < ring.steps(); ++step) {
    ring.Begin(step);
    start = MPI_Wtime();
    const SequenceShare& source = p.shares[static_cast<size_t>(ring.Source(step))];
    if (options.algorithm == SequenceAlgorithm::kRing) {
      AttendRingBlock(p, run, source, ring.Block(step), local_out, &ring);
    } else {
      KeepBlock(p, source, ring.Block(step));
    }
    stats.compute_seconds += MPI_Wtime() - start;
    ring.End(step);
  }
  MPI_Comm_free(&ring_comm);

  start = MPI_Wtime();
  if (options.algorithm == SequenceAlgorithm::kRing) {
    const auto d = static_cast<size_t>(p.dim), h = static_cast<size_t>(p.heads);
    for (size_t b = 0; b < static_cast<size_t>(batch); ++b) {
      for (size_t i = 0; i < p.rows; ++i) {
        for (size_t head = 0; head < h; ++head) {
          FinishMerged(local_out + (b * p.rows + i) * static_cast<size_t>(a) + head * d,
                       p.lse.data()[(b * h + head) * p.rows + i], d);
        }
      }
    }
  } else {
    AttendGathered(p, run, share.context, local_out);
  }
  stats.compute_seconds += MPI_Wtime() - start;
  if (options.stats != nullptr) *options.stats = stats;
}

}  // namespace mpi
}  // namespace mhsa
