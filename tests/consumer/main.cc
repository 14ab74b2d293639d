// Links the installed static library and runs the problem's first example.
#include <cstdio>
#include <cstring>
#include <vector>

#include <mhsa/mhsa.h>

// The installed header's version is the one the installed package reports
// (CMakeLists.txt passes mhsa_VERSION*): a mismatch fails the build.
static_assert(MHSA_VERSION_MAJOR == MHSA_PACKAGE_VERSION_MAJOR, "header and package disagree");
static_assert(MHSA_VERSION_MINOR == MHSA_PACKAGE_VERSION_MINOR, "header and package disagree");
static_assert(MHSA_VERSION_PATCH == MHSA_PACKAGE_VERSION_PATCH, "header and package disagree");

int main() {
  if (std::strcmp(MHSA_VERSION_STRING, MHSA_PACKAGE_VERSION) != 0) {
    std::printf("MHSA_VERSION_STRING %s, package version %s\n", MHSA_VERSION_STRING,
                MHSA_PACKAGE_VERSION);
    return 1;
  }
  mhsa::MultiHeadedSelfAttention layer(/*embedding_dim=*/2, /*attention_dim=*/4,
                                       /*num_heads=*/2);
  const std::vector<float> x = {0.9089f, 5.2716f, 1.1371f, -0.3625f};  // [1][2][2]
  std::vector<float> out(8);                                           // [1][2][4]
  layer.Forward(x.data(), /*batch=*/1, /*context=*/2, out.data());
  mhsa::RoundToDecimals(out.data(), out.size(), 4);
  for (float v : out) std::printf("%.4f ", static_cast<double>(v));
  std::printf("\n");
  // The problem's own output for this input.
  return out[0] == 0.9293f && out[7] == -0.5344f ? 0 : 1;
}
