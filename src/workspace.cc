#include "workspace.h"

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

namespace mhsa {
namespace {

// The calling thread's own buffer: only grows, reused by later calls.
struct ThreadBuffer {
  char* data = nullptr;
  size_t bytes = 0;

  ThreadBuffer() = default;
  ThreadBuffer(const ThreadBuffer&) = delete;
  ThreadBuffer& operator=(const ThreadBuffer&) = delete;
  ~ThreadBuffer() { Release(); }

  void Release() noexcept {
    ::operator delete (data, std::align_val_t{kScratchAlign});
    data = nullptr;
    bytes = 0;
  }
  char* Grow(size_t need) {
    if (need > bytes) {
      Release();  // Old and new never coexist: the peak stays at `need`.
      data = static_cast<char*>(::operator new (need, std::align_val_t{kScratchAlign}));
      bytes = need;
    }
    return data;
  }
};

ThreadBuffer& OwnBuffer() {
  thread_local ThreadBuffer buffer;
  return buffer;
}

}  // namespace

size_t WorkspaceBytesFor(const ScratchNeeds& needs, int threads) {
  return kScratchAlign - 1 + AlignBytes(needs.shared) +
         static_cast<size_t>(threads) * AlignBytes(needs.per_thread);
}

CallScratch::CallScratch(const RunOptions& options, const ScratchNeeds& needs, int threads)
    : shared_(AlignBytes(needs.shared)), per_thread_(AlignBytes(needs.per_thread)) {
  const size_t need = WorkspaceBytesFor(needs, threads);
  if (options.workspace == nullptr) {
    // The thread's buffer is aligned already; the slack goes unused.
    base_ = OwnBuffer().Grow(need - (kScratchAlign - 1));
    return;
  }
  if (options.workspace_bytes < need) {
    throw std::invalid_argument("mhsa: expected a workspace of at least " + std::to_string(need) +
                                " bytes for this call, got " +
                                std::to_string(options.workspace_bytes));
  }
  const auto address = reinterpret_cast<uintptr_t>(options.workspace);
  base_ = static_cast<char*>(options.workspace) +
          ((kScratchAlign - address % kScratchAlign) % kScratchAlign);
}

void ReleaseScratch() noexcept { OwnBuffer().Release(); }

size_t ScratchBytes() noexcept { return OwnBuffer().bytes; }

}  // namespace mhsa
