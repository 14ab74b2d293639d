// Per-target instantiation of the GEMM, its OpenMP driver and the public
// Sgemm.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "gemm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "gemm-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mhsa {
namespace HWY_NAMESPACE {

// Rows [0, m) of C, m <= kMC: one task of the driver.
void GemmTask(MatrixView a, size_t m, const float* bp, size_t n, size_t k, float alpha, float beta,
              float* c, size_t ldc, size_t k_block, float* a_pack, const ColumnGroups& columns,
              size_t first_col) {
  GemmRowBlock(a, m, bp, n, k, alpha, beta, c, ldc, k_block, a_pack, columns, first_col);
}

void PackBTarget(MatrixView b, size_t n, size_t k, float* dst) {
  PackPanels<kPanel>(b.data, b.row_stride, b.step, n, k, 1.0f, dst);
}

int64_t GemmTargetId() { return HWY_TARGET; }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace mhsa
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "cache_info.h"
#include "checks.h"
#include "dispatch.h"
#include "gemm.h"
#include "gemm_tasks.h"
#include "mhsa/attention.h"
#include "parallel.h"

namespace mhsa {

// The packed layout is the same for every target (kPanel wide); any
// target's packer writes it, so the chosen one does.
HWY_EXPORT(PackBTarget);
HWY_EXPORT(GemmTask);
HWY_EXPORT(GemmTargetId);

int64_t GemmCompiledTarget() { return MHSA_DISPATCH(GemmTargetId)(); }

PackedB::PackedB(size_t n_in, size_t k_in) : n(n_in), k(k_in), data(RoundUp(n_in, kPanel) * k_in) {}

void PackB(MatrixView b, size_t n, size_t k, float* dst) {
  MHSA_DISPATCH(PackBTarget)(b, n, k, dst);
}

void RepackRows(const float* rows, size_t ldb, size_t first, size_t count, PackedB* packed) {
  PackB({rows, static_cast<ptrdiff_t>(ldb), 1}, count, packed->k,
        packed->data.data() + first * packed->k);
}

PackedB PackRows(const float* b, size_t ldb, size_t n, size_t k) {
  PackedB packed(n, k);
  RepackRows(b, ldb, 0, n, &packed);
  return packed;
}

ScratchNeeds GemmNeeds() { return {0, kMC * kKC * sizeof(float)}; }

namespace {

// C = beta * C over [m][n], for the products that read neither A nor B.
void ScaleC(float* c, size_t ldc, size_t m, size_t n, float beta,
            const ColumnGroups& columns = ColumnGroups()) {
  for (size_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    for (size_t j = 0; j < n; ++j) {
      float& x = row[columns.Offset(j)];
      x = beta == 0.0f ? 0.0f : x * beta;  // beta 0 never reads: C may hold NaN.
    }
  }
}

// The threads a product of this size runs on.
int GemmThreads(size_t m, size_t n, size_t k, int threads) {
  return ThreadsForWork(static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k),
                        threads);
}

// Bytes of B packed whole.
size_t PackedBBytes(size_t n, size_t k) { return RoundUp(n, kPanel) * k * sizeof(float); }

// The GEMM's tasks on the calling team, each task's B taken from
// b_for(thread), the packed B as the thread that runs the task sees it.
// m, n > 0; k > 0 and alpha != 0.
template <class BFor>
void RunGemm(MatrixView a, size_t m, size_t n, size_t k, float alpha, float beta, float* c,
             size_t ldc, int threads, const CallScratch& scratch, const BFor& b_for,
             const ColumnGroups& columns = ColumnGroups()) {
  threads = GemmThreads(m, n, k, threads);
  const auto gemm_task = &MHSA_DISPATCH(GemmTask);  // Once per call.
  // A packed B larger than half of L2 is taken in parts (GemmTasks):
  // 4096x2304x768 and 2048x1536x512 6-8% faster on 2 threads (256-column
  // parts against none). Parts of kPartColumns when each serves several row
  // blocks; with one row block a part serves one task, and the wider parts
  // of kInPlaceColumns make half as many tasks (the T=1 layer's 1 x 1536 x
  // 512 projection: 12 tasks of 128 columns 1.02-1.03x slower than 6 of
  // 256, Zen 5, 2 threads). Both read A in place: the same k-blocks, bits.
  const size_t part_cols = m > kMC ? kPartColumns : kInPlaceColumns;
  const size_t max_cols = PackedBBytes(n, k) > Caches().l2 / 2 ? part_cols : 0;
  // When every task reads A in place (no task is wider than max_cols, or
  // n), no packed A block bounds the k-blocks, and k is taken in as few
  // blocks of at most InPlaceKBlock() as it needs; else in blocks of
  // GemmKBlock(). Decided for the product, not per task (the tasks' widths
  // depend on the thread count), so that each element of C is summed in
  // blocks that the shape alone fixes.
  const bool in_place = ReadsAInPlace(a, max_cols > 0 ? max_cols : n, alpha);
  const size_t k_blocks = (k + InPlaceKBlock() - 1) / InPlaceKBlock();
  const size_t k_block = in_place ? (k + k_blocks - 1) / k_blocks : GemmKBlock();
  const GemmTasks tasks(m, n, kPanel, threads, kGemmRowQuantum, max_cols, kPartChunkBlocks);
  ParallelFor(threads, tasks.count(), [&](size_t t, int thread) {
    const size_t row = tasks.row(t), col = tasks.col(t), cols = tasks.cols(t);
    if (cols == 0) return;
    const MatrixView a_rows{a.data + static_cast<ptrdiff_t>(row) * a.row_stride, a.row_stride,
                            a.step};
    gemm_task(a_rows, tasks.rows(t), b_for(thread) + col * k, cols, k, alpha, beta,
              c + row * ldc + columns.Offset(col), ldc, k_block,
              static_cast<float*>(scratch.thread(thread)), columns, col);
  });
}

}  // namespace

void GemmWithPackedB(MatrixView a, size_t m, const float* bp, size_t n, size_t k, float alpha,
                     float beta, float* c, size_t ldc, int threads, const CallScratch& scratch,
                     const ColumnGroups& columns) {
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) {
    ScaleC(c, ldc, m, n, beta, columns);
    return;
  }
  RunGemm(
      a, m, n, k, alpha, beta, c, ldc, threads, scratch, [bp](int) { return bp; }, columns);
}

void GemmPacked(const float* a, size_t lda, const PackedB& b, float* c, size_t ldc, size_t m,
                const RunOptions& options) {
  const int threads = ThreadsForCall(options);
  const CallScratch scratch(options, GemmNeeds(), threads);
  GemmWithPackedB({a, static_cast<ptrdiff_t>(lda), 1}, m, b.data.data(), b.n, b.k, 1.0f, 0.0f, c,
                  ldc, threads, scratch);
}

namespace {

struct SgemmCall {
  MatrixView a, b;
  size_t m, n, k;
};

// Checks the public arguments; the views of op(A) and op(B) as [m][k] and
// [n][k] (B is packed from its rows of op(B)ᵀ).
SgemmCall CheckSgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                     int lda, const float* b, int ldb, float beta, const float* c, int ldc) {
  CheckNonNegative("m", m);
  CheckNonNegative("n", n);
  CheckNonNegative("k", k);
  // Stored shapes: A [m][k] or [k][m], B [k][n] or [n][k], C [m][n].
  const int a_cols = trans_a ? m : k, a_rows = trans_a ? k : m;
  const int b_cols = trans_b ? k : n, b_rows = trans_b ? n : k;
  CheckLeadingDimension("lda", lda, a_cols);
  CheckLeadingDimension("ldb", ldb, b_cols);
  CheckLeadingDimension("ldc", ldc, n);
  const bool reads_ab = m > 0 && n > 0 && k > 0 && alpha != 0.0f;
  const size_t a_count = CheckedMatrixCount("A", a_rows, a_cols, lda);
  const size_t b_count = CheckedMatrixCount("B", b_rows, b_cols, ldb);
  const size_t c_count = CheckedMatrixCount("C", m, n, ldc);
  if (m > 0 && n > 0) CheckNotNull("c", c);
  if (reads_ab) {
    CheckNotNull("a", a);
    CheckNotNull("b", b);
    CheckDisjoint("C", c, c_count, "A", a, a_count);
    CheckDisjoint("C", c, c_count, "B", b, b_count);
  }
  (void)beta;
  SgemmCall call;
  call.m = static_cast<size_t>(m);
  call.n = static_cast<size_t>(n);
  call.k = static_cast<size_t>(k);
  call.a = trans_a ? MatrixView{a, 1, lda} : MatrixView{a, lda, 1};
  call.b = trans_b ? MatrixView{b, ldb, 1} : MatrixView{b, 1, ldb};
  return call;
}

// Whether each thread of the product packs all of B into its own scratch
// before its first task, instead of the threads packing one shared copy
// together: when B stays whole in each thread's L2 (no column parts, see
// RunGemm) and every task reads all of it (one column part). A shared copy
// is read by every core from the caches of the cores that wrote it, which
// this VM makes slow in some hours (multi-chiplet and multi-socket CPUs
// always). gemm_bench, interleaved against the shared packing (Zen 5, 2
// threads): q·kᵀ 1024x1024x64 and p·v 1024x64x1024 1.06-1.07x faster in
// such an hour, within 1% in the others. Packing B takes one thread 1-4% of
// such a product.
bool PacksBPerThread(size_t m, size_t n, size_t k, int threads) {
  const int team = GemmThreads(m, n, k, threads);
  return team > 1 && PackedBBytes(n, k) <= Caches().l2 / 2 &&
         GemmTasks(m, n, kPanel, team, kGemmRowQuantum).col_parts == 1;
}

// A thread's own B (PacksBPerThread) and whether it is packed yet.
struct OwnB {
  float* b;
  unsigned char* ready;
};

// Lays out the per-thread part of such a product at base (null: counts
// only): the GEMM's A block, then B, then the flag. Returns its bytes.
size_t CarveOwnB(void* base, size_t n, size_t k, OwnB* own) {
  Bump at(base);
  at.Take<char>(GemmNeeds().per_thread);
  float* b = at.Take<float>(RoundUp(n, kPanel) * k);
  unsigned char* ready = at.Take<unsigned char>(1);
  if (own != nullptr) *own = {b, ready};
  return at.used();
}

ScratchNeeds SgemmNeeds(size_t m, size_t n, size_t k, int threads) {
  ScratchNeeds needs = GemmNeeds();
  if (PacksBPerThread(m, n, k, threads)) {
    needs.per_thread = CarveOwnB(nullptr, n, k, nullptr);
  } else {
    needs.shared = PackedBBytes(n, k);  // B, packed once per call.
  }
  return needs;
}

// The product of a Sgemm call whose threads each pack B (PacksBPerThread):
// a thread packs it into its own scratch before its first task.
void SgemmWithOwnB(const SgemmCall& call, float alpha, float beta, float* c, size_t ldc,
                   int threads, const CallScratch& scratch) {
  for (int t = 0; t < threads; ++t) {
    OwnB own{};
    CarveOwnB(scratch.thread(t), call.n, call.k, &own);
    *own.ready = 0;
  }
  RunGemm(call.a, call.m, call.n, call.k, alpha, beta, c, ldc, threads, scratch, [&](int thread) {
    OwnB own{};
    CarveOwnB(scratch.thread(thread), call.n, call.k, &own);
    if (*own.ready == 0) {
      PackB(call.b, call.n, call.k, own.b);
      *own.ready = 1;
    }
    return static_cast<const float*>(own.b);
  });
}

}  // namespace

size_t SgemmWorkspaceBytes(int m, int n, int k, const RunOptions& options) {
  CheckNonNegative("m", m);
  CheckNonNegative("n", n);
  CheckNonNegative("k", k);
  const int threads = ThreadsForCall(options);
  return WorkspaceBytesFor(
      SgemmNeeds(static_cast<size_t>(m), static_cast<size_t>(n), static_cast<size_t>(k), threads),
      threads);
}

void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc, const RunOptions& options) {
  const SgemmCall call = CheckSgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (call.m == 0 || call.n == 0) return;
  const int threads = ThreadsForCall(options);
  if (call.k == 0 || alpha == 0.0f) {
    ScaleC(c, static_cast<size_t>(ldc), call.m, call.n, beta);
    return;
  }
  const CallScratch scratch(options, SgemmNeeds(call.m, call.n, call.k, threads), threads);
  if (PacksBPerThread(call.m, call.n, call.k, threads)) {
    SgemmWithOwnB(call, alpha, beta, c, static_cast<size_t>(ldc), threads, scratch);
    return;
  }
  auto* bp = static_cast<float*>(scratch.shared());
  // B is packed once by the threads together, then the product runs. Tasks
  // are groups of panels, or with fewer panels than two per thread (a thin
  // B such as v in p·v: two panels) ranges of k within one panel, whose
  // steps are contiguous in the packed layout. (The panel count is written
  // so that the static analyzer sees it cannot wrap to 0.)
  constexpr size_t kPanelsPerTask = 8;
  const size_t panels = call.n / kPanel + (call.n % kPanel != 0 ? 1 : 0);
  const int pack_threads =
      static_cast<double>(call.n) * static_cast<double>(call.k) < kMinParallelWork / 4 ? 1
                                                                                       : threads;
  const size_t wanted = 2 * static_cast<size_t>(pack_threads);
  const size_t k_parts =
      panels >= wanted ? 1 : std::min((wanted + panels - 1) / panels, (call.k + 63) / 64);
  const size_t panels_per_task = k_parts == 1 ? kPanelsPerTask : 1;
  const size_t steps_per_part = (call.k + k_parts - 1) / k_parts;
  const size_t pack_tasks = (panels + panels_per_task - 1) / panels_per_task * k_parts;
  ParallelFor(pack_threads, pack_tasks, [&](size_t t, int) {
    const size_t first = t / k_parts * panels_per_task * kPanel;
    const size_t count = std::min(panels_per_task * kPanel, call.n - first);
    const size_t k0 = t % k_parts * steps_per_part;
    if (k0 >= call.k) return;
    const MatrixView rows{call.b.data + static_cast<ptrdiff_t>(first) * call.b.row_stride +
                              static_cast<ptrdiff_t>(k0) * call.b.step,
                          call.b.row_stride, call.b.step};
    PackB(rows, count, std::min(steps_per_part, call.k - k0), bp + first * call.k + k0 * kPanel);
  });
  GemmWithPackedB(call.a, call.m, bp, call.n, call.k, alpha, beta, c, static_cast<size_t>(ldc),
                  threads, scratch);
}

void Sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  Sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, RunOptions());
}

}  // namespace mhsa
#endif  // HWY_ONCE
