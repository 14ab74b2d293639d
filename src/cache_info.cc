#include "cache_info.h"

#include <algorithm>
#include <fstream>
#include <string>

#include "blocking.h"

namespace mhsa {
namespace {

// "48K", "2048K", "1M" as bytes; 0 when unreadable.
size_t ParseSize(const std::string& text) {
  size_t value = 0, i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + static_cast<size_t>(text[i] - '0');
    ++i;
  }
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) value <<= 10;
  if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) value <<= 20;
  return value;
}

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

CacheSizes Read() {
  CacheSizes sizes{0, 0};
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    const std::string level = ReadLine(dir + "/level"), type = ReadLine(dir + "/type");
    const size_t size = ParseSize(ReadLine(dir + "/size"));
    if (level == "1" && type == "Data") sizes.l1d = size;
    if (level == "2" && (type == "Unified" || type == "Data")) sizes.l2 = size;
  }
  if (sizes.l1d == 0) sizes.l1d = size_t{32} << 10;
  if (sizes.l2 == 0) sizes.l2 = size_t{1} << 20;
  return sizes;
}

}  // namespace

const CacheSizes& Caches() {
  static const CacheSizes sizes = Read();
  return sizes;
}

size_t GemmKBlock() {
  static const size_t k_block = [] {
    const size_t steps = Caches().l2 / 4 / (kMC * sizeof(float));
    return std::min(kKC, std::max<size_t>(64, steps / 64 * 64));
  }();
  return k_block;
}

size_t InPlaceKBlock() {
  static const size_t k_block = [] {
    constexpr size_t kTileRows = 12;  // The tallest register tile (AVX-512).
    const size_t steps = Caches().l1d * 3 / 4 / (kTileRows * sizeof(float));
    return std::min(kInPlaceKC, std::max<size_t>(64, steps / 64 * 64));
  }();
  return k_block;
}

}  // namespace mhsa
