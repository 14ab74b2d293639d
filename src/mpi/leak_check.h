// Under AddressSanitizer, the leak check of a program that uses MPI runs
// just before MPI_Finalize instead of at exit: Open MPI's teardown leaves
// its own allocations behind in components it then unloads, which
// LeakSanitizer can neither symbolise nor suppress by library. Everything
// this program allocated is checked; only what MPI_Finalize leaves is not.
// Elsewhere it does nothing.
#ifndef MHSA_SRC_MPI_LEAK_CHECK_H_
#define MHSA_SRC_MPI_LEAK_CHECK_H_

#if defined(__SANITIZE_ADDRESS__)
#define MHSA_LEAK_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MHSA_LEAK_CHECK 1
#endif
#endif

#ifdef MHSA_LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

namespace mhsa {

inline void CheckLeaksBeforeMpiFinalize() {
#ifdef MHSA_LEAK_CHECK
  __lsan_do_leak_check();  // Exits with the leak report's code when it finds one.
#endif
}

}  // namespace mhsa

#endif  // MHSA_SRC_MPI_LEAK_CHECK_H_
