// Access to the golden data under tests/data: figures computed by running the
// problem's own PyTorch code, copied here from shared/.
#ifndef MHSA_TESTS_TEST_DATA_H_
#define MHSA_TESTS_TEST_DATA_H_

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace mhsa {
namespace test {

inline nlohmann::json LoadJson(const std::string& name) {
  const std::string path = std::string(MHSA_TEST_DATA_DIR) + "/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

// A nested JSON array of numbers, flattened in row-major order.
inline void Flatten(const nlohmann::json& value, std::vector<float>* out) {
  if (value.is_array()) {
    for (const auto& item : value) Flatten(item, out);
  } else {
    out->push_back(value.get<float>());
  }
}

inline std::vector<float> Flat(const nlohmann::json& value) {
  std::vector<float> out;
  Flatten(value, &out);
  return out;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_TEST_DATA_H_
