// Scratch memory for one call: a part shared by the call's tasks and one
// part per thread, carved from one buffer. The buffer is the caller's
// (RunOptions::workspace) or the calling thread's own, which only grows and
// is reused by later calls. Either way it is in hand before any parallel
// region starts, so a failed allocation reaches the caller as
// std::bad_alloc instead of terminating inside OpenMP.
#ifndef MHSA_SRC_WORKSPACE_H_
#define MHSA_SRC_WORKSPACE_H_

#include <cstddef>

#include "mhsa/attention.h"

namespace mhsa {

// Every piece starts on its own pair of cache lines: vector loads stay
// aligned and two threads never share a line.
inline constexpr size_t kScratchAlign = 128;

inline constexpr size_t AlignBytes(size_t bytes) {
  return (bytes + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
}

// Hands out aligned pieces of a region in order. With a null base it only
// counts, so that one Carve function both sizes a layout and lays it out:
//   Bump size;            Carve(size);   size.used() is the byte count
//   Bump at(base);        Carve(at);     the pieces
class Bump {
 public:
  Bump() = default;
  explicit Bump(void* base) : base_(static_cast<char*>(base)) {}

  template <typename T>
  T* Take(size_t count) {
    T* piece = base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + used_);
    used_ += AlignBytes(count * sizeof(T));
    return piece;
  }
  size_t used() const { return used_; }

 private:
  char* base_ = nullptr;
  size_t used_ = 0;
};

// What a computation needs: bytes shared by its tasks and bytes per thread.
struct ScratchNeeds {
  size_t shared = 0;
  size_t per_thread = 0;
};

// Bytes of a buffer holding `needs` for `threads` threads, including the
// slack to align a caller's pointer.
size_t WorkspaceBytesFor(const ScratchNeeds& needs, int threads);

// The buffer of one call, laid out as [shared][thread 0][thread 1]...
class CallScratch {
 public:
  // Throws std::invalid_argument when the caller's workspace is smaller than
  // WorkspaceBytesFor(needs, threads), std::bad_alloc when the thread's own
  // buffer cannot grow.
  CallScratch(const RunOptions& options, const ScratchNeeds& needs, int threads);

  void* shared() const { return base_; }
  // The same buffer with the first `bytes` (a multiple of kScratchAlign) of
  // the shared part taken: for a computation that runs inside another.
  CallScratch AfterShared(size_t bytes) const {
    CallScratch rest = *this;
    rest.base_ = base_ + bytes;
    rest.shared_ = shared_ - bytes;
    return rest;
  }
  void* thread(int t) const { return base_ + shared_ + static_cast<size_t>(t) * per_thread_; }

 private:
  char* base_;
  size_t shared_, per_thread_;
};

}  // namespace mhsa

#endif  // MHSA_SRC_WORKSPACE_H_
