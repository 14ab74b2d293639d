// How much resident memory a stretch of code adds at its peak: the
// workspace a contender needs beyond its inputs and outputs.
#ifndef MHSA_BENCH_PEAK_MEMORY_H_
#define MHSA_BENCH_PEAK_MEMORY_H_

namespace mhsa::bench {

// Starts measuring on construction. On Linux it returns freed heap memory to
// the system (malloc_trim, so that memory an earlier benchmark left behind
// counts again when touched), notes VmRSS, and resets the high-water mark
// VmHWM by writing "5" to /proc/self/clear_refs; ExtraMiB() is then VmHWM
// minus that VmRSS. Where clear_refs cannot be written it falls back to
// getrusage's ru_maxrss, which never goes down: after a larger benchmark in
// the same process its delta reads 0, an underestimate. Method() says which.
class PeakMemory {
 public:
  PeakMemory();
  double ExtraMiB() const;
  // VmRSS now minus VmRSS at construction, after returning freed heap
  // memory to the system: what the code since then holds (0 where
  // /proc/self/status cannot be read).
  double HeldMiB() const;
  const char* Method() const;

 private:
  bool reset_works_;
  long baseline_kib_;
  long rss_kib_;
};

}  // namespace mhsa::bench

#endif  // MHSA_BENCH_PEAK_MEMORY_H_
