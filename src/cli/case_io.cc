#include "case_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>

namespace mhsa {
namespace cli {
namespace {

using nlohmann::json;

const char* TypeName(const json& value) { return value.type_name(); }

int ReadSize(const json& doc, const char* field) {
  if (!doc.contains(field)) {
    throw CaseError(std::string("expected a field \"") + field + "\", found none");
  }
  const json& value = doc[field];
  if (!value.is_number_integer()) {
    throw CaseError(std::string("expected \"") + field + "\" to be an integer, found " +
                    value.dump());
  }
  const auto n = value.get<long long>();
  if (n <= 0 || n > std::numeric_limits<int>::max()) {
    throw CaseError(std::string("expected \"") + field + "\" in [1, " +
                    std::to_string(std::numeric_limits<int>::max()) + "], found " +
                    std::to_string(n));
  }
  return static_cast<int>(n);
}

// The array at `where`, which must be non-empty.
const json& ReadArray(const json& value, const std::string& where) {
  if (!value.is_array()) {
    throw CaseError("expected " + where + " to be an array, found " + TypeName(value));
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

Case ParseCase(const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    // Syntax errors, and numbers beyond double (out_of_range 406). The
    // message spans one line and names the byte offset.
    throw CaseError(std::string("expected a JSON case, ") + e.what());
  }
  if (!doc.is_object()) {
    throw CaseError(std::string("expected a JSON object, found ") + TypeName(doc));
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
                          TypeName(value));
        }
        const double v = value.get<double>();
        if (!(std::fabs(v) <= std::numeric_limits<float>::max())) {
          throw CaseError("expected " + Index(t_name, i) + " to fit in float32, found " +
                          value.dump());
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
