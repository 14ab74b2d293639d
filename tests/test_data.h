// Access to the golden data under tests/data: figures computed by running the
// problem's own PyTorch code, copied here from shared/.
#ifndef MHSA_TESTS_TEST_DATA_H_
#define MHSA_TESTS_TEST_DATA_H_

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
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

// n floats drawn uniformly from [lo, hi) by mt19937 seeded with `seed`:
// reproducible test inputs.
inline std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

inline std::vector<float> Flat(const nlohmann::json& value) {
  std::vector<float> out;
  Flatten(value, &out);
  return out;
}

}  // namespace test
}  // namespace mhsa

#endif  // MHSA_TESTS_TEST_DATA_H_
