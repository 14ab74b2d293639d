// The `mhsa` command.
//   mhsa demo                      the problem's small example
//   mhsa run --input case.json [--output out.json] [--decimals N]
//            [--parallel heads|sequence]   (across MPI ranks: parallel.cc)
//   mhsa show --input case.json --output maps.png
// Refused input or command line (including a case too big for this
// machine's memory): one line on stderr, exit code 2, no output file.
// A result that cannot be written: one line on stderr, exit code 1.
#include <exception>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "case_io.h"
#include "command.h"
#include "files.h"
#include "memory.h"
#include "mhsa/mhsa.h"
#ifdef MHSA_WITH_CAIRO
#include "show.h"
#endif
#ifdef MHSA_WITH_MPI
#include "parallel.h"
#endif

namespace {

using mhsa::cli::CaseError;

// The problem's own small example (the first golden case).
constexpr const char* kDemoCase = R"({
  "embedding_dim": 2, "attention_dim": 4, "num_heads": 2,
  "embedded": [[[0.9089, 5.2716], [1.1371, -0.3625]]]
})";

int Demo() {
  const mhsa::cli::Budget budget = mhsa::cli::MeasureBudget();
  mhsa::cli::RunSize run;
  run.threads = budget.threads;
  const mhsa::cli::Case c = mhsa::cli::ReadCase(kDemoCase, budget, &run);
  const std::vector<float> out = mhsa::cli::Compute(c, 4, budget, run);
  std::ostringstream text;
  text << "mhsa demo: MultiHeadedSelfAttention(embedding_dim=" << c.embedding_dim
       << ", attention_dim=" << c.attention_dim << ", num_heads=" << c.num_heads
       << "), weights as torch.manual_seed(0) makes them\n"
       << "input  (batch=" << c.batch << ", context=" << c.context
       << ", embedding_dim=" << c.embedding_dim << "):\n  " << kDemoCase << "\n"
       << "output rounded to 4 decimals, shape (" << c.batch << ", " << c.context << ", "
       << c.attention_dim << "):\n  "
       << mhsa::cli::FormatOutput(out, c.batch, c.context, c.attention_dim)
       << "served by SIMD target: " << mhsa::ActiveTarget() << "\n";
  mhsa::cli::WriteStandardOutput(text.str());
  return 0;
}

// `mhsa run` in this process alone.
int Run(int argc, char** argv) {
  mhsa::cli::Options options = mhsa::cli::ParseOptions(argc, argv);
  if (options.has_parallel) {
    throw CaseError(
        "expected a build of mhsa with MPI for --parallel, got one without (CMake found no MPI "
        "when it was built)");
  }
  // Where the result goes is checked before any work: a FIFO, device or
  // directory is refused now, not after the computation.
  if (options.has_output) options.output = mhsa::cli::ResolveOutput(options.output);
  const mhsa::cli::Budget budget = mhsa::cli::MeasureBudget();
  mhsa::cli::RunSize run;
  run.threads = budget.threads;
  const mhsa::cli::Case c = mhsa::cli::ReadInputCase(options, budget, &run);
  const std::vector<float> out = mhsa::cli::Compute(c, options.decimals, budget, run);
  mhsa::cli::WriteResult(options,
                         mhsa::cli::FormatOutput(out, c.batch, c.context, c.attention_dim));
  return 0;
}

// The attention maps of a case, as a PNG of heatmaps (show.h).
int Show(int argc, char** argv) {
#ifndef MHSA_WITH_CAIRO
  (void)argc;
  (void)argv;
  throw CaseError("this mhsa was built without cairo, so `show` cannot draw");
#else
  mhsa::cli::Options options = mhsa::cli::ParseOptions(argc, argv);
  if (!options.has_output) {
    throw CaseError(std::string("expected --output; ") + mhsa::cli::kUsage);
  }
  if (options.has_decimals)
    throw CaseError("expected no --decimals for show; it draws, not prints");
  if (options.has_parallel)
    throw CaseError("expected no --parallel for show; it runs in one process");
  options.output = mhsa::cli::ResolveOutput(options.output);
  const mhsa::cli::Budget budget = mhsa::cli::MeasureBudget();
  mhsa::cli::RunSize run;
  const mhsa::cli::Case c = mhsa::cli::ReadInputCase(options, budget, &run);
  const std::vector<float> maps = mhsa::cli::AttentionMaps(c);
  const std::string png = mhsa::cli::DrawHeatmaps(maps, c.batch, c.num_heads, c.context);
  mhsa::cli::ReleaseDrawingCaches();
  mhsa::cli::WriteOutput(options.output, png);
  return 0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using mhsa::cli::kRefused;
  using mhsa::cli::kUsage;
  using mhsa::cli::kWriteFailed;
  using mhsa::cli::Report;
#ifdef MHSA_WITH_MPI
  // Started before anything can fail, so that under mpirun only rank 0
  // reports and every rank exits with the same code.
  if (argc > 1 && std::string(argv[1]) == "run" && mhsa::cli::MentionsParallel(argc, argv)) {
    return mhsa::cli::RunParallel(argc, argv);
  }
#endif
  try {
    // The library serves an MHSA_TARGET it cannot honour with its best
    // target (it never prints or throws at first use); the command refuses
    // the value instead of silently running another.
    if (const std::string problem = mhsa::TargetEnvironmentError(); !problem.empty()) {
      throw CaseError(problem);
    }
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "demo" && argc == 2) return Demo();
    if (command == "run") return Run(argc, argv);
    if (command == "show") return Show(argc, argv);
    if (command == "--help" || command == "-h") {
      mhsa::cli::WriteStandardOutput(std::string(kUsage) + "\n");
      return 0;
    }
    Report(kUsage);
  } catch (const mhsa::cli::WriteError& e) {
    Report(e.what());
    return kWriteFailed;
  } catch (const std::bad_alloc&) {
    Report("out of memory for this case");
  } catch (const std::exception& e) {
    Report(e.what());
  }
  return kRefused;
}
