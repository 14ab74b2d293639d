// Reading and writing the JSON cases of the `mhsa` command. Every failure is a
// CaseError whose what() is one line saying what was expected and what was
// found, so the command can print it and exit 2.
#ifndef MHSA_SRC_CLI_CASE_IO_H_
#define MHSA_SRC_CLI_CASE_IO_H_

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mhsa {
namespace cli {

struct CaseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Case {
  int embedding_dim = 0;
  int attention_dim = 0;
  int num_heads = 0;
  int batch = 0;
  int context = 0;
  std::vector<float> embedded;  // [batch][context][embedding_dim]
};

// JSON nested deeper than this is refused before it is parsed. A case needs
// 4 levels (the object, batches, rows, a row).
inline constexpr int kMaxJsonDepth = 64;

// Parses a case with the fields embedding_dim, attention_dim, num_heads and
// embedded (a [batch][context][embedding_dim] array of numbers). Checks the
// shape but not the layer's own rules (num_heads dividing attention_dim):
// the library's constructor owns those. A message quotes at most a short
// excerpt of the text (see Excerpt), whatever the text holds.
Case ParseCase(const std::string& text);

// Bytes that ParseCase(text) allocates at most besides the text: the JSON
// tree of the whole text and the case's floats, counted in one linear scan
// (saturating at 2^64 - 1), so that a text whose parse cannot fit is refused
// before it is parsed. Throws CaseError, as ParseCase does, for text nested
// deeper than kMaxJsonDepth.
uint64_t ParseBytes(std::string_view text);

// `text` quoted for a one-line message: at most `max_chars` characters
// between the quotes, with bytes outside printable ASCII (and the quote and
// backslash) written as \xNN, and, when cut, the text's length:
// 'abc'... (20000000 bytes).
std::string Excerpt(std::string_view text, size_t max_chars = 40);

// {"output": [[[...]]]} and a newline, for out: [batch][context][attention_dim];
// each value written as the shortest decimal that reads back as the same
// float, in nlohmann's layout for doubles (0.0001, 100000.0, 1e-05, -0.0),
// NaN and infinities as null.
std::string FormatOutput(const std::vector<float>& out, int batch, int context, int attention_dim);

// The most bytes FormatOutput writes for these sizes (saturating at
// 2^64 - 1): kMaxValueBytes and a comma per value, brackets and commas per
// row and batch.
inline constexpr uint64_t kMaxValueBytes = 18;  // e.g. -999999990000000.0
uint64_t OutputTextBytes(uint64_t batch, uint64_t context, uint64_t attention_dim);

}  // namespace cli
}  // namespace mhsa

#endif  // MHSA_SRC_CLI_CASE_IO_H_
