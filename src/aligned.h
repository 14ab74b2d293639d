// A float buffer aligned for the widest vector, as Highway's aligned loads
// and the packed panels want.
#ifndef MHSA_SRC_ALIGNED_H_
#define MHSA_SRC_ALIGNED_H_

#include <cstddef>
#include <new>
#include <vector>

namespace mhsa {

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{128};  // Two cache lines.
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, kAlignment); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const noexcept {
    return false;
  }
};

using AlignedFloats = std::vector<float, AlignedAllocator<float>>;

// Scratch buffers kept per thread and reused across calls, so that after the
// first call of a given size Forward allocates nothing (and pays no page
// faults on fresh memory). Each slot is owned by one use; a buffer only
// grows, and lives until its thread exits. Contents are left from earlier
// use: callers write before they read.
enum ScratchSlot {
  kScratchQkv,
  kScratchQPack,
  kScratchKPack,
  kScratchVPack,
  kScratchScores,
  kScratchAcc,
  kScratchSlots
};

inline float* ThreadScratch(ScratchSlot slot, size_t floats) {
  thread_local AlignedFloats buffers[kScratchSlots];
  AlignedFloats& buffer = buffers[slot];
  if (buffer.size() < floats) {
    buffer = AlignedFloats();  // Free first: old and new never coexist.
    buffer.resize(floats);
  }
  return buffer.data();
}

}  // namespace mhsa

#endif  // MHSA_SRC_ALIGNED_H_
