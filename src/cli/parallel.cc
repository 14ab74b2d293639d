// The command across MPI ranks. Rank 0 alone reads the case and broadcasts
// it (or scatters its rows): under mpirun only rank 0's standard input is
// connected (--input /dev/stdin reaches no other rank), a file need exist
// only where rank 0 runs, it is parsed once, so every rank computes the
// same numbers, and one rank applies the memory guard's refusal rule, the
// same as the single-process run's. Rank 0 alone writes the result.
//
// Every step that can fail on some rank ends in an agreement (Agree): the
// ranks exchange their outcomes, rank 0 prints the first failure's message,
// and all of them stop with its exit code, so no rank is left waiting in a
// collective the others never reach.
#include "parallel.h"

#include <mpi.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "case_io.h"
#include "command.h"
#include "files.h"
#include "memory.h"
#include "mhsa/mhsa.h"
#include "mhsa/mpi.h"
#include "mpi/leak_check.h"

namespace mhsa {
namespace cli {
namespace {

struct Outcome {
  int code = 0;  // 0, kRefused or kWriteFailed
  std::string message;
};

// Runs one step on this rank and catches what the command reports.
template <typename Step>
Outcome Try(const Step& step) {
  try {
    step();
    return Outcome();
  } catch (const WriteError& e) {
    return {kWriteFailed, e.what()};
  } catch (const std::bad_alloc&) {
    return {kRefused, "out of memory for this case"};
  } catch (const std::exception& e) {
    return {kRefused, e.what()};
  }
}

// Collective. Returns 0 on every rank when every rank's step succeeded;
// otherwise the first failing rank's code, on every rank, after rank 0 has
// reported that rank's message.
int Agree(const Outcome& mine) {
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::vector<int> codes(static_cast<size_t>(size));
  MPI_Allgather(&mine.code, 1, MPI_INT, codes.data(), 1, MPI_INT, MPI_COMM_WORLD);
  const auto failed = std::find_if(codes.begin(), codes.end(), [](int c) { return c != 0; });
  if (failed == codes.end()) return 0;
  const auto first = static_cast<int>(failed - codes.begin());
  std::string message = rank == first ? mine.message : std::string();
  int length = static_cast<int>(std::min<size_t>(message.size(), 4096));
  MPI_Bcast(&length, 1, MPI_INT, first, MPI_COMM_WORLD);
  message.resize(static_cast<size_t>(length));
  MPI_Bcast(message.data(), length, MPI_CHAR, first, MPI_COMM_WORLD);
  if (rank == 0) Report(message);
  return *failed;
}

// MPI counts are ints: a broadcast of any size, in pieces.
void BroadcastFloats(float* data, size_t count) {
  constexpr size_t kPiece = size_t{1} << 28;
  for (size_t done = 0; done < count; done += kPiece) {
    MPI_Bcast(data + done, static_cast<int>(std::min(kPiece, count - done)), MPI_FLOAT, 0,
              MPI_COMM_WORLD);
  }
}

size_t Floats(const Case& c, int width) {
  return static_cast<size_t>(c.batch) * static_cast<size_t>(c.context) * static_cast<size_t>(width);
}

// The two ways of splitting; `out` (rank 0) receives the whole output.
int ComputeHeads(const Case& c, const MultiHeadedSelfAttention& layer, int rank,
                 std::vector<float>* out) {
  std::vector<float> embedded;
  const float* x = c.embedded.data();
  if (int code = Agree(Try([&] {
        if (rank != 0) embedded.resize(Floats(c, c.embedding_dim));
        out->resize(Floats(c, c.attention_dim));
      }))) {
    return code;
  }
  if (rank != 0) x = embedded.data();
  BroadcastFloats(const_cast<float*>(x), Floats(c, c.embedding_dim));
  return Agree(
      Try([&] { mpi::ForwardHeads(layer, MPI_COMM_WORLD, x, c.batch, c.context, out->data()); }));
}

int ComputeSequence(const Case& c, const MultiHeadedSelfAttention& layer, int ranks, int rank,
                    std::vector<float>* out) {
  mpi::SequenceShare share;
  std::vector<float> x, local;
  if (int code = Agree(Try([&] {
        share = mpi::ShareOfSequence(c.context, ranks, rank);
        const size_t rows = static_cast<size_t>(c.batch) * static_cast<size_t>(share.rows());
        x.resize(rows * static_cast<size_t>(c.embedding_dim));
        local.resize(rows * static_cast<size_t>(c.attention_dim));
        if (rank == 0) out->resize(Floats(c, c.attention_dim));
      }))) {
    return code;
  }
  // The library's calls agree among the ranks themselves: each either
  // returns on every rank or throws the same error on every rank.
  return Agree(Try([&] {
    mpi::ScatterSequence(MPI_COMM_WORLD, share, c.batch, c.embedding_dim, c.embedded.data(),
                         x.data(), 0);
    // Gathered keys, each chunk through Forward's own kernel path: the
    // same bits as the single-process run, so the same rounded digits
    // (the ring would merge partial sums in another order, and a value
    // within float error of a rounding tie could print differently).
    mpi::ParallelOptions options;
    options.algorithm = mpi::SequenceAlgorithm::kGathered;
    mpi::ForwardSequence(layer, MPI_COMM_WORLD, share, x.data(), c.batch, local.data(), options);
    mpi::GatherSequence(MPI_COMM_WORLD, share, c.batch, c.attention_dim, local.data(), out->data(),
                        0);
  }));
}

int Parallel(int argc, char** argv, int provided) {
  int ranks = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  Options options;
  Budget budget;
  RunSize run;
  Case c;
  if (int code = Agree(Try([&] {
        if (provided < MPI_THREAD_FUNNELED) {
          throw CaseError("expected an MPI library with MPI_THREAD_FUNNELED, got level " +
                          std::to_string(provided));
        }
        if (const std::string problem = TargetEnvironmentError(); !problem.empty()) {
          throw CaseError(problem);
        }
        options = ParseOptions(argc, argv);
        if (rank != 0) return;
        if (options.has_output) options.output = ResolveOutput(options.output);
        budget = MeasureBudget();
        run.threads = budget.threads;
        c = ReadInputCase(options, budget, &run);
        CheckComputeFits(c, budget, run);
      }))) {
    return code;
  }
  if (!options.has_parallel) {
    // "--parallel" was the value of another option (a file of that name):
    // a plain run, on rank 0.
    return Agree(Try([&] {
      if (rank != 0) return;
      const std::vector<float> out = Compute(c, options.decimals, budget, run);
      WriteResult(options, FormatOutput(out, c.batch, c.context, c.attention_dim));
    }));
  }

  int sizes[5] = {c.embedding_dim, c.attention_dim, c.num_heads, c.batch, c.context};
  MPI_Bcast(sizes, 5, MPI_INT, 0, MPI_COMM_WORLD);
  c.embedding_dim = sizes[0];
  c.attention_dim = sizes[1];
  c.num_heads = sizes[2];
  c.batch = sizes[3];
  c.context = sizes[4];
  std::unique_ptr<MultiHeadedSelfAttention> layer;
  if (int code = Agree(Try([&] {
        layer = std::make_unique<MultiHeadedSelfAttention>(c.embedding_dim, c.attention_dim,
                                                           c.num_heads);
      }))) {
    return code;
  }
  std::vector<float> out;
  if (int code = options.parallel == "heads" ? ComputeHeads(c, *layer, rank, &out)
                                             : ComputeSequence(c, *layer, ranks, rank, &out)) {
    return code;
  }
  return Agree(Try([&] {
    if (rank != 0) return;
    RoundToDecimals(out.data(), out.size(), options.decimals);
    WriteResult(options, FormatOutput(out, c.batch, c.context, c.attention_dim));
  }));
}

}  // namespace

int RunParallel(int argc, char** argv) {
  int provided = MPI_THREAD_SINGLE;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  const int code = Parallel(argc, argv, provided);
  CheckLeaksBeforeMpiFinalize();
  MPI_Finalize();
  return code;
}

}  // namespace cli
}  // namespace mhsa
