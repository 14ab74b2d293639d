#include "command.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>

#include "files.h"
#include "mhsa/mhsa.h"

namespace mhsa {
namespace cli {
namespace {

// An optionally signed run of decimal digits, of any length; else refused.
int ParseDecimals(const std::string& text) {
  const size_t digits = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  const bool integer =
      text.size() > digits && text.find_first_not_of("0123456789", digits) == std::string::npos;
  if (!integer) {
    throw CaseError("expected --decimals to be an integer, got " + Excerpt(text));
  }
  // Compared by value without converting: 99999999999 is out of range, not
  // "not an integer", however many digits it has.
  const size_t first = text.find_first_not_of('0', digits);
  const std::string magnitude = first == std::string::npos ? "0" : text.substr(first);
  if (magnitude.size() > 2 || std::stoi(magnitude) > 38) {
    throw CaseError("expected --decimals in [-38, 38], got " + Excerpt(text));
  }
  const int value = std::stoi(magnitude);
  return text[0] == '-' ? -value : value;
}

}  // namespace

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    bool* seen = arg == "--input"      ? &options.has_input
                 : arg == "--output"   ? &options.has_output
                 : arg == "--decimals" ? &options.has_decimals
                 : arg == "--parallel" ? &options.has_parallel
                                       : nullptr;
    if (seen == nullptr) {
      throw CaseError("unknown option " + Excerpt(arg) + "; " + kUsage);
    }
    if (*seen) throw CaseError("expected " + arg + " once, got it twice");
    *seen = true;
    if (i + 1 >= argc) throw CaseError("expected a value after " + arg);
    const std::string value = argv[++i];
    if (arg == "--input") {
      options.input = value;
    } else if (arg == "--output") {
      options.output = value;
    } else if (arg == "--parallel") {
      if (value != "heads" && value != "sequence") {
        throw CaseError("expected --parallel heads or --parallel sequence, got " + Excerpt(value));
      }
      options.parallel = value;
    } else {
      options.decimals = ParseDecimals(value);
    }
  }
  if (!options.has_input) throw CaseError(std::string("expected --input; ") + kUsage);
  return options;
}

bool MentionsParallel(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--parallel") return true;
  }
  return false;
}

Budget MeasureBudget() {
  Budget budget;
  budget.threads = static_cast<uint64_t>(std::max(omp_get_max_threads(), 1));
  budget.available = AvailableBytes(budget.threads, &budget.limit);
  return budget;
}

Case ReadCase(const std::string& text, const Budget& budget, RunSize* run) {
  run->input_bytes = text.size();
  run->parse_bytes = ParseBytes(text);
  CheckFits(*run, budget.available, budget.limit);
  return ParseCase(text);
}

Case ReadInputCase(const Options& options, const Budget& budget, RunSize* run) {
  run->threads = budget.threads;
  // The text is a temporary: freed once parsed, before the layer is built.
  return ReadCase(ReadInput(options.input, MaxInputBytes(budget.available),
                            "1 GiB at most, and a quarter of the " + budget.limit),
                  budget, run);
}

void CheckComputeFits(const Case& c, const Budget& budget, RunSize run) {
  run.batch = static_cast<uint64_t>(c.batch);
  run.context = static_cast<uint64_t>(c.context);
  run.embedding_dim = static_cast<uint64_t>(c.embedding_dim);
  run.attention_dim = static_cast<uint64_t>(c.attention_dim);
  run.num_heads = static_cast<uint64_t>(c.num_heads);
  CheckFits(run, budget.available, budget.limit);
}

std::vector<float> Compute(const Case& c, int decimals, const Budget& budget, RunSize run) {
  CheckComputeFits(c, budget, run);
  MultiHeadedSelfAttention layer(c.embedding_dim, c.attention_dim, c.num_heads);
  std::vector<float> out(static_cast<size_t>(c.batch) * static_cast<size_t>(c.context) *
                         static_cast<size_t>(c.attention_dim));
  layer.Forward(c.embedded.data(), c.batch, c.context, out.data());
  RoundToDecimals(out.data(), out.size(), decimals);
  return out;
}

void WriteResult(const Options& options, const std::string& text) {
  if (options.has_output) {
    WriteOutput(options.output, text);
  } else {
    WriteStandardOutput(text);
  }
}

void Report(std::string message) {
  for (char& ch : message) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  if (message.rfind("mhsa: ", 0) != 0) message = "mhsa: " + message;
  message += '\n';
  // Nothing is left to do if stderr fails too.
  if (std::fwrite(message.data(), 1, message.size(), stderr) != message.size()) return;
}

}  // namespace cli
}  // namespace mhsa
