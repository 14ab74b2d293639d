// libFuzzer harness for the command's JSON case parser, mhsa::cli::ParseCase.
//
// Contract under test (src/cli/case_io.h): any text either parses into a
// Case or throws a CaseError whose message is one short line of printable
// text, whatever the input holds (it quotes only bounded excerpts). Any
// other exception escapes this function, and
// libFuzzer reports it as a crash; ASan and UBSan report memory errors and
// undefined behaviour; libFuzzer's -rss_limit_mb and -malloc_limit_mb
// report an input that makes the parser allocate far beyond its size.
//
// For a parsed case it also checks what the command relies on: positive
// sizes, exactly batch x context x embedding_dim finite floats, and that
// FormatOutput writes each of them as a decimal that reads back as the
// same float (the command's output promise).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "case_io.h"

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_case_parser: %s\n", what);
  std::abort();
}

// The longest message ParseCase writes is a parse error: a fixed prefix and
// at most 160 characters of the parser's own message.
constexpr size_t kMaxMessageBytes = 256;

void CheckMessage(const char* message) {
  const size_t length = std::strlen(message);
  if (length == 0 || length > kMaxMessageBytes) Fail("a CaseError message is empty or too long");
  for (size_t i = 0; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(message[i]);
    if (byte < 0x20 || byte >= 0x7f) Fail("a CaseError message holds a byte that is not printable");
  }
}

void CheckCase(const mhsa::cli::Case& c) {
  if (c.embedding_dim <= 0 || c.attention_dim <= 0 || c.num_heads <= 0 || c.batch <= 0 ||
      c.context <= 0) {
    Fail("a parsed case has a non-positive size");
  }
  const size_t count = static_cast<size_t>(c.batch) * static_cast<size_t>(c.context) *
                       static_cast<size_t>(c.embedding_dim);
  if (c.embedded.size() != count) Fail("embedded does not hold batch x context x embedding_dim");
  for (float v : c.embedded) {
    if (!std::isfinite(v)) Fail("a parsed value is not a finite float");
  }
  // The parsed values written as an output of width embedding_dim, within
  // the bound the memory guard counts for it.
  const std::string text = mhsa::cli::FormatOutput(c.embedded, c.batch, c.context, c.embedding_dim);
  if (text.size() > mhsa::cli::OutputTextBytes(static_cast<uint64_t>(c.batch),
                                               static_cast<uint64_t>(c.context),
                                               static_cast<uint64_t>(c.embedding_dim))) {
    Fail("FormatOutput wrote more than OutputTextBytes");
  }
  const auto doc = nlohmann::json::parse(text);
  size_t i = 0;
  for (const auto& rows : doc.at("output")) {
    for (const auto& row : rows) {
      for (const auto& value : row) {
        if (i >= count) Fail("FormatOutput wrote too many values");
        const float back = value.get<float>();
        if (std::memcmp(&back, &c.embedded[i], sizeof back) != 0) {
          Fail("FormatOutput wrote a decimal that reads back as another float");
        }
        ++i;
      }
    }
  }
  if (i != count) Fail("FormatOutput wrote too few values");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  uint64_t parse_bytes = 0;
  try {
    parse_bytes = mhsa::cli::ParseBytes(text);
  } catch (const mhsa::cli::CaseError& e) {
    CheckMessage(e.what());  // Nesting too deep: ParseCase refuses it too.
  }
  mhsa::cli::Case c;
  try {
    c = mhsa::cli::ParseCase(text);
  } catch (const mhsa::cli::CaseError& e) {
    CheckMessage(e.what());
    return 0;  // The one acceptable failure.
  }
  // The memory guard's count covers at least each number's JSON value (48
  // bytes) and float (4 bytes).
  if (parse_bytes < 52 * c.embedded.size()) Fail("ParseBytes counts less than the case's numbers");
  CheckCase(c);
  return 0;
}
