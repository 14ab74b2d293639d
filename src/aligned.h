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

}  // namespace mhsa

#endif  // MHSA_SRC_ALIGNED_H_
