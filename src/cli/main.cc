// The `mhsa` command.
//   mhsa demo                      the problem's small example
//   mhsa run --input case.json [--output out.json] [--decimals N]
//   mhsa show --input case.json --output maps.png
// Refused input or command line (including a case too big for this
// machine's memory): one line on stderr, exit code 2, no output file.
// A result that cannot be written: one line on stderr, exit code 1.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "case_io.h"
#include "files.h"
#include "memory.h"
#include "mhsa/mhsa.h"
#include "show.h"

namespace {

using mhsa::cli::CaseError;

constexpr int kWriteFailed = 1;
constexpr int kRefused = 2;
constexpr const char* kUsage =
    "usage: mhsa demo | mhsa run --input case.json [--output out.json] "
    "[--decimals N] | mhsa show --input case.json --output maps.png";

// The problem's own small example (the first golden case).
constexpr const char* kDemoCase = R"({
  "embedding_dim": 2, "attention_dim": 4, "num_heads": 2,
  "embedded": [[[0.9089, 5.2716], [1.1371, -0.3625]]]
})";

struct Options {
  std::string input, output;
  bool has_input = false, has_output = false, has_decimals = false;
  int decimals = 4;
};

// The memory this run may use, measured once at the start.
struct Budget {
  uint64_t threads = 1;
  uint64_t available = 0;
  std::string limit;  // Which limit `available` is, for messages.
};

Budget MeasureBudget() {
  Budget budget;
  budget.threads = static_cast<uint64_t>(std::max(omp_get_max_threads(), 1));
  budget.available = mhsa::cli::AvailableBytes(budget.threads, &budget.limit);
  return budget;
}

// Parses the case, refusing before parsing a text whose parse cannot fit.
// The parser's tree is freed on return; the caller passes the text as a
// temporary, so that it is freed too before the layer is built.
mhsa::cli::Case ReadCase(const std::string& text, const Budget& budget, mhsa::cli::RunSize* run) {
  run->input_bytes = text.size();
  run->parse_bytes = mhsa::cli::ParseBytes(text);
  mhsa::cli::CheckFits(*run, budget.available, budget.limit);
  return mhsa::cli::ParseCase(text);
}

// Forward and rounding, after checking that the whole run fits.
std::vector<float> Compute(const mhsa::cli::Case& c, int decimals, const Budget& budget,
                           mhsa::cli::RunSize run) {
  run.batch = static_cast<uint64_t>(c.batch);
  run.context = static_cast<uint64_t>(c.context);
  run.embedding_dim = static_cast<uint64_t>(c.embedding_dim);
  run.attention_dim = static_cast<uint64_t>(c.attention_dim);
  run.num_heads = static_cast<uint64_t>(c.num_heads);
  mhsa::cli::CheckFits(run, budget.available, budget.limit);
  mhsa::MultiHeadedSelfAttention layer(c.embedding_dim, c.attention_dim, c.num_heads);
  std::vector<float> out(static_cast<size_t>(c.batch) * static_cast<size_t>(c.context) *
                         static_cast<size_t>(c.attention_dim));
  layer.Forward(c.embedded.data(), c.batch, c.context, out.data());
  mhsa::RoundToDecimals(out.data(), out.size(), decimals);
  return out;
}

int Demo() {
  const Budget budget = MeasureBudget();
  mhsa::cli::RunSize run;
  run.threads = budget.threads;
  const mhsa::cli::Case c = ReadCase(kDemoCase, budget, &run);
  const std::vector<float> out = Compute(c, 4, budget, run);
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

// An optionally signed run of decimal digits, of any length; else refused.
int ParseDecimals(const std::string& text) {
  const size_t digits = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  const bool integer =
      text.size() > digits && text.find_first_not_of("0123456789", digits) == std::string::npos;
  if (!integer) {
    throw CaseError("expected --decimals to be an integer, got " + mhsa::cli::Excerpt(text));
  }
  // Compared by value without converting: 99999999999 is out of range, not
  // "not an integer", however many digits it has.
  const size_t first = text.find_first_not_of('0', digits);
  const std::string magnitude = first == std::string::npos ? "0" : text.substr(first);
  if (magnitude.size() > 2 || std::stoi(magnitude) > 38) {
    throw CaseError("expected --decimals in [-38, 38], got " + mhsa::cli::Excerpt(text));
  }
  const int value = std::stoi(magnitude);
  return text[0] == '-' ? -value : value;
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    bool* seen = arg == "--input"      ? &options.has_input
                 : arg == "--output"   ? &options.has_output
                 : arg == "--decimals" ? &options.has_decimals
                                       : nullptr;
    if (seen == nullptr) {
      throw CaseError("unknown option " + mhsa::cli::Excerpt(arg) + "; " + kUsage);
    }
    if (*seen) throw CaseError("expected " + arg + " once, got it twice");
    *seen = true;
    if (i + 1 >= argc) throw CaseError("expected a value after " + arg);
    const std::string value = argv[++i];
    if (arg == "--input") {
      options.input = value;
    } else if (arg == "--output") {
      options.output = value;
    } else {
      options.decimals = ParseDecimals(value);
    }
  }
  if (!options.has_input) throw CaseError(std::string("expected --input; ") + kUsage);
  return options;
}

// The case at --input, read within the budget. The text is a temporary:
// freed once parsed, before the layer is built.
mhsa::cli::Case ReadInputCase(const Options& options, const Budget& budget,
                              mhsa::cli::RunSize* run) {
  run->threads = budget.threads;
  return ReadCase(mhsa::cli::ReadInput(options.input, mhsa::cli::MaxInputBytes(budget.available),
                                       "1 GiB at most, and a quarter of the " + budget.limit),
                  budget, run);
}

int Run(int argc, char** argv) {
  Options options = ParseOptions(argc, argv);
  // Where the result goes is checked before any work: a FIFO, device or
  // directory is refused now, not after the computation.
  if (options.has_output) options.output = mhsa::cli::ResolveOutput(options.output);
  const Budget budget = MeasureBudget();
  mhsa::cli::RunSize run;
  const mhsa::cli::Case c = ReadInputCase(options, budget, &run);
  const std::vector<float> out = Compute(c, options.decimals, budget, run);
  const std::string text = mhsa::cli::FormatOutput(out, c.batch, c.context, c.attention_dim);
  if (options.has_output) {
    mhsa::cli::WriteOutput(options.output, text);
  } else {
    mhsa::cli::WriteStandardOutput(text);
  }
  return 0;
}

// The attention maps of a case, as a PNG of heatmaps (show.h).
int Show(int argc, char** argv) {
  Options options = ParseOptions(argc, argv);
  if (!options.has_output) throw CaseError(std::string("expected --output; ") + kUsage);
  if (options.has_decimals)
    throw CaseError("expected no --decimals for show; it draws, not prints");
  options.output = mhsa::cli::ResolveOutput(options.output);
  const Budget budget = MeasureBudget();
  mhsa::cli::RunSize run;
  const mhsa::cli::Case c = ReadInputCase(options, budget, &run);
  const std::vector<float> maps = mhsa::cli::AttentionMaps(c);
  const std::string png = mhsa::cli::DrawHeatmaps(maps, c.batch, c.num_heads, c.context);
  mhsa::cli::ReleaseDrawingCaches();
  mhsa::cli::WriteOutput(options.output, png);
  return 0;
}

// One line on stderr; the library's messages already start with "mhsa: ".
void Report(std::string message) {
  for (char& ch : message) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  if (message.rfind("mhsa: ", 0) != 0) message = "mhsa: " + message;
  message += '\n';
  // Nothing is left to do if stderr fails too.
  if (std::fwrite(message.data(), 1, message.size(), stderr) != message.size()) return;
}

}  // namespace

int main(int argc, char** argv) {
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
