// An uninitialised array, allocated before the ranks agree (agree.h), so
// that a failed allocation is an agreed error rather than one rank's
// exception while the others wait. Not zeroed: every call writes what it
// reads, and untouched pages cost no memory.
#ifndef MHSA_SRC_MPI_BUFFER_H_
#define MHSA_SRC_MPI_BUFFER_H_

#include <cstddef>
#include <memory>

namespace mhsa {
namespace mpi {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t count) : data_(count > 0 ? new T[count] : nullptr), size_(count) {}

  T* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

 private:
  std::unique_ptr<T[]> data_;
  size_t size_ = 0;
};

}  // namespace mpi
}  // namespace mhsa

#endif  // MHSA_SRC_MPI_BUFFER_H_
