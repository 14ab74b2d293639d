// The steps of `mhsa run`, shared by the single-process run (main.cc) and
// the run across MPI ranks (parallel.cc): the command line, the memory
// budget, reading the case, computing, writing the result, reporting.
#ifndef MHSA_SRC_CLI_COMMAND_H_
#define MHSA_SRC_CLI_COMMAND_H_

#include <cstdint>
#include <string>
#include <vector>

#include "case_io.h"
#include "memory.h"

namespace mhsa {
namespace cli {

inline constexpr int kWriteFailed = 1;
inline constexpr int kRefused = 2;
inline constexpr const char* kUsage =
    "usage: mhsa demo | mhsa run --input case.json [--output out.json] "
    "[--decimals N] [--parallel heads|sequence] | mhsa show --input case.json --output maps.png";

struct Options {
  std::string input, output, parallel;
  bool has_input = false, has_output = false, has_decimals = false, has_parallel = false;
  int decimals = 4;
};

// The options after `run` or `show` (argv[2] on); throws CaseError.
Options ParseOptions(int argc, char** argv);

// Whether any argument from argv[2] on is `--parallel`: a run that must
// start MPI before anything can be reported, so that only rank 0 speaks.
bool MentionsParallel(int argc, char** argv);

// The memory this run may use, measured once at the start.
struct Budget {
  uint64_t threads = 1;
  uint64_t available = 0;
  std::string limit;  // Which limit `available` is, for messages.
};
Budget MeasureBudget();

// Parses the case, refusing before parsing a text whose parse cannot fit.
// The parser's tree is freed on return; pass the text as a temporary, so
// that it is freed too before the layer is built.
Case ReadCase(const std::string& text, const Budget& budget, RunSize* run);

// Reads and parses --input within the budget (and sets run->threads).
Case ReadInputCase(const Options& options, const Budget& budget, RunSize* run);

// Throws CaseError when computing `c` does not fit the budget; the same
// rule for a run on one process and across ranks.
void CheckComputeFits(const Case& c, const Budget& budget, RunSize run);

// Forward and rounding in this process, after checking that it fits.
std::vector<float> Compute(const Case& c, int decimals, const Budget& budget, RunSize run);

// The output text to --output or standard output; throws WriteError.
void WriteResult(const Options& options, const std::string& text);

// One line on stderr, starting "mhsa: "; newlines in it become spaces.
void Report(std::string message);

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_COMMAND_H_
