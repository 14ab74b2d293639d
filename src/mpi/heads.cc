// Head-parallel forward: each rank projects and attends its share of the
// heads, and one MPI_Allgatherv assembles the output.
#include <mpi.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <vector>

#include "agree.h"
#include "args.h"
#include "buffer.h"
#include "mhsa/mpi.h"
#include "weights.h"

namespace mhsa {
namespace mpi {

void ForwardHeads(const MultiHeadedSelfAttention& layer, MPI_Comm comm, const float* embedded,
                  int batch, int context, float* out, const ParallelOptions& options) {
  int ranks = 1, rank = 0;
  CheckCommunicator(comm, &ranks, &rank);
  const int heads = layer.num_heads(), dim = layer.head_dim();
  const auto e = static_cast<size_t>(layer.embedding_dim()),
             a = static_cast<size_t>(layer.attention_dim()), d = static_cast<size_t>(dim);
  HeadShare share;
  size_t rows = 0;  // batch x context
  Buffer<float> weights, qkv, part, scratch;
  Buffer<char> workspace;
  std::vector<int> counts, firsts;  // every rank's heads, for the all-gather
  AttentionShape shape;
  LocalVerdict verdict;
  verdict.what[0] =
      "call and sizes (ForwardHeads; embedding_dim, attention_dim, num_heads, batch, "
      "context)";
  verdict.what[1] = "weights";
  verdict.what[2] = "embedded input";
  try {
    CheckRunOptions(options.run);
    CheckPositive("batch", batch);
    CheckPositive("context", context);
    CheckNotNull("embedded", embedded);
    CheckNotNull("out", out);
    rows = CheckedProduct("batch x context",
                          {static_cast<size_t>(batch), static_cast<size_t>(context)});
    const size_t in_floats = CheckedProduct("embedded", {rows, e});
    const size_t out_floats = CheckedProduct("out", {rows, a});
    CheckDisjoint("out", out, out_floats, "embedded", embedded, in_floats);
    share = ShareOfHeads(heads, ranks, rank);
    for (int r = 0; r < ranks; ++r) {
      const HeadShare s = ShareOfHeads(heads, ranks, r);
      counts.push_back(s.count);
      firsts.push_back(s.first);
    }
    // Rank 0 has the largest share; every rank checks the same bound, so
    // they all reach the same verdict.
    const auto most = static_cast<size_t>(ShareOfHeads(heads, ranks, 0).count);
    CheckMessage("one rank's heads of the output", CheckedProduct("a share", {most, rows, d}));
    CheckMessage("batch x context", rows);
    const auto count = static_cast<size_t>(share.count);
    scratch = Buffer<float>(ProjectionFloats(layer, 1));
    if (count > 0) {
      weights = Buffer<float>(ProjectionFloats(layer, share.count));
      qkv = Buffer<float>(CheckedProduct("the projection", {rows, 3, count, d}));
      part = Buffer<float>(rows * count * d);
      shape.batch = batch;
      shape.num_heads = share.count;
      shape.head_dim = dim;
      shape.q_len = shape.kv_len = context;
      RunOptions run = options.run;
      const int n = 3 * share.count * dim;
      AttentionOptions attention;
      attention.run = options.run;
      workspace = Buffer<char>(
          std::max(SgemmWorkspaceBytes(static_cast<int>(rows), n, layer.embedding_dim(), run),
                   AttentionWorkspaceBytes(shape, attention)));
    }
    Hash64 sizes, input;
    sizes.Add(0x4845414453ull);  // "HEADS": a rank in another call differs.
    for (const int size : {layer.embedding_dim(), layer.attention_dim(), heads, batch, context}) {
      sizes.Add(static_cast<uint64_t>(size));
    }
    verdict.fingerprint[0] = sizes.value();
    verdict.fingerprint[1] = LayerFingerprint(layer, scratch.data());
    input.AddBytes(embedded, in_floats * sizeof(float));
    verdict.fingerprint[2] = input.value();
  } catch (const std::invalid_argument& error) {
    verdict.error = error.what();
  } catch (const std::bad_alloc&) {
    verdict.out_of_memory = true;
  }
  Agree(comm, verdict);

  const double start = MPI_Wtime();
  const auto count = static_cast<size_t>(share.count);
  if (count > 0) {
    RunOptions run = options.run;
    run.workspace = workspace.data();
    run.workspace_bytes = workspace.size();
    ProjectionRows(layer, share.first, share.count, weights.data());
    // qkv: [batch][context][3][count][head_dim], the layer's interleaved
    // layout restricted to this rank's heads.
    const int n = 3 * share.count * dim;
    Sgemm(false, true, static_cast<int>(rows), n, layer.embedding_dim(), 1.0f, embedded,
          layer.embedding_dim(), weights.data(), layer.embedding_dim(), 0.0f, qkv.data(), n, run);
    const int64_t row = n, ctx = context, sc = share.count;
    const Strides interleaved{ctx * row, row, dim};
    // part: [count][batch][context][head_dim], each head contiguous: what
    // the all-gather's receive type (one head's columns) expects.
    const Strides by_head{ctx * dim, dim, static_cast<int64_t>(rows) * dim};
    AttentionOptions attention;
    attention.run = run;
    const float* q = qkv.data();
    Attention(shape, q, interleaved, q + sc * dim, interleaved, q + 2 * sc * dim, interleaved,
              part.data(), by_head, attention);
  }
  const double computed = MPI_Wtime();

  // One head's columns of the whole output: rows runs of head_dim floats,
  // attention_dim apart, resized so that head h starts h x head_dim floats in.
  MPI_Datatype columns, head_type;
  MPI_Type_vector(static_cast<int>(rows), dim, layer.attention_dim(), MPI_FLOAT, &columns);
  MPI_Type_create_resized(columns, 0, static_cast<MPI_Aint>(d * sizeof(float)), &head_type);
  MPI_Type_commit(&head_type);
  float nothing = 0.0f;  // A rank without heads sends nothing from here.
  MPI_Allgatherv(count > 0 ? part.data() : &nothing, static_cast<int>(count * rows * d), MPI_FLOAT,
                 out, counts.data(), firsts.data(), head_type, comm);
  MPI_Type_free(&head_type);
  MPI_Type_free(&columns);

  if (options.stats != nullptr) {
    ParallelStats& stats = *options.stats;
    stats = ParallelStats();
    // This rank's heads of the output go to the others, theirs come here;
    // alone, nothing moves.
    if (ranks > 1) {
      stats.bytes_sent = count * rows * d * sizeof(float);
      stats.bytes_received = (static_cast<size_t>(heads) - count) * rows * d * sizeof(float);
      stats.messages_sent = 1;
    }
    stats.buffer_bytes =
        weights.bytes() + qkv.bytes() + part.bytes() + scratch.bytes() + workspace.bytes();
    stats.compute_seconds = computed - start;
    stats.wait_seconds = MPI_Wtime() - computed;
  }
}

}  // namespace mpi
}  // namespace mhsa
