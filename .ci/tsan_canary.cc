// Proves that the ThreadSanitizer set-up of .ci/sanitizers can see: built
// and run exactly like the tsan preset's tests (clang, LLVM's libomp with
// the Archer tool, the same TSAN_OPTIONS), `race` must be reported and
// `clean` must not. Without this, a TSan run that reports nothing could also
// mean a TSan that was blind (no Archer, races suppressed, runtime missing).
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const bool race = argc > 1 && std::strcmp(argv[1], "race") == 0;
  long sum = 0;
  if (race) {
#pragma omp parallel for num_threads(2)
    for (long i = 0; i < 100000; ++i) sum += i;  // Unsynchronised: a real race.
  } else {
    // The same loop done right, plus data written before the region and
    // read after it: only Archer makes TSan see libomp's barriers here.
    static long squares[100000];
    for (long i = 0; i < 100000; ++i) squares[i] = i;
#pragma omp parallel for num_threads(2) reduction(+ : sum)
    for (long i = 0; i < 100000; ++i) {
      squares[i] *= i;
      sum += squares[i];
    }
    sum += squares[99999];
  }
  std::printf("%ld\n", sum);
  return 0;
}
