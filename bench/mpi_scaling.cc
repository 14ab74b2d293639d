// What one forward across MPI ranks costs each rank: bytes sent (as the
// library counts them and as MPI sees them, through PMPI wrappers defined
// here), peak resident memory, time computing and time waiting. The
// figures of docs/scaling.md; bench/mpi_scaling.py runs the grid.
//
//   mpirun -np R mpi_scaling --mode ring|gathered|heads --context T
//          [--batch B] [--embedding E] [--attention A] [--heads H]
//   mpi_scaling --mode block --context L   (one rank: the ring's unit of
//          work, a non-causal L x L attention over every head, GFLOP/s)
//
// Prints one JSON object on rank 0, with one entry per rank.
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "mhsa/mhsa.h"
#include "mhsa/mpi.h"
#include "peak_memory.h"

// --- PMPI: what this process hands to MPI, counted at MPI's own door ------
namespace {
struct MpiCounts {
  uint64_t isend_bytes = 0, isend_calls = 0;
  uint64_t send_bytes = 0;        // MPI_Send (none expected)
  uint64_t allgatherv_bytes = 0;  // this rank's contribution
  uint64_t agreement_bytes = 0;   // MPI_Allgather and MPI_Bcast: checks
} counts;

uint64_t Bytes(int count, MPI_Datatype type) {
  int size = 0;
  PMPI_Type_size(type, &size);
  return static_cast<uint64_t>(count) * static_cast<uint64_t>(size);
}
}  // namespace

extern "C" {
int MPI_Isend(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
              MPI_Request* request) {
  counts.isend_bytes += Bytes(count, type);
  counts.isend_calls += 1;
  return PMPI_Isend(buf, count, type, dest, tag, comm, request);
}
int MPI_Send(const void* buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm) {
  counts.send_bytes += Bytes(count, type);
  return PMPI_Send(buf, count, type, dest, tag, comm);
}
int MPI_Allgatherv(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                   const int* recvcounts, const int* displs, MPI_Datatype recvtype, MPI_Comm comm) {
  counts.allgatherv_bytes += Bytes(sendcount, sendtype);
  return PMPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm);
}
int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype, void* recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm) {
  counts.agreement_bytes += Bytes(sendcount, sendtype);
  return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}
int MPI_Bcast(void* buffer, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  counts.agreement_bytes += Bytes(count, type);
  return PMPI_Bcast(buffer, count, type, root, comm);
}
}  // extern "C"

namespace {

struct Args {
  std::string mode = "ring";
  int context = 4096, batch = 1, embedding = 512, attention = 512, heads = 8;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--mode") {
      a.mode = value;
    } else if (key == "--context") {
      a.context = std::atoi(value.c_str());
    } else if (key == "--batch") {
      a.batch = std::atoi(value.c_str());
    } else if (key == "--embedding") {
      a.embedding = std::atoi(value.c_str());
    } else if (key == "--attention") {
      a.attention = std::atoi(value.c_str());
    } else if (key == "--heads") {
      a.heads = std::atoi(value.c_str());
    } else {
      std::fprintf(stderr, "mpi_scaling: unknown option %s\n", key.c_str());
      std::exit(2);
    }
  }
  return a;
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

double MiB(double bytes) { return bytes / (1024.0 * 1024.0); }

// The ring's unit of work, alone: L queries against L keys, no mask, every
// head, on the threads OpenMP offers. 4 L^2 A FLOPs (q·kᵀ and p·v).
int Block(const Args& a) {
  const int d = a.attention / a.heads, l = a.context;
  const auto n = static_cast<size_t>(l) * static_cast<size_t>(a.attention);
  const std::vector<float> q = Random(n, 1), k = Random(n, 2), v = Random(n, 3);
  std::vector<float> out(n), lse(static_cast<size_t>(a.heads) * static_cast<size_t>(l));
  mhsa::AttentionShape shape;
  shape.num_heads = a.heads;
  shape.head_dim = d;
  shape.q_len = shape.kv_len = l;
  mhsa::AttentionOptions options;
  options.causal = false;
  options.lse = lse.data();
  const mhsa::Strides s = mhsa::StridesBTHD(l, a.heads, d);
  double best = 1e30;
  for (int repeat = 0; repeat < 5; ++repeat) {
    const double start = MPI_Wtime();
    mhsa::Attention(shape, q.data(), s, k.data(), s, v.data(), s, out.data(), s, options);
    best = std::min(best, MPI_Wtime() - start);
  }
  const double flops = 4.0 * l * static_cast<double>(l) * a.attention;
  std::printf(
      "{\"mode\": \"block\", \"L\": %d, \"attention_dim\": %d, \"heads\": %d, "
      "\"seconds\": %.6f, \"gflops\": %.2f, \"target\": \"%s\"}\n",
      l, a.attention, a.heads, best, flops / best * 1e-9, mhsa::ActiveTarget());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  const Args a = Parse(argc, argv);
  int ranks = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (a.mode == "block") {
    const int code = rank == 0 ? Block(a) : 0;
    MPI_Finalize();
    return code;
  }
  mhsa::MultiHeadedSelfAttention layer(a.embedding, a.attention, a.heads);
  const bool heads = a.mode == "heads";
  const mhsa::mpi::SequenceShare share = mhsa::mpi::ShareOfSequence(a.context, ranks, rank);
  const int rows = heads ? a.context : share.rows();
  const std::vector<float> x = Random(
      static_cast<size_t>(a.batch) * static_cast<size_t>(rows) * static_cast<size_t>(a.embedding),
      heads ? 7u : 7u + static_cast<uint32_t>(rank));
  std::vector<float> out(static_cast<size_t>(a.batch) * static_cast<size_t>(rows) *
                         static_cast<size_t>(a.attention));
  mhsa::mpi::ParallelStats stats;
  mhsa::mpi::ParallelOptions options;
  options.stats = &stats;
  options.algorithm = a.mode == "gathered" ? mhsa::mpi::SequenceAlgorithm::kGathered
                                           : mhsa::mpi::SequenceAlgorithm::kRing;
  const auto run = [&] {
    if (heads) {
      mhsa::mpi::ForwardHeads(layer, MPI_COMM_WORLD, x.data(), a.batch, a.context, out.data(),
                              options);
    } else {
      mhsa::mpi::ForwardSequence(layer, MPI_COMM_WORLD, share, x.data(), a.batch, out.data(),
                                 options);
    }
  };
  run();  // Warm: first-touch of the library's lazily built state.
  counts = MpiCounts();
  MPI_Barrier(MPI_COMM_WORLD);
  const mhsa::bench::PeakMemory peak;
  const double start = MPI_Wtime();
  run();
  const double seconds = MPI_Wtime() - start;
  const double extra = peak.ExtraMiB();

  // The library's count must be what MPI saw: point-to-point sends for the
  // sequence ways, the all-gather's contribution for heads (none alone).
  const uint64_t seen = heads ? (ranks > 1 ? counts.allgatherv_bytes : 0) : counts.isend_bytes;
  int agrees = seen == stats.bytes_sent ? 1 : 0, all_agree = 0;
  MPI_Allreduce(&agrees, &all_agree, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);

  // One row per rank, gathered on rank 0.
  const double mine[] = {static_cast<double>(stats.bytes_sent),
                         static_cast<double>(counts.isend_bytes),
                         static_cast<double>(counts.allgatherv_bytes),
                         static_cast<double>(counts.agreement_bytes),
                         static_cast<double>(stats.messages_sent),
                         MiB(static_cast<double>(stats.buffer_bytes)),
                         extra,
                         MiB(static_cast<double>((x.size() + out.size()) * sizeof(float))),
                         stats.compute_seconds,
                         stats.wait_seconds,
                         seconds,
                         static_cast<double>(rows)};
  constexpr int kFields = sizeof(mine) / sizeof(mine[0]);
  std::vector<double> all(static_cast<size_t>(ranks) * kFields);
  MPI_Gather(mine, kFields, MPI_DOUBLE, all.data(), kFields, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf(
        "{\"mode\": \"%s\", \"ranks\": %d, \"context\": %d, \"batch\": %d, "
        "\"embedding_dim\": %d, \"attention_dim\": %d, \"heads\": %d, "
        "\"target\": \"%s\", \"peak_method\": \"%s\", \"per_rank\": [",
        a.mode.c_str(), ranks, a.context, a.batch, a.embedding, a.attention, a.heads,
        mhsa::ActiveTarget(), peak.Method());
    for (int r = 0; r < ranks; ++r) {
      const double* f = all.data() + static_cast<size_t>(r) * kFields;
      std::printf(
          "%s\n  {\"rank\": %d, \"bytes_sent\": %.0f, \"pmpi_isend_bytes\": %.0f, "
          "\"pmpi_allgatherv_bytes\": %.0f, \"pmpi_agreement_bytes\": %.0f, "
          "\"messages_sent\": %.0f, \"buffer_MiB\": %.2f, \"peak_extra_MiB\": %.2f, "
          "\"io_MiB\": %.2f, \"compute_s\": %.4f, \"wait_s\": %.4f, \"wall_s\": %.4f, "
          "\"rows\": %.0f}",
          r == 0 ? "" : ",", r, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10],
          f[11]);
    }
    std::printf("]}\n");
    if (!all_agree) std::fprintf(stderr, "mpi_scaling: bytes_sent differs from the PMPI count\n");
  }
  MPI_Finalize();
  return all_agree ? 0 : 1;
}
