// What the library allocates, seen through a replaced global operator new
// (this binary's own; every thread's allocations pass through it), in both
// precisions:
//  - after the first call of a size, repeated calls allocate nothing, on any
//    thread (the README's promise: scratch is reused);
//  - with a caller's workspace, not even the first call allocates;
//  - an allocation that fails reaches the caller as std::bad_alloc, never
//    std::terminate inside an OpenMP region, and the layer stays usable;
//  - a bf16 layer and its KV cache hold half the bytes of float32 ones.
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <gtest/gtest.h>

#include "helpers.h"
#include "mhsa/mhsa.h"
#include "test_data.h"

namespace {

std::atomic<long> allocations{0};
// Bytes held now (malloc_usable_size of each live block: what the process
// really keeps, padding included).
std::atomic<long long> live_bytes{0};
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
  live_bytes.fetch_add(static_cast<long long>(malloc_usable_size(p)));
  return p;
}

void Free(void* p) noexcept {
  if (p == nullptr) return;
  live_bytes.fetch_sub(static_cast<long long>(malloc_usable_size(p)));
  std::free(p);
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
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { Free(p); }

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
  for (Precision precision : {Precision::kFloat32, Precision::kBFloat16}) {
    const MultiHeadedSelfAttention layer = test::RandomLayer(40, 40, 4, 1, precision);
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
            << "B=" << s.batch << " T=" << s.context << " threads " << threads
            << (precision == Precision::kBFloat16 ? " bf16" : "");
      }
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
  const std::vector<uint16_t> h(64 * 64, 0x3F00);  // 0.5 in bf16
  const auto* hb = reinterpret_cast<const bf16*>(h.data());
  Attention(shape, hb, st, hb, st, hb, st, c.data(), st);
  EXPECT_EQ(Count([&] { Attention(shape, hb, st, hb, st, hb, st, c.data(), st); }), 0);
}

// Resident memory: a bf16 layer holds its weights (the stored copy and the
// packed one) in half the bytes of a float32 layer, and a KV cache made for
// it its k and v in half the bytes, as counted by the bytes the library
// keeps allocated after construction (E = A = 512, 8 heads: 6 MiB of
// float32 weights; 4096 positions of one sequence: 16 MiB of float32 k, v).
TEST(Memory, Bf16HalvesWeightsAndCache) {
  long long layer_bytes[2], cache_bytes[2];
  for (int bf16 : {0, 1}) {
    const long long start = live_bytes.load();
    const auto layer = std::make_unique<MultiHeadedSelfAttention>(
        512, 512, 8, bf16 ? Precision::kBFloat16 : Precision::kFloat32);
    const long long after_layer = live_bytes.load();
    const auto cache = std::make_unique<KVCache>(*layer, 1, 4096);
    layer_bytes[bf16] = after_layer - start;
    cache_bytes[bf16] = live_bytes.load() - after_layer;
  }
  // Slack: the small bookkeeping blocks, and page rounding of the big ones.
  constexpr long long kMiB = 1 << 20, kSlack = 16 << 10;
  EXPECT_GE(layer_bytes[0], 6 * kMiB);
  EXPECT_GE(cache_bytes[0], 16 * kMiB);
  EXPECT_LE(layer_bytes[1], layer_bytes[0] / 2 + kSlack) << layer_bytes[0] << " float32 bytes";
  EXPECT_LE(cache_bytes[1], cache_bytes[0] / 2 + kSlack) << cache_bytes[0] << " float32 bytes";
  EXPECT_GE(layer_bytes[1], 3 * kMiB) << "the bf16 weights are all there";
  EXPECT_GE(cache_bytes[1], 8 * kMiB);
}

TEST(Allocations, CallerWorkspaceMeansNone) {
  for (Precision precision : {Precision::kFloat32, Precision::kBFloat16}) {
    const MultiHeadedSelfAttention layer = test::RandomLayer(24, 24, 3, 3, precision);
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
