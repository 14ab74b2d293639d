// libFuzzer harness for the public API: sizes of every kind (zero, negative,
// huge, overflowing), null and overlapping pointers, random or hostile
// weights and inputs, every SIMD target, one or two OpenMP threads, and the
// same sequence fed again through a KVCache in pieces split where the input
// says (a prefill, steps, chunks).
//
// The harness predicts, on its own and in 128-bit arithmetic, whether the
// library must refuse a call. Refused calls must throw std::invalid_argument
// (and, since they get tiny buffers, must not touch memory first); accepted
// calls must not throw. The harness only lets through calls whose memory
// (the library's and its own checks') stays under kMemoryBudget and whose work
// stays under kWorkBudget: keeping allocations bounded is the harness's job,
// not the library's, which is entitled to allocate what a valid call needs.
//
// Results of calls with well-behaved numbers are checked against the exact
// (float64) result with a first-order worst-case float32 error bound that
// holds for any summation order, FMA or not (see Bound below), so that the
// check never fires on a correct kernel however unlucky the input, and does
// fire on a wrong index, a lost mask, a stale buffer or garbage. Hostile
// numbers (NaN, Inf, huge, subnormal) are checked for memory safety, UB and
// exceptions only: their results are not defined beyond the reference's own.
#include <fuzzer/FuzzedDataProvider.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mhsa/mhsa.h"
#include "reference.h"

namespace {

using u128 = unsigned __int128;

constexpr uint64_t kMemoryBudget = 64ull << 20;  // Bytes.
constexpr uint64_t kWorkBudget = 10'000'000;     // Multiply-adds, fast and exact.
// The largest float count the library accepts: bytes must fit in ptrdiff_t.
constexpr u128 kMaxFloats = static_cast<u128>(PTRDIFF_MAX) / sizeof(float);

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_forward: %s\n", what.c_str());
  std::abort();
}

// Sizes from every region that matters: small (with 0 and negatives), around
// the kernels' blocks (48 queries, 96 rows, 256 keys), anything at all,
// powers of two +-1 (the overflow boundaries), and INT_MAX.
int PickSize(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 4)) {
    case 0:
      return in.ConsumeIntegralInRange<int>(-2, 40);
    case 1:
      return in.ConsumeIntegralInRange<int>(41, 1100);
    case 2:
      return in.ConsumeIntegral<int>();
    case 3:
      return (1 << in.ConsumeIntegralInRange<int>(0, 30)) + in.ConsumeIntegralInRange<int>(-1, 1);
    default:
      return INT_MAX - in.ConsumeIntegralInRange<int>(0, 3);
  }
}

// Floats for weights and inputs. Well-behaved: multiples of 2^-12 in
// [-scale, scale]. Hostile: mostly well-behaved, salted with specials.
float PickFloat(FuzzedDataProvider& in, bool hostile, float scale) {
  if (hostile && in.ConsumeIntegralInRange<int>(0, 7) == 0) {
    static const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(),
                                     std::numeric_limits<float>::infinity(),
                                     -std::numeric_limits<float>::infinity(),
                                     std::numeric_limits<float>::max(),
                                     -std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::denorm_min(),
                                     -1e-40f,
                                     0.0f,
                                     -0.0f,
                                     1e30f,
                                     -1e20f,
                                     std::numeric_limits<float>::min()};
    return kSpecial[in.ConsumeIntegralInRange<size_t>(0, std::size(kSpecial) - 1)];
  }
  const int k = in.ConsumeIntegralInRange<int>(-4096, 4096);
  return scale * static_cast<float>(k) / 4096.0f;
}

template <typename Call>
void ExpectRefused(Call call, const char* what) {
  try {
    call();
  } catch (const std::invalid_argument&) {
    return;
  }
  Fail(std::string("accepted a call it must refuse: ") + what);
}

// 2^-24 and the classic gamma_n = n u / (1 - n u): a sum of n products in
// float32, in any order and with or without FMA, is within gamma_n times the
// sum of the products' magnitudes of the exact sum.
constexpr double kU = 1.0 / (1 << 24);
double Gamma(double n) { return n * kU / (1 - n * kU); }

// For one (batch element, head): the exact output (float64, the project's
// reference kernels) and a first-order bound on the error of any float32
// evaluation of it.
//   q, k, v = x Wᵀ:            |dq| <= g_E |x||W|ᵀ                  (per entry)
//   s_ij = q_i.k_j / sqrt(D):  |ds| <= (2 g_E + g_D + 4u) (|x||Wq|ᵀ).(|x||Wk|ᵀ) / sqrt(D)
//                                        + 2u |s_ij - max_j s_ij|    (max subtraction, exp's
//                                        argument)
//   p = softmax(s):            |dp_j| <= p_j (|ds_j| + max ds + g_T + 8u + 4u x key blocks)
//                                        (exp <= 2u, the sum g_T, division, and a rescaling
//                                        per block of 64 keys or chunk of 512: the online
//                                        softmax of the flash and decode paths)
//   out_i = sum_j p_ij v_j:    |dout| <= sum_j p_j (g_E |x_j||Wv|ᵀ + |v_j| (|dp_j| / p_j)) + g_T
//   sum_j p_j |v_j|
// Second-order terms are left out, so the bound is only trusted when every
// |ds| is below 0.05; the check uses twice it.
struct HeadCheck {
  std::vector<double> exact, bound;  // [context][head_dim]
  bool trusted = true;
};

HeadCheck Bound(const float* x, size_t context, size_t e, const float* w, size_t d) {
  const auto to_double = [](const float* p, size_t n, bool magnitude) {
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = magnitude ? std::fabs(p[i]) : p[i];
    return out;
  };
  const auto xd = to_double(x, context * e, false), xa = to_double(x, context * e, true);
  std::vector<double> proj[3], mag[3];
  for (int p = 0; p < 3; ++p) {
    const auto wd = to_double(w + static_cast<size_t>(p) * d * e, d * e, false);
    const auto wa = to_double(w + static_cast<size_t>(p) * d * e, d * e, true);
    proj[p].resize(context * d);
    mag[p].resize(context * d);
    mhsa::ref::MatMulBt(xd.data(), e, wd.data(), e, proj[p].data(), d, context, d, e);
    mhsa::ref::MatMulBt(xa.data(), e, wa.data(), e, mag[p].data(), d, context, d, e);
  }
  const double root = std::sqrt(static_cast<double>(d));
  std::vector<double> s(context * context), g(context * context);
  mhsa::ref::MatMulBt(proj[0].data(), d, proj[1].data(), d, s.data(), context, context, context, d);
  mhsa::ref::MatMulBt(mag[0].data(), d, mag[1].data(), d, g.data(), context, context, context, d);
  std::vector<double> p = s;
  mhsa::ref::CausalSoftmax(p.data(), context, context, context, 0, root);

  const double ge = Gamma(static_cast<double>(e)), gd = Gamma(static_cast<double>(d));
  const double gt = Gamma(static_cast<double>(context));
  const double blocks = static_cast<double>((context + 63) / 64 + (context + 511) / 512);
  HeadCheck check;
  check.exact.assign(context * d, 0.0);
  check.bound.assign(context * d, 0.0);
  std::vector<double> ds(context);
  for (size_t i = 0; i < context; ++i) {
    double top = -INFINITY;
    for (size_t j = 0; j <= i; ++j) top = std::max(top, s[i * context + j] / root);
    double ds_max = 0;
    for (size_t j = 0; j <= i; ++j) {
      ds[j] = (2 * ge + gd + 4 * kU) * g[i * context + j] / root +
              2 * kU * std::fabs(s[i * context + j] / root - top);
      // Keys with no weight at all do not count towards the normalisation.
      if (p[i * context + j] > 0) ds_max = std::max(ds_max, ds[j]);
    }
    if (ds_max > 0.05) check.trusted = false;
    for (size_t c = 0; c < d; ++c) {
      double out = 0, err = 0, spread = 0;
      for (size_t j = 0; j <= i; ++j) {
        const double pj = p[i * context + j], vj = proj[2][j * d + c];
        out += pj * vj;
        const double rel = ds[j] + ds_max + gt + (8 + 4 * blocks) * kU;
        err += pj * (ge * mag[2][j * d + c] + std::fabs(vj) * rel);
        spread += pj * std::fabs(vj);
      }
      check.exact[i * d + c] = out;
      check.bound[i * d + c] = err + gt * spread;
    }
  }
  return check;
}

void Run(FuzzedDataProvider& in) {
  const int e = PickSize(in), a = PickSize(in), h = PickSize(in);
  const bool layer_valid = e > 0 && a > 0 && h > 0 && a % h == 0 &&
                           3 * static_cast<u128>(a) * static_cast<u128>(e) <= kMaxFloats;
  if (!layer_valid) {
    ExpectRefused([&] { mhsa::MultiHeadedSelfAttention layer(e, a, h); }, "constructor");
    return;
  }
  const auto ue = static_cast<uint64_t>(e), ua = static_cast<uint64_t>(a);
  // The weights, their packed copy (rows rounded up to a 32-float panel),
  // and the per-head copies the harness makes.
  if ((3 * ua + 32) * ue * 4 * 3 > kMemoryBudget) return;
  mhsa::MultiHeadedSelfAttention layer(e, a, h);
  const int d = a / h;
  const bool hostile = in.ConsumeBool();
  // Each SetHeadWeights repacks the panels holding that head's rows
  // (src/layer.cc): up to 3 x (head_dim + 2 x 31) rows of E, since panels
  // are 32 rows wide. Setting every head is bounded like the work below.
  const bool affordable = static_cast<u128>(h) * 3 * ua * ue <= kWorkBudget;
  if (in.ConsumeBool() && affordable) {  // Otherwise the problem's initial weights.
    const size_t n = static_cast<size_t>(d) * ue;
    std::vector<float> w(3 * n);
    const float scale = 1.0f / std::sqrt(static_cast<float>(e));  // As torch initialises.
    for (int head = 0; head < h; ++head) {
      for (float& v : w) v = PickFloat(in, hostile, scale);
      layer.SetHeadWeights(head, w.data(), w.data() + n, w.data() + 2 * n);
    }
  }

  const int batch = PickSize(in), context = PickSize(in);
  const bool call_valid =
      batch > 0 && context > 0 &&
      static_cast<u128>(batch) * static_cast<u128>(context) * ue <= kMaxFloats &&
      static_cast<u128>(batch) * static_cast<u128>(context) * ua <= kMaxFloats;
  if (!call_valid) {
    std::vector<float> x(4), out(4);
    ExpectRefused([&] { layer.Forward(x.data(), batch, context, out.data()); }, "Forward sizes");
    return;
  }
  const auto b = static_cast<uint64_t>(batch), t = static_cast<uint64_t>(context);
  const auto ud = static_cast<uint64_t>(d), uh = static_cast<uint64_t>(h);
  // The library: x, out and qkv (3 x out), per-thread packed blocks; the
  // harness: double copies of one head and three context x context matrices.
  // The KVCache adds 2 x out.
  const u128 bytes = 4 * static_cast<u128>(b) * t * (ue + 6 * ua) +
                     2 * 4 * (t + 64) * (ud + 32) * 3 +
                     8 * static_cast<u128>(t) * (2 * ue + 6 * ud + 3 * t);
  const u128 work =
      static_cast<u128>(b) * t * ue * 3 * ua * 3 + static_cast<u128>(b) * uh * t * t * ud * 5;
  if (bytes > kMemoryBudget || work > kWorkBudget) return;

  const size_t in_count = b * t * ue, out_count = b * t * ua;
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: {
      std::vector<float> out(out_count);
      ExpectRefused([&] { layer.Forward(nullptr, batch, context, out.data()); }, "null embedded");
      return;
    }
    case 1: {
      std::vector<float> x(in_count);
      ExpectRefused([&] { layer.Forward(x.data(), batch, context, nullptr); }, "null out");
      return;
    }
    case 2: {  // out starts inside embedded (or embedded inside out).
      std::vector<float> both(in_count + out_count);
      const size_t shift = in.ConsumeIntegralInRange<size_t>(0, std::min(in_count, out_count) - 1);
      if (in.ConsumeBool()) {
        ExpectRefused([&] { layer.Forward(both.data(), batch, context, both.data() + shift); },
                      "out overlapping embedded");
      } else {
        ExpectRefused([&] { layer.Forward(both.data() + shift, batch, context, both.data()); },
                      "embedded overlapping out");
      }
      return;
    }
    default:
      break;
  }

  const auto targets = mhsa::AvailableTargets();
  mhsa::SetTarget(targets[in.ConsumeIntegralInRange<size_t>(0, targets.size() - 1)]);
  omp_set_num_threads(in.ConsumeIntegralInRange<int>(1, 2));
  // Exact-size buffers, so that ASan sees any access past either end.
  std::vector<float> x(in_count);
  for (float& v : x) v = PickFloat(in, hostile, 1.0f);
  std::vector<float> out(out_count, std::numeric_limits<float>::quiet_NaN());
  try {
    layer.Forward(x.data(), batch, context, out.data());
  } catch (const std::exception& ex) {
    Fail(std::string("refused a valid call: ") + ex.what());
  }
  // The same sequence through a KVCache, in pieces whose lengths the input
  // chooses; the outputs are checked like the whole call's.
  std::vector<float> pieces_out;
  if (in.ConsumeBool()) {
    mhsa::KVCache cache(layer, batch, context);
    pieces_out.assign(out_count, std::numeric_limits<float>::quiet_NaN());
    for (uint64_t done = 0; done < t;) {
      const auto n = in.ConsumeIntegralInRange<uint64_t>(1, t - done);
      std::vector<float> x_piece(b * n * ue), out_piece(b * n * ua);
      for (uint64_t bi = 0; bi < b; ++bi) {
        std::copy_n(&x[(bi * t + done) * ue], n * ue, &x_piece[bi * n * ue]);
      }
      try {
        layer.Forward(x_piece.data(), batch, static_cast<int>(n), out_piece.data(), cache);
      } catch (const std::exception& ex) {
        Fail(std::string("refused a valid cached call: ") + ex.what());
      }
      for (uint64_t bi = 0; bi < b; ++bi) {
        std::copy_n(&out_piece[bi * n * ua], n * ua, &pieces_out[(bi * t + done) * ua]);
      }
      done += n;
    }
  }
  if (hostile) return;

  std::vector<float> w(3 * ud * ue);
  const std::vector<float>* results[] = {&out, &pieces_out};
  for (uint64_t head = 0; head < uh; ++head) {
    const size_t n = ud * ue;
    layer.GetHeadWeights(static_cast<int>(head), w.data(), w.data() + n, w.data() + 2 * n);
    for (uint64_t bi = 0; bi < b; ++bi) {
      const HeadCheck check = Bound(x.data() + bi * t * ue, t, ue, w.data(), ud);
      for (const std::vector<float>* result : results) {
        if (result->empty()) continue;
        const char* how = result == &out ? "whole" : "in pieces";
        for (uint64_t i = 0; i < t; ++i) {
          for (uint64_t c = 0; c < ud; ++c) {
            const float got = (*result)[(bi * t + i) * ua + head * ud + c];
            const double want = check.exact[i * ud + c];
            // Every output is written and finite when inputs are well-behaved.
            if (!std::isfinite(got)) Fail(std::string("non-finite output, ") + how);
            const double allowed = 2 * check.bound[i * ud + c];
            if (check.trusted && !(std::fabs(got - want) <= allowed)) {
              char message[256];
              std::snprintf(message, sizeof message,
                            "%s: target %s B=%d T=%d E=%d A=%d H=%d: out[%llu][%llu][%llu] = "
                            "%.9g, exact %.9g, allowed error %.3g",
                            how, mhsa::ActiveTarget(), batch, context, e, a, h,
                            static_cast<unsigned long long>(bi), static_cast<unsigned long long>(i),
                            static_cast<unsigned long long>(head * ud + c),
                            static_cast<double>(got), want, allowed);
              Fail(message);
            }
          }
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  Run(in);
  return 0;
}
