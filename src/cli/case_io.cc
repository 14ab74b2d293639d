#include "case_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

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

// Refuses text nested deeper than kMaxJsonDepth, before the parser sees it.
// nlohmann's parser (3.11) builds any depth without recursion and frees it
// without recursion too, but dump(), comparison and copies recurse once per
// level, and a 100,000-deep value overflows the stack in any of them. A
// bracket inside a string does not count; the text need not be valid JSON
// (the parser reports that).
void CheckDepth(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw CaseError("expected JSON nested at most " + std::to_string(kMaxJsonDepth) +
                        " levels deep (a case needs 4), found deeper nesting at byte " +
                        std::to_string(i));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
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

Case ParseCase(const std::string& text) {
  CheckDepth(text);
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

std::string FormatOutput(const std::vector<float>& out, int batch, int context, int attention_dim) {
  json batches = json::array();
  size_t i = 0;
  for (int b = 0; b < batch; ++b) {
    json rows = json::array();
    for (int t = 0; t < context; ++t) {
      json row = json::array();
      for (int a = 0; a < attention_dim; ++a, ++i) {
        const float v = out[i];
        if (!std::isfinite(v)) {
          row.push_back(nullptr);  // JSON has no NaN or Inf.
          continue;
        }
        // Shortest decimal that reads back as this float, stored as the
        // double with that decimal so that the JSON shows e.g. 0.9293.
        char buffer[32];
        const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
        row.push_back(std::strtod(std::string(buffer, result.ptr).c_str(), nullptr));
      }
      rows.push_back(std::move(row));
    }
    batches.push_back(std::move(rows));
  }
  return json{{"output", std::move(batches)}}.dump() + "\n";
}

}  // namespace cli
}  // namespace mhsa
