// The `mhsa` command.
//   mhsa demo                      the problem's small example
//   mhsa run --input case.json [--output out.json] [--decimals N]
// Bad input: one line on stderr, exit code 2, no output file.
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "case_io.h"
#include "mhsa/mhsa.h"

namespace {

constexpr int kUsageError = 2;
constexpr const char* kUsage =
    "usage: mhsa demo | mhsa run --input case.json [--output out.json] "
    "[--decimals N]";

// The problem's own small example (the first golden case).
constexpr const char* kDemoCase = R"({
  "embedding_dim": 2, "attention_dim": 4, "num_heads": 2,
  "embedded": [[[0.9089, 5.2716], [1.1371, -0.3625]]]
})";

struct Options {
  std::string input, output;
  int decimals = 4;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw mhsa::cli::CaseError("expected a readable file, cannot open " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw mhsa::cli::CaseError("cannot read " + path);
  return text.str();
}

// Writes through a temporary file and a rename, so that a failure never
// leaves a partial output behind.
void WriteFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw mhsa::cli::CaseError("cannot write " + path);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw mhsa::cli::CaseError("cannot write " + path);
  }
}

// Physical memory, to refuse a case whose weights and buffers cannot fit
// rather than be killed by the OOM killer halfway through.
double PhysicalBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return (pages > 0 && page > 0) ? static_cast<double>(pages) * static_cast<double>(page) : 1e300;
}

std::vector<float> Compute(const mhsa::cli::Case& c, int decimals) {
  const double bytes = 4.0 * (3.0 * c.attention_dim * c.embedding_dim +
                              double(c.batch) * c.context * (c.embedding_dim + c.attention_dim));
  if (bytes > PhysicalBytes()) {
    throw mhsa::cli::CaseError("expected a case that fits in memory, this one needs " +
                               std::to_string(bytes / 1e9) + " GB");
  }
  mhsa::MultiHeadedSelfAttention layer(c.embedding_dim, c.attention_dim, c.num_heads);
  std::vector<float> out(static_cast<size_t>(c.batch) * static_cast<size_t>(c.context) *
                         static_cast<size_t>(c.attention_dim));
  layer.Forward(c.embedded.data(), c.batch, c.context, out.data());
  mhsa::RoundToDecimals(out.data(), out.size(), decimals);
  return out;
}

int Demo() {
  const mhsa::cli::Case c = mhsa::cli::ParseCase(kDemoCase);
  const std::vector<float> out = Compute(c, 4);
  std::cout << "mhsa demo: MultiHeadedSelfAttention(embedding_dim=" << c.embedding_dim
            << ", attention_dim=" << c.attention_dim << ", num_heads=" << c.num_heads
            << "), weights as torch.manual_seed(0) makes them\n"
            << "input  (batch=" << c.batch << ", context=" << c.context
            << ", embedding_dim=" << c.embedding_dim << "):\n  " << kDemoCase + 0 << "\n";
  std::cout << "output rounded to 4 decimals, shape (" << c.batch << ", " << c.context << ", "
            << c.attention_dim << "):\n  "
            << mhsa::cli::FormatOutput(out, c.batch, c.context, c.attention_dim)
            << "served by SIMD target: " << mhsa::ActiveTarget() << "\n";
  return 0;
}

int ParseDecimals(const std::string& text) {
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty()) {
    throw mhsa::cli::CaseError("expected --decimals to be an integer, got '" + text + "'");
  }
  if (value < -38 || value > 38) {
    throw mhsa::cli::CaseError("expected --decimals in [-38, 38], got " + text);
  }
  return value;
}

int Run(int argc, char** argv) {
  Options options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) throw mhsa::cli::CaseError("expected a value after " + arg);
    const std::string value = argv[++i];
    if (arg == "--input") {
      options.input = value;
    } else if (arg == "--output") {
      options.output = value;
    } else if (arg == "--decimals") {
      options.decimals = ParseDecimals(value);
    } else {
      throw mhsa::cli::CaseError("unknown option " + arg + "; " + kUsage);
    }
  }
  if (options.input.empty()) throw mhsa::cli::CaseError(std::string("expected --input; ") + kUsage);
  const mhsa::cli::Case c = mhsa::cli::ParseCase(ReadFile(options.input));
  const std::vector<float> out = Compute(c, options.decimals);
  const std::string text = mhsa::cli::FormatOutput(out, c.batch, c.context, c.attention_dim);
  if (options.output.empty()) {
    std::cout << text;
  } else {
    WriteFile(options.output, text);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // The library serves an MHSA_TARGET it cannot honour with its best
    // target (it never prints or throws at first use); the command refuses
    // the value instead of silently running another.
    if (const std::string problem = mhsa::TargetEnvironmentError(); !problem.empty()) {
      throw mhsa::cli::CaseError(problem);
    }
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "demo" && argc == 2) return Demo();
    if (command == "run") return Run(argc, argv);
    if (command == "--help" || command == "-h") {
      std::cout << kUsage << "\n";
      return 0;
    }
    std::cerr << "mhsa: " << kUsage << "\n";
    return kUsageError;
  } catch (const std::bad_alloc&) {
    std::cerr << "mhsa: out of memory for this case\n";
  } catch (const std::exception& e) {
    // One line: the library's messages already start with "mhsa: ".
    std::string message = e.what();
    for (char& ch : message) {
      if (ch == '\n' || ch == '\r') ch = ' ';
    }
    if (message.rfind("mhsa: ", 0) != 0) message = "mhsa: " + message;
    std::cerr << message << "\n";
  }
  return kUsageError;
}
