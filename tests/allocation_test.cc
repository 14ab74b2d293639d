// What the library allocates, seen through a replaced global operator new
// (this binary's own; every thread's allocations pass through it):
//  - after the first call of a size, repeated calls allocate nothing, on any
//    thread (the README's promise: scratch is reused);
//  - with a caller's workspace, not even the first call allocates;
//  - an allocation that fails reaches the caller as std::bad_alloc, never
//    std::terminate inside an OpenMP region, and the layer stays usable.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <gtest/gtest.h>

#include "helpers.h"
#include "mhsa/mhsa.h"
#include "test_data.h"

namespace {

std::atomic<long> allocations{0};
// Allocations of at least this many bytes fail while it is nonzero.
std::atomic<size_t> fail_from{0};

void* Allocate(size_t size, size_t alignment) {
  const size_t limit = fail_from.load();
  if (limit != 0 && size >= limit) throw std::bad_alloc();
  allocations.fetch_add(1);
  void* p = nullptr;
  if (alignment <= alignof(std::max_align_t)) {
    p = std::malloc(size == 0 ? 1 : size);
  } else if (posix_memalign(&p, alignment, size == 0 ? alignment : size) != 0) {
    p = nullptr;
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(size_t size) { return Allocate(size, 0); }
void* operator new[](size_t size) { return Allocate(size, 0); }
void* operator new(size_t size, std::align_val_t a) {
  return Allocate(size, static_cast<size_t>(a));
}
void* operator new[](size_t size, std::align_val_t a) {
  return Allocate(size, static_cast<size_t>(a));
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try {
    return Allocate(size, 0);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace mhsa {
namespace {

// Allocations made by `call` (on any thread).
template <typename Call>
long Count(const Call& call) {
  const long before = allocations.load();
  call();
  return allocations.load() - before;
}

struct Shapes {
  int batch, context;
};

// The shapes cross both attention paths (one token: decode; more: flash)
// and the message-building size of the checks ("1 x 10000 x 1000" would not
// fit a small string).
TEST(Allocations, RepeatedCallsAllocateNothing) {
  const MultiHeadedSelfAttention layer = test::RandomLayer(40, 40, 4, 1);
  for (const Shapes s : {Shapes{1, 1}, Shapes{3, 5}, Shapes{2, 300}, Shapes{1, 1000}}) {
    const auto x = test::Random(static_cast<size_t>(s.batch * s.context * 40), 2);
    std::vector<float> out(static_cast<size_t>(s.batch * s.context * 40));
    for (int threads : {1, 2}) {
      RunOptions options;
      options.num_threads = threads;
      layer.Forward(x.data(), s.batch, s.context, out.data(), options);  // May allocate.
      EXPECT_EQ(Count([&] {
                  for (int i = 0; i < 3; ++i) {
                    layer.Forward(x.data(), s.batch, s.context, out.data(), options);
                  }
                }),
                0)
          << "B=" << s.batch << " T=" << s.context << " threads " << threads;
    }
  }
  // The kernel-level entry points too.
  std::vector<float> a(64 * 64, 0.5f), c(64 * 64);
  Sgemm(false, true, 64, 64, 64, 1.0f, a.data(), 64, a.data(), 64, 0.0f, c.data(), 64);
  EXPECT_EQ(Count([&] {
              Sgemm(false, true, 64, 64, 64, 1.0f, a.data(), 64, a.data(), 64, 0.0f, c.data(), 64);
            }),
            0);
  AttentionShape shape;
  shape.num_heads = 4;
  shape.head_dim = 16;
  shape.q_len = shape.kv_len = 64;
  const Strides st = StridesBTHD(64, 4, 16);
  Attention(shape, a.data(), st, a.data(), st, a.data(), st, c.data(), st);
  EXPECT_EQ(
      Count([&] { Attention(shape, a.data(), st, a.data(), st, a.data(), st, c.data(), st); }), 0);
}

TEST(Allocations, CallerWorkspaceMeansNone) {
  const MultiHeadedSelfAttention layer = test::RandomLayer(24, 24, 3, 3);
  const auto x = test::Random(2 * 200 * 24, 4);
  std::vector<float> out(2 * 200 * 24);
  RunOptions options;
  options.num_threads = 2;
  std::vector<char> workspace(layer.WorkspaceBytes(2, 200, options));
  options.workspace = workspace.data();
  options.workspace_bytes = workspace.size();
  ReleaseScratch();
  // The first call of the OpenMP team may allocate in libgomp itself.
  layer.Forward(x.data(), 2, 1, out.data(), options);
  EXPECT_EQ(Count([&] { layer.Forward(x.data(), 2, 200, out.data(), options); }), 0);
  EXPECT_EQ(ScratchBytes(), 0u) << "the thread's own buffer stayed unused";
}

// A failed allocation inside a call is the caller's std::bad_alloc, at any
// thread count, and the layer works afterwards.
TEST(Allocations, FailureReachesTheCaller) {
  const MultiHeadedSelfAttention layer = test::RandomLayer(32, 32, 4, 5);
  const auto x = test::Random(4 * 500 * 32, 6);
  std::vector<float> want(4 * 500 * 32), got(want.size());
  layer.Forward(x.data(), 4, 500, want.data());
  for (int threads : {1, 2}) {
    ReleaseScratch();
    RunOptions options;
    options.num_threads = threads;
    fail_from = 4096;  // Any scratch buffer of this call.
    EXPECT_THROW(layer.Forward(x.data(), 4, 500, got.data(), options), std::bad_alloc);
    fail_from = 0;
    layer.Forward(x.data(), 4, 500, got.data(), options);
    EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0);
  }
}

}  // namespace
}  // namespace mhsa
