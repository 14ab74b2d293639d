#include "mhsa/mhsa.h"

namespace mhsa {

// Until the SIMD kernels land, every call is served by the scalar reference.
const char* ActiveTarget() { return "reference"; }

}  // namespace mhsa
