#include "case_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

#include "saturating.h"

namespace mhsa {
namespace cli {
namespace {

using nlohmann::json;

// 2^128 - 2^103, the midpoint between FLT_MAX (2^128 - 2^104) and 2^128, the
// first power of two beyond float's range: the smallest magnitude that
// rounds to float infinity. Exactly representable as a double.
constexpr double kFloatOverflowThreshold = 0x1.ffffffp+127;
static_assert(kFloatOverflowThreshold ==
                  static_cast<double>(std::numeric_limits<float>::max()) + 0x1p+103,
              "FLT_MAX plus half of float's last ulp (2^104)");

// Appends `text` to `out` with printable ASCII as it is and other bytes as
// \xNN (so is `quote`, and the backslash, when quoting), stopping before
// the appended part would exceed `max_chars`. Returns whether all of `text`
// fit.
bool AppendEscaped(std::string_view text, size_t max_chars, char quote, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t used = 0;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = byte >= 0x20 && byte < 0x7f && (quote == '\0' || (c != quote && c != '\\'));
    used += plain ? 1 : 4;
    if (used > max_chars) return false;
    if (plain) {
      *out += c;
    } else {
      *out += {'\\', 'x', kHex[byte >> 4], kHex[byte & 15]};
    }
  }
  return true;
}

// The value as a message may show it, in bounded space whatever it holds:
// numbers, booleans and null as written, a string as a short excerpt, an
// array or object by its size. Never dump() an array or object: the text may
// be megabytes, and dump() recurses once per level of nesting.
std::string Describe(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return "a string " + Excerpt(value.get_ref<const json::string_t&>());
    case json::value_t::array:
      return "an array of " + std::to_string(value.size()) + " elements";
    case json::value_t::object:
      return "an object of " + std::to_string(value.size()) + " fields";
    default:
      return value.dump();  // A number, boolean or null: at most ~25 characters.
  }
}

int ReadSize(const json& doc, const char* field) {
  if (!doc.contains(field)) {
    throw CaseError(std::string("expected a field \"") + field + "\", found none");
  }
  const json& value = doc[field];
  constexpr int kMax = std::numeric_limits<int>::max();
  const std::string expected = std::string("expected \"") + field + "\" to be an integer in [1, " +
                               std::to_string(kMax) + "], found ";
  // nlohmann keeps integers up to 2^64 - 1 as unsigned and negative ones as
  // signed: read each as what it is, so that 2^64 - 1 is not reported as -1
  // nor 2^63 as negative. Larger integers arrive as doubles (1e+20).
  if (value.is_number_unsigned()) {
    const auto n = value.get<uint64_t>();
    if (n < 1 || n > static_cast<uint64_t>(kMax)) throw CaseError(expected + std::to_string(n));
    return static_cast<int>(n);
  }
  if (value.is_number_integer()) {  // Signed, hence negative: the parser stores >= 0 unsigned.
    const auto n = value.get<int64_t>();
    if (n < 1 || n > kMax) throw CaseError(expected + std::to_string(n));
    return static_cast<int>(n);
  }
  throw CaseError(expected + Describe(value));
}

// What the parser will build from a text, counted by a linear scan that
// refuses text nested deeper than kMaxJsonDepth before the parser sees it.
// nlohmann's parser (3.11) builds any depth without recursion and frees it
// without recursion too, but dump(), comparison and copies recurse once per
// level, and a 100,000-deep value overflows the stack in any of them. The
// text need not be valid JSON (the parser reports that); the counts are
// then of what a parser could build before it stops.
struct JsonCounts {
  uint64_t values = 0;      // Containers, strings (keys too) and bare tokens.
  uint64_t containers = 0;  // Arrays and objects.
  uint64_t members = 0;     // Object members (each ':').
  uint64_t strings = 0;
  uint64_t string_bytes = 0;
  uint64_t numbers = 0;        // Bare tokens that start like a number.
  uint64_t longest_token = 0;  // A string or bare token, in bytes.
};

JsonCounts ScanJson(std::string_view text) {
  JsonCounts counts;
  int depth = 0;
  bool in_string = false, escaped = false;
  uint64_t token = 0;  // Length of the string or bare token being read.
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      ++token;
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        counts.string_bytes += token;
        counts.longest_token = std::max(counts.longest_token, token);
        token = 0;
      }
      continue;
    }
    const bool bare = c != '"' && c != '[' && c != ']' && c != '{' && c != '}' && c != ',' &&
                      c != ':' && c != ' ' && c != '\t' && c != '\n' && c != '\r';
    if (bare) {
      if (token++ == 0) {
        ++counts.values;
        if (c == '-' || (c >= '0' && c <= '9')) ++counts.numbers;
      }
      counts.longest_token = std::max(counts.longest_token, token);
      continue;
    }
    token = 0;
    if (c == '"') {
      in_string = true;
      ++counts.values;
      ++counts.strings;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw CaseError("expected JSON nested at most " + std::to_string(kMaxJsonDepth) +
                        " levels deep (a case needs 4), found deeper nesting at byte " +
                        std::to_string(i));
      }
      ++counts.values;
      ++counts.containers;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ':') {
      ++counts.members;
    }
  }
  if (in_string) counts.string_bytes += token;  // Unterminated: read to the end.
  return counts;
}

// The array at `where`, which must be non-empty.
const json& ReadArray(const json& value, const std::string& where) {
  if (!value.is_array()) {
    throw CaseError("expected " + where + " to be an array, found " + Describe(value));
  }
  if (value.empty()) {
    throw CaseError("expected " + where + " to be a non-empty array, found []");
  }
  return value;
}

// v as the shortest decimal that reads back as the same float, laid out as
// nlohmann writes a double (the command's format since its first version,
// when it wrote each float through a double): with digits d1..dk and v =
// 0.d1..dk x 10^n, fixed notation for 1e-4 <= |v| < 1e15 (an integer gets
// ".0", so that JSON readers keep it a float and -0.0 keeps its sign), else
// d1.d2..dk e+XX with at least two exponent digits. NaN and infinities are
// null: JSON has no such numbers. At most kMaxValueBytes characters.
void AppendFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  if (std::signbit(v)) *out += '-';
  if (v == 0.0f) {
    *out += "0.0";
    return;
  }
  // Shortest round-trip digits in scientific form: d[.ddd]e[+-]XX.
  char buffer[32];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, std::fabs(v), std::chars_format::scientific);
  const std::string_view scientific(buffer, static_cast<size_t>(result.ptr - buffer));
  const size_t e = scientific.find('e');
  std::string digits(scientific.substr(0, e));
  if (digits.size() > 1) digits.erase(1, 1);  // The decimal point.
  int exponent = 0;
  std::from_chars(scientific.data() + e + (scientific[e + 1] == '+' ? 2 : 1),
                  scientific.data() + scientific.size(), exponent);
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // v = 0.digits x 10^n
  if (k <= n && n <= 15) {
    *out += digits;
    out->append(static_cast<size_t>(n - k), '0');
    *out += ".0";
  } else if (0 < n && n <= 15) {
    out->append(digits, 0, static_cast<size_t>(n));
    *out += '.';
    out->append(digits, static_cast<size_t>(n), std::string::npos);
  } else if (-4 < n && n <= 0) {
    *out += "0.";
    out->append(static_cast<size_t>(-n), '0');
    *out += digits;
  } else {
    *out += digits[0];
    if (k > 1) {
      *out += '.';
      out->append(digits, 1, std::string::npos);
    }
    const int magnitude = std::abs(exponent);
    *out += exponent < 0 ? "e-" : "e+";
    if (magnitude < 10) *out += '0';
    *out += std::to_string(magnitude);
  }
}

std::string Index(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

}  // namespace

std::string Excerpt(std::string_view text, size_t max_chars) {
  std::string quoted = "'";
  const bool whole = AppendEscaped(text, max_chars, '\'', &quoted);
  quoted += '\'';
  if (!whole) quoted += "... (" + std::to_string(text.size()) + " bytes)";
  return quoted;
}

uint64_t ParseBytes(std::string_view text) {
  const JsonCounts n = ScanJson(text);
  // Counted per item, for nlohmann 3.11's DOM parser with glibc's malloc
  // (16-byte chunk headers), at the worst moment of the parse:
  //   every value     48: a basic_json (16 bytes) in its parent's vector,
  //                   which may have twice the capacity, plus the old buffer
  //                   while the vector grows
  //   a container     64: the heap vector or map object and its header
  //   a member        96: a map node with its key string and value
  //   a string        80 and its bytes: the heap std::string and buffer
  //   a number         4: the case's float
  //   the longest token, twice: the lexer's buffer grows by doubling.
  // Measured (peak RSS over a parse of 5 million copies of one item) against
  // counted, bytes per item: "0," 27 / 52, "[]," 56 / 112, "\"\"," 67 / 128,
  // "{}," 83 / 112, "[0]," 78 / 164, "\"123\":0," 95 / 279.
  uint64_t bytes = SatMul(48, n.values);
  bytes = SatAdd(bytes, SatMul(64, n.containers));
  bytes = SatAdd(bytes, SatMul(96, n.members));
  bytes = SatAdd(bytes, SatAdd(SatMul(80, n.strings), n.string_bytes));
  bytes = SatAdd(bytes, SatMul(4, n.numbers));
  return SatAdd(bytes, SatMul(2, n.longest_token));
}

Case ParseCase(const std::string& text) {
  ScanJson(text);  // Refuses deep nesting before the parser sees it.
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    // Syntax errors, and numbers beyond double (out_of_range 406). The
    // message names the position first, then quotes the offending token,
    // which can be as long as the text: the first 160 characters keep the
    // position and the reason.
    std::string message = "expected a JSON case, ";
    if (!AppendEscaped(e.what(), 160, '\0', &message)) message += "...";
    throw CaseError(message);
  }
  if (!doc.is_object()) {
    throw CaseError("expected a JSON object, found " + Describe(doc));
  }
  Case c;
  c.embedding_dim = ReadSize(doc, "embedding_dim");
  c.attention_dim = ReadSize(doc, "attention_dim");
  c.num_heads = ReadSize(doc, "num_heads");
  if (!doc.contains("embedded")) {
    throw CaseError("expected a field \"embedded\", found none");
  }
  const json& batches = ReadArray(doc["embedded"], "embedded");
  const size_t context = ReadArray(batches[0], "embedded[0]").size();
  if (batches.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      context > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw CaseError("expected batch and context to fit in int");
  }
  const size_t e = static_cast<size_t>(c.embedding_dim);
  // Shape is checked row by row below; until then the sizes are only claims,
  // so reserve no more than the text can hold (a number takes >= 2 bytes
  // with its separator).
  c.embedded.reserve(std::min(batches.size() * context * e, text.size() / 2));
  for (size_t b = 0; b < batches.size(); ++b) {
    const std::string b_name = Index("embedded", b);
    const json& rows = ReadArray(batches[b], b_name);
    if (rows.size() != context) {
      throw CaseError("expected " + b_name + " to hold " + std::to_string(context) +
                      " rows like embedded[0], found " + std::to_string(rows.size()));
    }
    for (size_t t = 0; t < context; ++t) {
      const std::string t_name = Index(b_name, t);
      const json& row = ReadArray(rows[t], t_name);
      if (row.size() != e) {
        throw CaseError("expected " + t_name + " to hold embedding_dim = " + std::to_string(e) +
                        " numbers, found " + std::to_string(row.size()));
      }
      for (size_t i = 0; i < e; ++i) {
        const json& value = row[i];
        if (!value.is_number()) {
          throw CaseError("expected " + Index(t_name, i) + " to be a number, found " +
                          Describe(value));
        }
        // The decimal is read as the nearest double, then rounded to float
        // (as Python's json and torch.tensor read a case). Every double
        // below the midpoint between FLT_MAX and 2^128 rounds to a finite
        // float, FLT_MAX's own decimal 3.4028235e+38 among them; from the
        // midpoint on, round-to-nearest-even gives infinity.
        const double v = value.get<double>();
        if (!(std::fabs(v) < kFloatOverflowThreshold)) {
          throw CaseError("expected " + Index(t_name, i) +
                          " to round to a finite float32 (magnitude below 2^128 - 2^103 = "
                          "3.4028235677973366e+38), "
                          "found " +
                          Describe(value));
        }
        c.embedded.push_back(static_cast<float>(v));
      }
    }
  }
  c.batch = static_cast<int>(batches.size());
  c.context = static_cast<int>(context);
  return c;
}

uint64_t OutputTextBytes(uint64_t batch, uint64_t context, uint64_t attention_dim) {
  // {"output":[ ... ]} and a newline; per batch and per row "[", "]" and a
  // comma; per value its digits and a comma.
  const uint64_t rows = SatMul(batch, context);
  const uint64_t values = SatMul(rows, attention_dim);
  return SatAdd(SatAdd(13, SatMul(3, SatAdd(batch, rows))), SatMul(kMaxValueBytes + 1, values));
}

std::string FormatOutput(const std::vector<float>& out, int batch, int context, int attention_dim) {
  std::string text;
  text.reserve(static_cast<size_t>(OutputTextBytes(static_cast<uint64_t>(batch),
                                                   static_cast<uint64_t>(context),
                                                   static_cast<uint64_t>(attention_dim))));
  text += "{\"output\":[";
  size_t i = 0;
  for (int b = 0; b < batch; ++b) {
    text += b ? ",[" : "[";
    for (int t = 0; t < context; ++t) {
      text += t ? ",[" : "[";
      for (int a = 0; a < attention_dim; ++a, ++i) {
        if (a) text += ',';
        AppendFloat(out[i], &text);
      }
      text += ']';
    }
    text += ']';
  }
  text += "]}\n";
  return text;
}

}  // namespace cli
}  // namespace mhsa
